"""Routines as data: named lists of steps, shipped in routines.yaml and extendable in config."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from skill.base.errors import DataFileError
from skill.base.reader import Reader
from skill.base.vocabulary import CueStyle
from skill.language import keys

SHIPPED = "skill/routines/routines.yaml"
OFFERS = keys.OFFERS
"""Things a routine can offer; each is said with `routine.<offer>`."""
CHECKINS = keys.CHECKIN_QUESTIONS
"""Questions that listen; each is asked with `checkin.<what>`."""
STEP_KINDS = (
    "say",
    "silence",
    "breathe",
    "offer",
    "checkin",
    "music",
    "lights",
    "journal",
    "close",
)


@dataclass(frozen=True)
class SayStep:
    """Speak one line."""

    key: str
    """Response key."""


@dataclass(frozen=True)
class SilenceStep:
    """Quiet time: a real step, not a gap."""

    seconds: float
    """How long, in seconds."""


@dataclass(frozen=True)
class BreatheStep:
    """A guided breathing stretch inside the routine."""

    pattern: str
    """Pattern name."""
    minutes: float
    """Length in minutes."""
    style: CueStyle | None = None
    """Cue style for this stretch (None: the site's preference or config)."""


@dataclass(frozen=True)
class OfferStep:
    """Invite a bit of physical care (water, warmth, a snack, cleaning up)."""

    offer: str
    """One of OFFERS."""


@dataclass(frozen=True)
class CheckinStep:
    """Ask a question and listen for the answer (once per routine)."""

    question: str
    """One of CHECKINS."""


@dataclass(frozen=True)
class MusicStep:
    """Start or fade out the cool-down music."""

    action: str
    """`play`, `soft` (at half the volume) or `stop`."""


@dataclass(frozen=True)
class LightsStep:
    """Dim the lights to the cool-down scene, or bring them back."""

    action: str
    """`scene` or `restore`."""


@dataclass(frozen=True)
class JournalStep:
    """A reflective question to think about together; nothing is recorded."""

    seconds: float
    """Quiet time to think after the question."""


@dataclass(frozen=True)
class CloseStep:
    """The gentle last line."""

    key: str
    """Response key."""


Step = (
    SayStep
    | SilenceStep
    | BreatheStep
    | OfferStep
    | CheckinStep
    | MusicStep
    | LightsStep
    | JournalStep
    | CloseStep
)


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
        """Every response key the routine may speak."""
        found: set[str] = set()
        for step in self.steps:
            if isinstance(step, SayStep | CloseStep):
                found.add(step.key)
            elif isinstance(step, OfferStep):
                found.add(keys.offer(step.offer))
            elif isinstance(step, CheckinStep):
                found.add(keys.checkin(step.question))
            elif isinstance(step, JournalStep):
                found |= {keys.ROUTINE_JOURNAL_INTRO, keys.JOURNAL_PROMPT}
        return frozenset(found)

    def planned_seconds(self) -> float:
        """Silence, breathing and journal time (speech and answers come on top)."""
        total = 0.0
        for step in self.steps:
            if isinstance(step, SilenceStep | JournalStep):
                total += step.seconds
            elif isinstance(step, BreatheStep):
                total += step.minutes * 60
        return total


def load_routines(
    text: str | None = None,
    *,
    source: str = SHIPPED,
    patterns: Collection[str] = (),
    extra: Mapping[str, Any] | None = None,
    extra_source: str = "config.yaml",
) -> dict[str, Routine]:
    """The shipped routines, then those in config.yaml (`routines:`) added or replacing."""
    if text is None:
        text = (
            resources.files("skill.routines").joinpath("routines.yaml").read_text(encoding="utf-8")
        )
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise DataFileError(source, "", f"not valid YAML: {err}") from err
    if not isinstance(raw, Mapping) or not raw:
        raise DataFileError(source, "", "expected a mapping of routine names to routines")
    shipped, added = Reader(source, DataFileError), Reader(extra_source, DataFileError)
    routines = {str(n): _routine(shipped, str(n), body, patterns) for n, body in raw.items()}
    for name, body in (extra or {}).items():
        routines[str(name)] = _routine(added, f"routines.{name}", body, patterns)
    return routines


def _routine(reader: Reader, name: str, body: Any, patterns: Collection[str]) -> Routine:
    if not isinstance(body, Mapping) or not isinstance(body.get("steps"), list):
        reader.fail(name, "expected a mapping with `description` and `steps`")
    description = body.get("description", "")
    if not isinstance(description, str):
        reader.fail(f"{name}.description", "expected a text")
    steps = tuple(
        _step(reader, f"{name}.steps[{i}]", item, patterns) for i, item in enumerate(body["steps"])
    )
    if not steps:
        reader.fail(f"{name}.steps", "a routine needs at least one step")
    return Routine(name=name.rsplit(".", 1)[-1], description=description, steps=steps)


def _step(reader: Reader, key: str, item: Any, patterns: Collection[str]) -> Step:
    if not isinstance(item, Mapping) or len(item) != 1:
        reader.fail(key, f"expected one of: {', '.join(STEP_KINDS)}")
    kind, value = next(iter(item.items()))
    if kind in ("say", "close") and isinstance(value, str) and value:
        return SayStep(value) if kind == "say" else CloseStep(value)
    if kind == "silence" and _seconds(value, 3600):
        return SilenceStep(float(value))
    if kind == "offer" and value in OFFERS:
        return OfferStep(value)
    if kind == "checkin" and value in CHECKINS:
        return CheckinStep(value)
    if kind == "music" and value in ("play", "soft", "stop"):
        return MusicStep(value)
    if kind == "lights" and value in ("scene", "restore"):
        return LightsStep(value)
    if kind == "journal" and isinstance(value, Mapping) and _seconds(value.get("seconds"), 600):
        return JournalStep(float(value["seconds"]))
    if kind == "breathe" and isinstance(value, Mapping):
        return _breathe(reader, key, value, patterns)
    raise reader.problem(
        key,
        "expected `say: <key>`, `silence: <1-3600 s>`, `breathe: {pattern, minutes, style}`, "
        f"`offer: {'|'.join(OFFERS)}`, `checkin: {'|'.join(CHECKINS)}`, `music: play|soft|stop`, "
        "`lights: scene|restore`, `journal: {seconds: <1-600>}` or `close: <key>`",
    )


def _seconds(value: Any, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= high


def _breathe(reader: Reader, key: str, value: Mapping[str, Any], patterns: Collection[str]) -> Step:
    pattern = value.get("pattern")
    minutes = value.get("minutes", 1)
    style = value.get("style")
    if patterns and pattern not in patterns:
        reader.fail(
            f"{key}.breathe.pattern",
            f"unknown pattern; choose one of: {', '.join(patterns)}",
        )
    if not isinstance(minutes, int | float) or not 0.25 <= minutes <= 30:
        reader.fail(f"{key}.breathe.minutes", "expected 0.25 to 30 minutes")
    if style is not None and style not in tuple(CueStyle):
        reader.fail(f"{key}.breathe.style", "expected voice, chime, both or fewer-words")
    return BreatheStep(str(pattern), float(minutes), None if style is None else CueStyle(style))


def routine_names(extra: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Names people can ask for: the shipped routines, then those added in config.yaml."""
    return tuple(load_routines(extra=extra))
