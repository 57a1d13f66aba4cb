"""Everything the voice says: load responses/<language>.yaml and pick a line to speak."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from skill.base.errors import AftercareError, DataFileError
from skill.base.reader import Reader
from skill.language import spoken

_KEY_RE = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")
_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*")
_FORMATTER = string.Formatter()


class MissingResponseError(AftercareError):
    """The code asked for a response key that the loaded file does not have."""

    code = "missing_response"

    def __init__(self, path: str, key: str) -> None:
        self.path = path
        self.key = key
        super().__init__(f"{path}: no response {key!r}; add it with at least one variant")


class ResponseValuesError(AftercareError):
    """``pick`` was not given a value for every placeholder the response uses."""

    code = "response_values"

    def __init__(self, path: str, key: str, needed: frozenset[str], given: Iterable[str]) -> None:
        self.path = path
        self.key = key
        wanted = ", ".join(sorted(needed))
        got = ", ".join(sorted(given)) or "none"
        super().__init__(f"{path}: {key}: pick needs values for: {wanted}; got: {got}")


@dataclass(frozen=True)
class Response:
    """One response key and its interchangeable lines."""

    key: str
    """Dotted key, e.g. ``routine.water``."""

    variants: tuple[str, ...]
    """The lines, as written in the file, placeholders still in braces."""

    placeholders: frozenset[str]
    """Placeholder names every variant uses, e.g. ``{"minutes"}``; empty for plain lines."""


class ResponseBook:
    """The lines of one language, picked at random without saying the same line twice in a row."""

    def __init__(
        self,
        path: str,
        responses: Mapping[str, Response],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.path = path
        """The file the lines came from, named in every error."""
        self._responses = dict(responses)
        self._rng = rng if rng is not None else random.Random()
        self._last: dict[str, int] = {}

    @classmethod
    def load(cls, path: Path, *, rng: random.Random | None = None) -> ResponseBook:
        """Read and check a responses YAML file; DataFileError names the file and the key."""
        reader = Reader(str(path), DataFileError)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise reader.problem("", "file not found") from None
        except (OSError, UnicodeDecodeError) as err:
            raise reader.problem("", f"cannot read the file: {err}") from err
        try:
            # A SafeLoader subclass: builds only plain data, and also refuses duplicate keys.
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506
        except _DuplicateKeyError as err:
            raise reader.problem(
                err.key, f"written twice (again on line {err.line}); keep one"
            ) from None
        except yaml.YAMLError as err:
            raise reader.problem("", f"not valid YAML: {_yaml_problem(err)}") from err
        return cls.from_data(data, source=reader.path, rng=rng)

    @classmethod
    def from_data(
        cls, data: object, *, source: str = "<memory>", rng: random.Random | None = None
    ) -> ResponseBook:
        """Check already-parsed YAML data (a mapping of key to variant list) and build a book."""
        reader = Reader(source, DataFileError)
        if data is None:
            raise reader.problem("", "the file is empty; expected key: [variants] pairs")
        if not isinstance(data, dict):
            raise reader.problem(
                "",
                f"expected a mapping of response keys to lists of variants, got {_kind(data)}",
            )
        responses: dict[str, Response] = {}
        for key, value in data.items():
            response = _parse_response(reader, key, value)
            responses[response.key] = response
        return cls(source, responses, rng=rng)

    def keys(self) -> frozenset[str]:
        """Every key the file defines."""
        return frozenset(self._responses)

    def variants(self, key: str) -> tuple[str, ...]:
        """The lines of a key as written; MissingResponseError if the key is absent."""
        return self._response(key).variants

    def pick(self, key: str, **values: object) -> str:
        """A random line of a key, never the previous pick of that key, placeholders filled in."""
        response = self._response(key)
        if not response.placeholders <= values.keys():
            raise ResponseValuesError(self.path, key, response.placeholders, values)
        count = len(response.variants)
        last = self._last.get(key)
        if count == 1:
            index = 0
        elif last is None:
            index = self._rng.randrange(count)
        else:
            # Choose among the others uniformly: skip over the previous index.
            index = self._rng.randrange(count - 1)
            if index >= last:
                index += 1
        self._last[key] = index
        return response.variants[index].format(**{n: _spoken(v) for n, v in values.items()})

    def missing(self, required: Iterable[str]) -> list[str]:
        """The required keys this file lacks, sorted; empty when all are present."""
        return sorted(set(required) - self._responses.keys())

    def all_texts(self) -> tuple[str, ...]:
        """Every distinct line without placeholders, in file order, as it will be spoken."""
        texts: dict[str, None] = {}
        for response in self._responses.values():
            if not response.placeholders:
                for variant in response.variants:
                    texts[variant.format()] = None
        return tuple(texts)

    def _response(self, key: str) -> Response:
        """The response of a key, or MissingResponseError."""
        try:
            return self._responses[key]
        except KeyError:
            raise MissingResponseError(self.path, key) from None


def _spoken(value: object) -> object:
    """Whole numbers become words ("5 more minutes" is never read as a digit)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return spoken.number(value)
    return value


