"""Sentence templates: hassil YAML from intents/<lang>/, checked, merged and filled from config."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hassil import (
    Expression,
    Group,
    Intents,
    ListReference,
    RuleReference,
    TextChunk,
    parse_sentence,
)

from skill.base.errors import DataFileError
from skill.base.text import normalize

PLAYLIST_LIST = "playlist"
"""Reserved list name, filled from the configured playlists at load time."""

NAMES_LIST = "names"
"""Reserved list name, filled from the configured names at load time."""

ROUTINES_LIST = "routines"
"""Reserved list name, filled from the routine names (shipped and configured) at load time."""

ROUTINE_ALIAS_LIST = "routine_alias"
"""Template list of other words for routines ("quick" -> short); a routine's own name wins."""

SAFEWORD_RULE = "safeword"
"""Reserved expansion rule name, filled from the configured safewords at load time."""

CAUTION_RULE = "caution_word"
"""Reserved expansion rule name, filled from the configured caution words at load time."""

DEFAULT_ROUTINES = ("short", "long", "quiet")
"""The shipped routines' names (skill/routines/routines.yaml), for callers without a config."""

_NO_SAFEWORDS_LIST = "no_safewords"
_NO_CAUTION_WORDS_LIST = "no_caution_words"
_RESERVED_RULES = {SAFEWORD_RULE: "safewords", CAUTION_RULE: "caution words"}
_RESERVED_LISTS = (
    PLAYLIST_LIST,
    NAMES_LIST,
    ROUTINES_LIST,
    _NO_SAFEWORDS_LIST,
    _NO_CAUTION_WORDS_LIST,
)
_TOP_KEYS = ("expansion_rules", "intents", "language", "lists", "skip_words")
_LIST_KEYS = ("range", "values")
_RANGE_KEYS = ("from", "step", "to")


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
        document = _read_yaml(path)
        templates.extend(_check_document(path, document, language))
        _merge(path, document, merged, origin)

    skip_words = merged["skip_words"]
    playlist_values = _playlist_values(playlists, skip_words)
    merged["lists"][PLAYLIST_LIST] = {"values": playlist_values}
    name_values = _playlist_values(names, skip_words, what="name")
    merged["lists"][NAMES_LIST] = {"values": name_values}
    routine_values = _playlist_values(routines, skip_words, what="routine")
    merged["lists"][ROUTINES_LIST] = {"values": routine_values}
    _shadow(merged["lists"], ROUTINE_ALIAS_LIST, {value["in"] for value in routine_values})
    spoken_safewords = _spoken_words(safewords, skip_words)
    _fill_rule(merged, SAFEWORD_RULE, _NO_SAFEWORDS_LIST, spoken_safewords)
    spoken_caution = _spoken_words(caution_words, skip_words, what="caution word")
    _fill_rule(merged, CAUTION_RULE, _NO_CAUTION_WORDS_LIST, spoken_caution)
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
    )


# --- loading and checking ----------------------------------------------------


def _read_yaml(path: Path) -> Mapping[str, Any]:
    """Parse one template file into a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
        # libyaml's safe loader when PyYAML has it: reading the templates is most of the
        # start-up time.
        if yaml.__with_libyaml__:
            document = yaml.load(text, Loader=yaml.CSafeLoader)
        else:
            document = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as err:
        raise DataFileError(str(path), "", f"cannot read: {err}") from err
    except yaml.YAMLError as err:
        raise DataFileError(str(path), "", f"not valid YAML: {err}") from err
    if not isinstance(document, Mapping):
        raise DataFileError(str(path), "", f"expected a mapping with keys {', '.join(_TOP_KEYS)}")
    return document


def _check_document(
    path: Path, document: Mapping[str, Any], language: str
) -> Iterator[tuple[Path, str, Expression]]:
    """Check one file's structure; yield (file, key, parsed template) for every template."""
    where = str(path)
    for key in document:
        if key not in _TOP_KEYS:
            raise DataFileError(where, str(key), f"unknown key; allowed: {', '.join(_TOP_KEYS)}")
    if document.get("language") != language:
        raise DataFileError(
            where, "language", f"expected {language!r}, got {document.get('language')!r}"
        )

    skip_words = document.get("skip_words", [])
    if not _is_str_list(skip_words):
        raise DataFileError(where, "skip_words", "expected a list of words")
    for index, word in enumerate(skip_words):
        if not word or normalize(word) != word:
            raise DataFileError(
                where,
                f"skip_words[{index}]",
                f"{word!r} is not normalized; write {normalize(word)!r}",
            )

    rules = _mapping(where, "expansion_rules", document.get("expansion_rules", {}))
    for name, body in rules.items():
        key = f"expansion_rules.{name}"
        if name in _RESERVED_RULES:
            raise DataFileError(
                where, key, f"reserved: filled from the configured {_RESERVED_RULES[name]}"
            )
        if not isinstance(body, str):
            raise DataFileError(where, key, "expected a template string")
        yield path, key, _parse(where, key, body)

    lists = _mapping(where, "lists", document.get("lists", {}))
    for name, body in lists.items():
        yield from _check_list(path, f"lists.{name}", name, body)

    intents = _mapping(where, "intents", document.get("intents", {}))
    for name, body in intents.items():
        yield from _check_intent(path, f"intents.{name}", body)


