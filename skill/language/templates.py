"""Sentence templates: hassil YAML from intents/<lang>/, checked, merged and filled from config."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hassil import (
    Expression,
    Intents,
    ListReference,
    RuleReference,
    TextChunk,
    parse_sentence,
)

from skill.base.errors import DataFileError
from skill.base.text import normalize
from skill.language.template_file import (
    CAUTION_RULE,
    NAMES_LIST,
    NO_CAUTION_WORDS_LIST,
    NO_SAFEWORDS_LIST,
    PLAYLIST_LIST,
    ROUTINE_ALIAS_LIST,
    ROUTINES_LIST,
    SAFEWORD_RULE,
    check_document,
    read_yaml,
    walk,
)

PARTS_FOLDER = "parts"
"""Under intents/<language>/: the parts of requests said in clauses (not intents)."""
DEFAULT_ROUTINES = ("short", "long", "quiet")
"""The shipped routines' names (skill/routines/routines.yaml), for callers without a config."""


@dataclass(frozen=True)
class Templates:
    """The merged sentence templates of one language, with the config's words filled in."""

    language: str
    """Language code, e.g. "en"."""

    document: Mapping[str, Any]
    """The merged hassil YAML document: language, skip_words, expansion_rules, lists, intents."""

    intents: Intents
    """The same document parsed by hassil."""

    files: tuple[Path, ...]
    """The YAML files the templates were read from, in load order."""

    playlists: tuple[str, ...] = ()
    """The configured playlist names, as the playlist slot returns them."""

    names: tuple[str, ...] = ()
    """The configured names people may ask to be called, as the name slots return them."""

    safewords: tuple[str, ...] = ()
    """The configured safewords, normalized as they are matched."""

    caution_words: tuple[str, ...] = ()
    """The configured caution words, normalized as they are matched."""

    routines: tuple[str, ...] = ()
    """The routine names people can ask for, as the routine slot returns them."""

    parts: Intents | None = None
    """The parts of a request said in clauses (intents/<language>/parts/), with the same
    rules and lists; read only by the built-in recognizer (skill.language.clauses)."""

    def utterance(self, text: str) -> str:
        """text normalized, without the hesitation words listed under skip_words."""
        return _drop_words(normalize(text), self.document["skip_words"])


def load_templates(
    intents_dir: Path,
    *,
    language: str = "en",
    playlists: Sequence[str] = (),
    safewords: Sequence[str] = ("red",),
    names: Sequence[str] = (),
    caution_words: Sequence[str] = ("yellow",),
    routines: Sequence[str] = DEFAULT_ROUTINES,
) -> Templates:
    """Read every intents_dir/<language>/*.yaml; fill in the config's words.

    playlists, names and routines become the reserved lists {playlist}, {names} and
    {routines}; safewords and caution_words the reserved rules <safeword> and
    <caution_word>, which match nothing when empty.
    """
    folder = Path(intents_dir) / language
    files = tuple(sorted(folder.glob("*.yaml")))
    if not files:
        raise DataFileError(str(folder), "", "no *.yaml template files found")

    merged: dict[str, Any] = {
        "language": language,
        "skip_words": [],
        "expansion_rules": {},
        "lists": {},
        "intents": {},
    }
    origin: dict[str, Path] = {}
    templates: list[tuple[Path, str, Expression]] = []
    for path in files:
        document = read_yaml(path)
        templates.extend(check_document(path, document, language))
        _merge(path, document, merged, origin)
    parts: dict[str, Any] = {}
    for path in sorted((folder / PARTS_FOLDER).glob("*.yaml")):
        document = read_yaml(path)
        templates.extend(check_document(path, document, language))
        extra = sorted(set(document) - {"language", "intents"})
        if extra:
            raise DataFileError(str(path), extra[0], "a parts file holds only language and intents")
        for name, body in document.get("intents", {}).items():
            parts.setdefault(name, {"data": []})["data"].extend(body["data"])

    skip_words = merged["skip_words"]
    playlist_values = _playlist_values(playlists, skip_words)
    merged["lists"][PLAYLIST_LIST] = {"values": playlist_values}
    name_values = _playlist_values(names, skip_words, what="name")
    merged["lists"][NAMES_LIST] = {"values": name_values}
    routine_values = _playlist_values(routines, skip_words, what="routine")
    merged["lists"][ROUTINES_LIST] = {"values": routine_values}
    _shadow(merged["lists"], ROUTINE_ALIAS_LIST, {value["in"] for value in routine_values})
    spoken_safewords = _spoken_words(safewords, skip_words)
    _fill_rule(merged, SAFEWORD_RULE, NO_SAFEWORDS_LIST, spoken_safewords)
    spoken_caution = _spoken_words(caution_words, skip_words, what="caution word")
    _fill_rule(merged, CAUTION_RULE, NO_CAUTION_WORDS_LIST, spoken_caution)
    _check_references(templates, merged)
    # Skip words are dropped from the input before matching (Templates.utterance),
    # which spares hassil from matching every utterance twice.
    return Templates(
        language=language,
        document=merged,
        intents=Intents.from_dict({**merged, "skip_words": []}),
        files=files,
        playlists=tuple(value["out"] for value in playlist_values),
        safewords=spoken_safewords,
        names=tuple(value["out"] for value in name_values),
        caution_words=spoken_caution,
        routines=tuple(value["out"] for value in routine_values),
        parts=Intents.from_dict({**merged, "skip_words": [], "intents": parts}) if parts else None,
    )


