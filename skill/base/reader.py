"""Reading raw YAML into typed values, with errors that name the file, key and allowed values.

The one schema reader of the skill: config.yaml, the breathing patterns, the routines and
the responses are all read through it, so every mistake reads the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

from skill.base.errors import ConfigError, LocatedError


class Reader:
    """Walks raw YAML and raises an error naming the file and the dotted key.

    `error` is ConfigError for config.yaml (the default) and DataFileError for the files
    that ship with the skill.
    """

    def __init__(self, path: str, error: type[LocatedError] = ConfigError) -> None:
        self.path = path
        self.error = error

    def problem(self, key: str, problem: str) -> LocatedError:
        """The error for `key` in this file (to raise)."""
        return self.error(self.path, key, problem)

    def fail(self, key: str, problem: str) -> NoReturn:
        raise self.problem(key, problem)

    def mapping(self, value: object, key: str, allowed: Sequence[str]) -> Mapping[str, Any]:
        """`value` itself as a mapping whose keys are all in `allowed`."""
        if not isinstance(value, Mapping):
            self.fail(key, f"expected a mapping with keys {', '.join(allowed)}, got {show(value)}")
        self.known(value, key, allowed)
        return cast(Mapping[str, Any], value)

    def number_value(self, value: object, key: str, low: float, high: float) -> float:
        """`value` itself as a finite number from `low` to `high`."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.fail(key, f"expected a number from {num(low)} to {num(high)}, got {show(value)}")
        if not low <= value <= high:
            self.fail(key, f"expected a number from {num(low)} to {num(high)}, got {num(value)}")
        return float(value)

    def flag(self, raw: Mapping[str, Any], key: str, default: bool) -> bool:
        """`true` or `false` (the last part of `key` names it in `raw`)."""
        value = raw.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {show(value)}")
        return value

    def line(self, raw: Mapping[str, Any], key: str, default: str) -> str:
        """One line of text, stripped."""
        value = raw.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, str) or not value.strip() or "\n" in value.strip():
            self.fail(key, f"expected one line of text, got {show(value)}")
        return value.strip()

    def section(self, raw: Mapping[str, Any], key: str, allowed: Sequence[str]) -> dict[str, Any]:
        value = raw.get(key.rsplit(".", 1)[-1])
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(key, f"expected a mapping with keys {', '.join(allowed)}, got {show(value)}")
        self.known(value, key, allowed)
        return dict(value)

    def known(self, raw: Mapping[str, Any], prefix: str, allowed: Sequence[str]) -> None:
        for name in raw:
            if name not in allowed:
                where = f"{prefix}.{name}" if prefix else str(name)
                self.fail(where, f"unknown key; allowed keys: {', '.join(allowed)}")

    def string(self, raw: Mapping[str, Any], key: str, default: str) -> str:
        value = raw.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty text, got {show(value)}")
        return value

    def optional_string(self, raw: Mapping[str, Any], key: str) -> str | None:
        value = raw.get(key.rsplit(".", 1)[-1])
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty text or null, got {show(value)}")
        return value

    def choice(self, raw: Mapping[str, Any], key: str, default: str, allowed: Sequence[str]) -> str:
        value = raw.get(key.rsplit(".", 1)[-1], default)
        if value not in allowed:
            self.fail(key, f"expected one of: {', '.join(allowed)}; got {show(value)}")
        return cast(str, value)

    def number(
        self, raw: Mapping[str, Any], key: str, default: float, low: float, high: float
    ) -> float:
        return self.number_value(raw.get(key.rsplit(".", 1)[-1], default), key, low, high)

    def integer(self, raw: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
        value = raw.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected a whole number from {low} to {high}, got {show(value)}")
        if not low <= value <= high:
            self.fail(key, f"expected a whole number from {low} to {high}, got {value}")
        return value

    def strings(self, raw: Mapping[str, Any], key: str, default: Sequence[str]) -> tuple[str, ...]:
        value = raw.get(key.rsplit(".", 1)[-1], list(default))
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(key, f"expected a list of texts, got {show(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.fail(f"{key}[{index}]", f"expected a non-empty text, got {show(item)}")
        return tuple(value)

    def file(self, raw: Mapping[str, Any], key: str, base: Path, must_exist: bool) -> Path | None:
        value = self.optional_string(raw, key)
        if value is None:
            return None
        resolved = (base / Path(value).expanduser()).resolve()
        if must_exist and not resolved.is_file():
            self.fail(key, f"file not found: {resolved}")
        return resolved


def show(value: object) -> str:
    """A value as YAML writes it (quoted text, true/false), cut to 60 characters."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