def _check_intent(path: Path, key: str, body: Any) -> Iterator[tuple[Path, str, Expression]]:
    """Check intents.<name>: {data: [{sentences: [...]}, ...]}."""
    where = str(path)
    if not isinstance(body, Mapping) or set(body) != {"data"}:
        raise DataFileError(where, key, "expected a mapping with the single key 'data'")
    data = body["data"]
    if not isinstance(data, list) or not data:
        raise DataFileError(where, f"{key}.data", "expected a non-empty list of blocks")
    for index, block in enumerate(data):
        block_key = f"{key}.data[{index}]"
        if not isinstance(block, Mapping) or set(block) != {"sentences"}:
            raise DataFileError(
                where, block_key, "expected a mapping with the single key 'sentences'"
            )
        sentences = block["sentences"]
        if not _is_str_list(sentences) or not sentences:
            raise DataFileError(
                where, f"{block_key}.sentences", "expected a non-empty list of templates"
            )
        for number, sentence in enumerate(sentences):
            sentence_key = f"{block_key}.sentences[{number}]"
            yield path, sentence_key, _parse(where, sentence_key, sentence)


def _check_list(
    path: Path, key: str, name: str, body: Any
) -> Iterator[tuple[Path, str, Expression]]:
    """Check lists.<name>: either {values: [...]} or {range: {from, to, step}}."""
    where = str(path)
    if name in _RESERVED_LISTS:
        raise DataFileError(where, key, "reserved: filled from the config at load time")
    if not isinstance(body, Mapping) or len(body) != 1 or next(iter(body)) not in _LIST_KEYS:
        raise DataFileError(where, key, f"expected a mapping with one of: {', '.join(_LIST_KEYS)}")
    if "range" in body:
        _check_range(where, f"{key}.range", body["range"])
        return
    values = body["values"]
    if not isinstance(values, list) or not values:
        raise DataFileError(where, f"{key}.values", "expected a non-empty list")
    for index, value in enumerate(values):
        value_key = f"{key}.values[{index}]"
        if isinstance(value, str):
            spoken = value
        elif (
            isinstance(value, Mapping)
            and set(value) == {"in", "out"}
            and isinstance(value["in"], str)
            and isinstance(value["out"], str | int)
            and not isinstance(value["out"], bool)
        ):
            spoken = value["in"]
        else:
            raise DataFileError(
                where, value_key, "expected a string or {in: <words>, out: <text or integer>}"
            )
        yield path, value_key, _parse(where, value_key, spoken)


def _check_range(where: str, key: str, body: Any) -> None:
    """Check a number range {from: int, to: int, step: int}."""
    if not isinstance(body, Mapping) or not {"from", "to"} <= set(body) <= set(_RANGE_KEYS):
        raise DataFileError(where, key, f"expected a mapping with keys {', '.join(_RANGE_KEYS)}")
    numbers = {name: body.get(name, 1) for name in _RANGE_KEYS}
    for name, number in numbers.items():
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise DataFileError(where, f"{key}.{name}", f"expected a whole number, got {number!r}")
    if numbers["from"] > numbers["to"] or numbers["step"] < 1:
        raise DataFileError(where, key, "expected from <= to and step >= 1")


def _parse(where: str, key: str, template: str) -> Expression:
    """Parse a template with hassil and check that its words are already normalized."""
    try:
        expression = parse_sentence(template).expression
    except Exception as err:  # hassil raises ParseError, AssertionError or IndexError
        raise DataFileError(where, key, f"cannot parse template {template!r}: {err!r}") from err
    for chunk in _walk(expression):
        if isinstance(chunk, TextChunk) and chunk.text.split() != normalize(chunk.text).split():
            raise DataFileError(
                where,
                key,
                f"{chunk.text.strip()!r} in {template!r} is not normalized; write it as "
                f"{normalize(chunk.text)!r} (lowercase, no punctuation except apostrophes)",
            )
    return expression


def _walk(expression: Expression) -> Iterator[Expression]:
    """Every expression inside expression, itself included (rules are not followed)."""
    yield expression
    if isinstance(expression, Group):
        for item in expression.items:
            yield from _walk(item)


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
        for item in _walk(expression):
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
            for item in _walk(
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


def _mapping(where: str, key: str, value: Any) -> Mapping[str, Any]:
    """value as a mapping with string keys, or a DataFileError."""
    if not isinstance(value, Mapping) or not all(isinstance(name, str) for name in value):
        raise DataFileError(where, key, "expected a mapping of names")
    return value


def _is_str_list(value: Any) -> bool:
    """True if value is a list of strings."""
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