# --- loading and checking ----------------------------------------------------


def _merge(
    path: Path, document: Mapping[str, Any], merged: dict[str, Any], origin: dict[str, Path]
) -> None:
    """Merge one checked file into the combined document; rules and lists must be unique."""
    merged["skip_words"].extend(document.get("skip_words", []))
    for section in ("expansion_rules", "lists"):
        for name, body in document.get(section, {}).items():
            key = f"{section}.{name}"
            if key in origin:
                raise DataFileError(str(path), key, f"already defined in {origin[key]}")
            origin[key] = path
            merged[section][name] = body
    for name, body in document.get("intents", {}).items():
        merged["intents"].setdefault(name, {"data": []})["data"].extend(body["data"])


def _check_references(
    templates: list[tuple[Path, str, Expression]], merged: Mapping[str, Any]
) -> None:
    """Every <rule> and {list} must exist, and rules must not refer to themselves."""
    rules: Mapping[str, str] = merged["expansion_rules"]
    lists: Mapping[str, Any] = merged["lists"]
    skip_words = merged["skip_words"]
    for path, key, expression in templates:
        for item in walk(expression):
            text = " ".join(item.text.split()) if isinstance(item, TextChunk) else ""
            if text and _drop_words(text, skip_words) != text:
                raise DataFileError(
                    str(path),
                    key,
                    f"{text!r} uses one of the skip_words ({', '.join(skip_words)}), "
                    "which are dropped from the input before matching",
                )
            if isinstance(item, RuleReference) and item.rule_name not in rules:
                raise DataFileError(
                    str(path),
                    key,
                    f"unknown rule <{item.rule_name}>; defined: {', '.join(sorted(rules))}",
                )
            if isinstance(item, ListReference) and item.list_name not in lists:
                raise DataFileError(
                    str(path),
                    key,
                    f"unknown list {{{item.list_name}}}; defined: {', '.join(sorted(lists))}",
                )
    parsed = {key: expression for _path, key, expression in templates}
    graph = {
        name: {
            item.rule_name
            for item in walk(
                parsed.get(f"expansion_rules.{name}") or parse_sentence(body).expression
            )
            if isinstance(item, RuleReference)
        }
        for name, body in rules.items()
    }
    for name in graph:
        if name in _reachable(graph, name):
            raise DataFileError(
                str(_find_rule_file(templates, name)),
                f"expansion_rules.{name}",
                "refers to itself through other rules",
            )


def _reachable(graph: Mapping[str, set[str]], start: str) -> set[str]:
    """Rule names reachable from start in one or more steps."""
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def _find_rule_file(templates: list[tuple[Path, str, Expression]], name: str) -> Path | str:
    """The file that defines expansion rule name, for error messages."""
    for path, key, _expression in templates:
        if key == f"expansion_rules.{name}":
            return path
    return "<config>"


def _playlist_values(
    playlists: Sequence[str], skip_words: Sequence[str], *, what: str = "playlist"
) -> list[dict[str, str]]:
    """List values for configured playlists, names or routines: spoken normalized, out as given."""
    values: list[dict[str, str]] = []
    seen: dict[str, str] = {}
    for name in playlists:
        spoken = _drop_words(normalize(name), skip_words)
        if not spoken:
            raise ValueError(f"{what} {name!r} has no words to speak; give it one with letters")
        if spoken in seen:
            raise ValueError(f"{what}s {seen[spoken]!r} and {name!r} sound the same; rename one")
        seen[spoken] = name
        values.append({"in": spoken, "out": name.strip()})
    return values


def _spoken_words(
    words: Sequence[str], skip_words: Sequence[str], *, what: str = "safeword"
) -> tuple[str, ...]:
    """Safewords (or caution words) normalized as input is, without duplicates."""
    spoken: list[str] = []
    for word in words:
        normalized = _drop_words(normalize(word), skip_words)
        if not normalized:
            raise ValueError(f"{what} {word!r} has no words to speak; choose a spoken word")
        if normalized not in spoken:
            spoken.append(normalized)
    return tuple(spoken)


def _fill_rule(merged: dict[str, Any], rule: str, empty_list: str, words: Sequence[str]) -> None:
    """Set a reserved rule to the spoken words, or to an empty list that never matches.

    With no words the templates using the rule stay valid but inert.
    """
    if words:
        merged["expansion_rules"][rule] = "(" + "|".join(words) + ")"
    else:
        merged["lists"][empty_list] = {"values": []}
        merged["expansion_rules"][rule] = f"{{{empty_list}}}"


def _shadow(lists: dict[str, Any], name: str, spoken: Collection[str]) -> None:
    """Drop the values of list name said like one of spoken: a routine's own name wins."""
    body = lists.get(name)
    if not spoken or not isinstance(body, Mapping) or "values" not in body:
        return
    kept = [
        value
        for value in body["values"]
        if normalize(value if isinstance(value, str) else value["in"]) not in spoken
    ]
    lists[name] = {"values": kept}


def _drop_words(text: str, words: Collection[str]) -> str:
    """Normalized text without the given whole words or phrases."""
    if not words:
        return text
    choices = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return " ".join(re.sub(rf"(?<!\S)(?:{choices})(?!\S)", " ", text).split())
