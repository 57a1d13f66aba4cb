"""Breathing patterns as data: the shipped ones in patterns.yaml, and user ones from config."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from types import MappingProxyType
from typing import Any, Final, cast

import yaml

from skill.base.errors import ConfigError, DataFileError
from skill.base.reader import Reader, num, show
from skill.base.vocabulary import PhaseName
from skill.language import keys

PHASE_NAMES: Final[tuple[str, ...]] = tuple(PhaseName)
"""Every phase a pattern may use."""
SHIPPED: Final = "skill/breathing/patterns.yaml"
"""Where the shipped patterns live, as named in error messages."""
PHASE_LIMITS: Final = (1, 20)
"""Shortest and longest phase of a paced pattern, in seconds, at every pace step."""
MAX_HOLD: Final = 7
"""Longest hold, in seconds, at every pace step."""
MAX_PHASES: Final = 8
"""Most phases in one breath."""
DEFAULT_MAX_ROUNDS: Final = 4
"""Breaths an opt-in pattern gets unless more rounds are asked for."""

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9 _-]{0,31}")
_SHIPPED_KEYS = (
    "description",
    "intro",
    "close",
    "phases",
    "ramp",
    "opt_in",
    "max_rounds",
    "voice_seconds",
    "paced",
    "default",
    "default_minutes",
)
_USER_KEYS = ("description", "phases", "opt_in")


@dataclass(frozen=True)
class Phase:
    """One part of a breath."""

    name: PhaseName
    """inhale, top-up, hold, exhale or rest."""
    seconds: float
    """How long it lasts at the normal pace."""


@dataclass(frozen=True)
class Ramp:
    """A gentle start: the first breath uses `start`, later ones ease towards the pattern."""

    start: tuple[Phase, ...]
    """The first breath; the same phase names as the pattern, usually shorter."""
    seconds: float
    """About how long the easing lasts."""


@dataclass(frozen=True)
class Pattern:
    """A named breathing pattern."""

    name: str
    """The name people ask for."""
    description: str
    """One honest line about what it is."""
    phases: tuple[Phase, ...]
    """One breath (after the ramp, if any)."""
    intro: str
    """Response key spoken first."""
    close: str = keys.BREATHING_CLOSE
    """Response key spoken at the end."""
    ramp: Ramp | None = None
    """Gentle start, if any."""
    opt_in: bool = False
    """Only used when asked for by name."""
    max_rounds: int | None = None
    """Most breaths unless rounds are asked for explicitly (opt-in patterns)."""
    voice_seconds: float | None = None
    """The voice marks phases only this long, then chimes alone keep the pace."""
    paced: bool = True
    """False for quiet time: one rest interval per 'breath', nothing to pace."""
    default: bool = False
    """Used when no pattern is named."""
    default_minutes: float = 5.0
    """Length when neither minutes nor rounds are given."""
    source: str = SHIPPED
    """The file the pattern came from."""

    @property
    def has_holds(self) -> bool:
        """True when a breath holds the air (safety line and hold note)."""
        return any(phase.name == "hold" for phase in self.phases)

    @property
    def ramp_cycles(self) -> int:
        """Breaths the ramp takes to reach the full pattern (0 without a ramp)."""
        if self.ramp is None:
            return 0
        mean = (sum(p.seconds for p in self.ramp.start) + sum(p.seconds for p in self.phases)) / 2
        return max(1, round(self.ramp.seconds / mean))


# --- Loading patterns ----------------------------------------------------------------------


def _phases(raw: object, key: str, paced: bool, reader: Reader) -> tuple[Phase, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_PHASES:
        reader.fail(
            key,
            f"expected a list of 1 to {MAX_PHASES} phases like"
            f" {{phase: inhale, seconds: 4}}, got {show(raw)}",
        )
    low, high = PHASE_LIMITS if paced else (10, 300)
    phases: list[Phase] = []
    for i, item in enumerate(raw):
        entry = reader.mapping(item, f"{key}[{i}]", ("phase", "seconds"))
        name = entry.get("phase")
        if name not in PHASE_NAMES:
            reader.fail(
                f"{key}[{i}].phase", f"expected one of: {', '.join(PHASE_NAMES)}, got {show(name)}"
            )
        seconds = reader.number_value(entry.get("seconds"), f"{key}[{i}].seconds", low, high)
        if name == "hold" and seconds > MAX_HOLD:
            reader.fail(
                f"{key}[{i}].seconds",
                f"a hold may last at most {MAX_HOLD} seconds, got {num(seconds)}",
            )
        phases.append(Phase(PhaseName(name), seconds))
    names = [p.name for p in phases]
    if paced and not ("inhale" in names and "exhale" in names):
        reader.fail(key, f"expected at least one inhale and one exhale, got {', '.join(names)}")
    if not paced and names != ["rest"]:
        reader.fail(key, f"an unpaced pattern has exactly one rest phase, got {', '.join(names)}")
    return tuple(phases)


def _response_key(
    raw: Mapping[str, Any], key: str, name: str, default: str | None, reader: Reader
) -> str:
    value = raw.get(name, default)
    if value not in keys.ALL_KEYS:
        reader.fail(
            f"{key}.{name}",
            f"expected a response key listed in skill/language/keys.py, got {show(value)}",
        )
    return cast(str, value)


def _shipped_pattern(name: str, raw: object, reader: Reader) -> Pattern:
    key = f"patterns.{name}"
    body = reader.mapping(raw, key, _SHIPPED_KEYS)
    if "phases" not in body or "intro" not in body or "description" not in body:
        reader.fail(key, "needs description, intro and phases")
    paced = reader.flag(body, f"{key}.paced", True)
    phases = _phases(body["phases"], f"{key}.phases", paced, reader)
    ramp = None
    if body.get("ramp") is not None:
        ramp_raw = reader.mapping(body["ramp"], f"{key}.ramp", ("start", "seconds"))
        start = _phases(ramp_raw.get("start"), f"{key}.ramp.start", paced, reader)
        if [p.name for p in start] != [p.name for p in phases]:
            reader.fail(
                f"{key}.ramp.start",
                f"expected the phases of the pattern: {', '.join(p.name for p in phases)}",
            )
        ramp = Ramp(
            start, reader.number_value(ramp_raw.get("seconds"), f"{key}.ramp.seconds", 10, 600)
        )
    opt_in = reader.flag(body, f"{key}.opt_in", False)
    if any(p.name == "hold" for p in phases) and not opt_in:
        reader.fail(f"{key}.opt_in", "a pattern with holds must be opt_in: true")
    max_rounds: int | None = None
    if opt_in:
        rounds = reader.number_value(
            body.get("max_rounds", DEFAULT_MAX_ROUNDS), f"{key}.max_rounds", 1, 30
        )
        if not rounds.is_integer():
            reader.fail(
                f"{key}.max_rounds", f"expected a whole number from 1 to 30, got {num(rounds)}"
            )
        max_rounds = int(rounds)
    voice = body.get("voice_seconds")
    return Pattern(
        name=name,
        description=reader.line(body, f"{key}.description", ""),
        phases=phases,
        intro=_response_key(body, key, "intro", None, reader),
        close=_response_key(body, key, "close", keys.BREATHING_CLOSE, reader),
        ramp=ramp,
        opt_in=opt_in,
        max_rounds=max_rounds,
        voice_seconds=None
        if voice is None
        else reader.number_value(voice, f"{key}.voice_seconds", 10, 600),
        paced=paced,
        default=reader.flag(body, f"{key}.default", False),
        default_minutes=reader.number_value(
            body.get("default_minutes", 5), f"{key}.default_minutes", 1, 60
        ),
    )


def parse_patterns(text: str, *, source: str = SHIPPED) -> dict[str, Pattern]:
    """Parse a pattern file (format: see patterns.yaml beside this module).

    A mistake raises DataFileError naming the file and the key.
    """

    reader = Reader(source, DataFileError)

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise DataFileError(source, "", f"not valid YAML: {err}") from err
    entries = raw.get("patterns") if isinstance(raw, Mapping) and set(raw) == {"patterns"} else None
    if not isinstance(entries, Mapping) or not entries:
        reader.fail("patterns", "expected one top-level key, patterns, mapping names to patterns")
    patterns = {
        str(name): _shipped_pattern(str(name), item, reader) for name, item in entries.items()
    }
    defaults = [p.name for p in patterns.values() if p.default]
    if len(defaults) != 1:
        reader.fail(
            "patterns", f"expected exactly one pattern with default: true, got {len(defaults)}"
        )
    return {name: replace(p, source=source) for name, p in patterns.items()}


@functools.cache
def _shipped() -> Mapping[str, Pattern]:
    text = resources.files("skill.breathing").joinpath("patterns.yaml").read_text(encoding="utf-8")
    return MappingProxyType(parse_patterns(text))


def load_user_patterns(raw: object, *, config_path: str) -> dict[str, Pattern]:
    """Validate `breathing.patterns` from config.yaml; ConfigError names the key and the limits.

    A user pattern may not take a shipped pattern's name: shipped patterns carry vetted
    safety settings (ramp, opt-in, round caps) that an override could silently drop.
    """

    reader = Reader(config_path)

    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        reader.fail(
            "breathing.patterns",
            f"expected a mapping of pattern names to patterns, got {show(raw)}",
        )
    patterns: dict[str, Pattern] = {}
    for name, body in raw.items():
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            reader.fail(
                "breathing.patterns",
                "pattern names are 1-32 lowercase letters, digits, spaces, - or _"
                f" (in quotes if only digits), got {show(name)}",
            )
        key = f"breathing.patterns.{name}"
        if name in _shipped():
            reader.fail(
                key, f'"{name}" is a built-in pattern; choose another name, e.g. "my {name}"'
            )
        entry = reader.mapping(body, key, _USER_KEYS)
        if "phases" not in entry:
            reader.fail(
                f"{key}.phases",
                "missing; expected a list of phases like {phase: inhale, seconds: 4}",
            )
        phases = _phases(entry["phases"], f"{key}.phases", True, reader)
        summary = ", ".join(f"{p.name} {num(p.seconds)} s" for p in phases)
        holds = any(p.name == "hold" for p in phases)
        opt_in = reader.flag(entry, f"{key}.opt_in", holds)
        patterns[name] = Pattern(
            name=name,
            description=reader.line(entry, f"{key}.description", f"Your own pattern: {summary}."),
            phases=phases,
            intro=keys.ROUTINE_BREATHE_OFFER,
            opt_in=opt_in,
            max_rounds=DEFAULT_MAX_ROUNDS if opt_in else None,
            source=config_path,
        )
    return patterns


def load_patterns(user: Mapping[str, Pattern] | None = None) -> dict[str, Pattern]:
    """The shipped patterns plus the user's; a user pattern never replaces a shipped one."""
    merged = dict(_shipped())
    for name, pattern in (user or {}).items():
        if name in merged:
            raise ConfigError(
                pattern.source,
                f"breathing.patterns.{name}",
                f'"{name}" is a built-in pattern; choose another name',
            )
        merged[name] = pattern
    return merged


def default_pattern(patterns: Mapping[str, Pattern]) -> Pattern:
    """The pattern used when none is named (settle, as shipped)."""
    return next(p for p in patterns.values() if p.default)
