"""Routines as data: a named list of steps, validated when loaded."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from skill.errors import DataFileError

SHIPPED = "skill/routines.yaml"


@dataclass(frozen=True)
class SayStep:
    """Speak one line."""

    key: str
    """Response key."""


@dataclass(frozen=True)
class SilenceStep:
    """Quiet time."""

    seconds: float
    """How long, in seconds."""


@dataclass(frozen=True)
class BreatheStep:
    """A short guided breathing stretch inside the routine."""

    pattern: str
    """Pattern name."""
    minutes: float
    """Length in minutes."""


Step = SayStep | SilenceStep | BreatheStep


@dataclass(frozen=True)
class Routine:
    """A named aftercare routine."""

    name: str
    """Name people use ("short", "long", "quiet")."""
    description: str
    """One honest line about it."""
    steps: tuple[Step, ...]
    """What happens, in order."""

    def response_keys(self) -> frozenset[str]:
        """Every response key the routine speaks."""
        return frozenset(step.key for step in self.steps if isinstance(step, SayStep))


def load_routines(
    text: str | None = None, *, source: str = SHIPPED, patterns: Collection[str] = ()
) -> dict[str, Routine]:
    """Parse routines YAML (the shipped file by default); DataFileError names file and key."""
    if text is None:
        text = resources.files("skill").joinpath("routines.yaml").read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise DataFileError(source, "", f"not valid YAML: {err}") from err
    if not isinstance(raw, Mapping) or not raw:
        raise DataFileError(source, "", "expected a mapping of routine names to routines")
    return {str(name): _routine(source, str(name), body, patterns) for name, body in raw.items()}


def _routine(source: str, name: str, body: Any, patterns: Collection[str]) -> Routine:
    if not isinstance(body, Mapping) or not isinstance(body.get("steps"), list):
        raise DataFileError(source, name, "expected a mapping with `description` and `steps`")
    description = body.get("description", "")
    if not isinstance(description, str):
        raise DataFileError(source, f"{name}.description", "expected a text")
    steps = tuple(
        _step(source, f"{name}.steps[{i}]", item, patterns) for i, item in enumerate(body["steps"])
    )
    if not steps:
        raise DataFileError(source, f"{name}.steps", "a routine needs at least one step")
    return Routine(name=name, description=description, steps=steps)


def _step(source: str, key: str, item: Any, patterns: Collection[str]) -> Step:
    if not isinstance(item, Mapping) or len(item) != 1:
        raise DataFileError(source, key, "expected one of: say, silence, breathe")
    kind, value = next(iter(item.items()))
    if kind == "say" and isinstance(value, str) and value:
        return SayStep(value)
    if kind == "silence" and isinstance(value, int | float) and 0 < value <= 3600:
        return SilenceStep(float(value))
    if kind == "breathe" and isinstance(value, Mapping):
        pattern = value.get("pattern")
        minutes = value.get("minutes", 1)
        if patterns and pattern not in patterns:
            raise DataFileError(
                source,
                f"{key}.breathe.pattern",
                f"unknown pattern; choose one of: {', '.join(patterns)}",
            )
        if not isinstance(minutes, int | float) or not 0.25 <= minutes <= 30:
            raise DataFileError(source, f"{key}.breathe.minutes", "expected 0.25 to 30 minutes")
        return BreatheStep(str(pattern), float(minutes))
    raise DataFileError(
        source,
        key,
        "expected `say: <response key>`, `silence: <seconds, 0-3600>` or "
        "`breathe: {pattern, minutes}`",
    )
