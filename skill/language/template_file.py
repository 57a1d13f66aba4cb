"""One file of intents/: read, and checked against the template grammar, key by key."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from hassil import (
    Expression,
    Group,
    TextChunk,
    parse_sentence,
)

from skill.base.errors import DataFileError
from skill.base.text import normalize

_TOP_KEYS = ("expansion_rules", "intents", "language", "lists", "skip_words")
_LIST_KEYS = ("range", "values")
_RANGE_KEYS = ("from", "step", "to")


def read_yaml(path: Path) -> Mapping[str, Any]:
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


def check_document(
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
    for chunk in walk(expression):
        if isinstance(chunk, TextChunk) and chunk.text.split() != normalize(chunk.text).split():
            raise DataFileError(
                where,
                key,
                f"{chunk.text.strip()!r} in {template!r} is not normalized; write it as "
                f"{normalize(chunk.text)!r} (lowercase, no punctuation except apostrophes)",
            )
    return expression


def walk(expression: Expression) -> Iterator[Expression]:
    """Every expression inside expression, itself included (rules are not followed)."""
    yield expression
    if isinstance(expression, Group):
        for item in expression.items:
            yield from walk(item)


def _mapping(where: str, key: str, value: Any) -> Mapping[str, Any]:
    """value as a mapping with string keys, or a DataFileError."""
    if not isinstance(value, Mapping) or not all(isinstance(name, str) for name in value):
        raise DataFileError(where, key, "expected a mapping of names")
    return value


def _is_str_list(value: Any) -> bool:
    """True if value is a list of strings."""
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


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
NO_SAFEWORDS_LIST = "no_safewords"
NO_CAUTION_WORDS_LIST = "no_caution_words"
_RESERVED_RULES = {SAFEWORD_RULE: "safewords", CAUTION_RULE: "caution words"}
_RESERVED_LISTS = (
    PLAYLIST_LIST,
    NAMES_LIST,
    ROUTINES_LIST,
    NO_SAFEWORDS_LIST,
    NO_CAUTION_WORDS_LIST,
)