def response_path(responses_dir: Path, language: str) -> Path:
    """The file ``responses_dir/<language>.yaml``; DataFileError if it does not exist."""
    path = responses_dir / f"{language}.yaml"
    available = ", ".join(sorted(p.stem for p in responses_dir.glob("*.yaml"))) or "none"
    if not _LANGUAGE_RE.fullmatch(language):
        raise DataFileError(
            str(responses_dir),
            "language",
            f"{language!r} is not a language code like 'en' or 'en-GB'; available: {available}",
        )
    if not path.is_file():
        raise DataFileError(
            str(path), "language", f"no responses for {language!r}; available: {available}"
        )
    return path


def _parse_response(reader: Reader, key: object, value: object) -> Response:
    """Check one ``key: [variants]`` entry of a responses file."""
    if not isinstance(key, str):
        raise reader.problem(repr(key), f"a key must be a string, got {_kind(key)}")
    if not _KEY_RE.fullmatch(key):
        raise reader.problem(key, "a key must be dotted lowercase words, e.g. routine.water")
    if value is None or value == []:
        raise reader.problem(key, "has no variants; give a list of at least one line")
    if not isinstance(value, list):
        raise reader.problem(
            key,
            f"expected a list of variants (lines starting with '- '), got {_kind(value)}",
        )
    variants: list[str] = []
    placeholders: frozenset[str] | None = None
    for number, variant in enumerate(value, start=1):
        if not isinstance(variant, str):
            raise reader.problem(
                key,
                f"variant {number} is {_kind(variant)}, expected a string (put it in quotes)",
            )
        if not variant.strip():
            raise reader.problem(key, f"variant {number} is empty")
        if variant in variants:
            raise reader.problem(
                key, f"variant {number} repeats variant {variants.index(variant) + 1}"
            )
        names = _placeholders(reader, key, number, variant)
        if placeholders is None:
            placeholders = names
        elif names != placeholders:
            raise reader.problem(
                key,
                f"variant {number} uses {_braced(names)} but variant 1 uses "
                f"{_braced(placeholders)}; every variant of a key needs the same placeholders",
            )
        variants.append(variant)
    return Response(key, tuple(variants), placeholders or frozenset())


def _placeholders(reader: Reader, key: str, number: int, variant: str) -> frozenset[str]:
    """The placeholder names in one variant; only plain ``{name}`` is allowed."""
    syntax = "only plain placeholders like {minutes} are allowed; write {{ or }} for a brace"
    try:
        parsed = list(_FORMATTER.parse(variant))
    except ValueError as err:
        raise reader.problem(key, f"variant {number}: {err}; {syntax}") from None
    names: set[str] = set()
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raw = "{" + field + (f"!{conversion}" if conversion else "")
            raw += (f":{spec}" if spec else "") + "}"
            raise reader.problem(
                key, f"variant {number}: unknown placeholder syntax {raw}; {syntax}"
            )
        names.add(field)
    return frozenset(names)


def _braced(names: frozenset[str]) -> str:
    """Placeholder names as written in a file, for error messages."""
    return ", ".join("{" + name + "}" for name in sorted(names)) or "no placeholders"


def _kind(value: object) -> str:
    """A short description of a YAML value's type, for error messages."""
    kinds = {
        bool: "true/false",
        str: "a string",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "a mapping",
    }
    if value is None:
        return "nothing (null)"
    return kinds.get(type(value), f"a {type(value).__name__}")


def _yaml_problem(err: yaml.YAMLError) -> str:
    """A one-line description of a YAML syntax error with its line and column."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        mark = err.problem_mark
        return f"{err.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(err).replace("\n", " ")


class _DuplicateKeyError(yaml.YAMLError):
    """A mapping key appears twice; PyYAML would otherwise silently keep the last one."""

    def __init__(self, key: str, line: int) -> None:
        self.key = key
        self.line = line
        super().__init__(f"duplicate key {key!r} on line {line}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a mapping key written twice."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """Build a mapping like SafeLoader does, but raise on a repeated scalar key."""
    seen: set[tuple[str, str]] = set()
    for key_node, _value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            identity = (key_node.tag, str(key_node.value))
            if identity in seen:
                raise _DuplicateKeyError(str(key_node.value), key_node.start_mark.line + 1)
            seen.add(identity)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


@dataclass(frozen=True)
class Say:
    """Speak a line from responses/."""

    key: str
    """Response key."""
    values: tuple[tuple[str, object], ...] = ()
    """Placeholder values."""
