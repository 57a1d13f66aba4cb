"""The exact tick grid a breathing plan is laid on, and the cues placed on it."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal

from skill.base.vocabulary import CueStyle, PhaseName
from skill.breathing.patterns import MAX_HOLD, PHASE_LIMITS, Pattern

if TYPE_CHECKING:
    from skill.voice.chimes import ChimeKind

CueKind = Literal["phase", "intro", "safety", "hold_note", "fade_note", "close"]
STYLES: Final[tuple[str, ...]] = tuple(CueStyle)
"""Every way of marking phases."""
TICKS_PER_SECOND: Final = 1024
"""Time grid of every phase and offset; a power of two keeps all sums exact."""
PACE_STEPS: Final[Mapping[int, float]] = MappingProxyType(
    {-2: 1.16, -1: 1.08, 0: 1.0, 1: 0.92, 2: 0.85}
)
"""Pace step -> factor on every phase length; negative steps are slower, positive faster."""
FEWER_WORDS_CYCLES: Final = 3
"""Breaths spoken in the fewer-words style before chimes take over."""
_CHIMES: Mapping[str, ChimeKind] = MappingProxyType(
    {"inhale": "inhale", "exhale": "exhale", "top-up": "soft"}
)


@dataclass(frozen=True)
class Cue:
    """Something to do at one moment of a session."""

    offset: float
    """Seconds of monotonic time from the session start; the runner sleeps until start + offset."""
    kind: CueKind
    """phase, intro, safety, hold_note, fade_note or close."""
    phase: PhaseName | None
    """The phase that starts here, for phase cues."""
    seconds: float
    """How long the phase lasts; 0 for other cues."""
    cycle: int
    """Breath number from 0 (for close: the number of breaths)."""
    voice_key: str | None
    """Response key to speak, or None."""
    chime: ChimeKind | None
    """Chime to play, or None."""


@dataclass(frozen=True)
class Slot:
    """A cue plus the bookkeeping needed to re-plan from it."""

    cue: Cue
    """The cue itself."""
    tick: int
    """The offset in ticks."""
    active: int
    """Breathing ticks done before this cue (pauses and notes excluded)."""
    index: int
    """Phase index within its breath; 0 for close, -1 for notes."""
    cycle_active: int
    """Breathing ticks done when its breath started."""


def estimate_speech_seconds(key: str) -> float:
    """A rough clip length for a response key; the runner should pass measured lengths."""
    return 1.0 if key.startswith("cue.") else 4.0


def to_ticks(seconds: float) -> int:
    return round(seconds * TICKS_PER_SECOND)


def ceil_ticks(seconds: float) -> int:
    return math.ceil(seconds * TICKS_PER_SECOND - 1e-6)


def tick_seconds(ticks: int) -> float:
    return ticks / TICKS_PER_SECOND


def _base_seconds(pattern: Pattern, cycle: int) -> tuple[float, ...]:
    """Phase lengths of one breath at the normal pace, easing along the ramp."""
    ends = tuple(p.seconds for p in pattern.phases)
    n = pattern.ramp_cycles
    if pattern.ramp is None or cycle >= n:
        return ends
    # Raised-cosine easing: the change per breath starts and ends at zero.
    f = (1 - math.cos(math.pi * cycle / n)) / 2
    return tuple(
        a.seconds + (b - a.seconds) * f for a, b in zip(pattern.ramp.start, ends, strict=True)
    )


@functools.lru_cache(maxsize=4096)
def cycle_ticks(pattern: Pattern, cycle: int, step: int) -> tuple[int, ...]:
    factor = PACE_STEPS[step]
    return tuple(to_ticks(s * factor) for s in _base_seconds(pattern, cycle))


def step_allowed(pattern: Pattern, step: int) -> bool:
    """True when every phase at this pace step stays within 1-20 s and every hold within 7 s."""
    if step not in PACE_STEPS or not pattern.paced:
        return step == 0
    factor = PACE_STEPS[step]
    breaths = [pattern.phases] + ([pattern.ramp.start] if pattern.ramp else [])
    for breath in breaths:
        for phase in breath:
            ticks = to_ticks(phase.seconds * factor)
            high = MAX_HOLD if phase.name == "hold" else PHASE_LIMITS[1]
            if not to_ticks(PHASE_LIMITS[0]) <= ticks <= to_ticks(high):
                return False
    return True


def is_voiced(
    pattern: Pattern, style: CueStyle, cycle: int, cycle_active: int, length: int
) -> bool:
    """Whether a breath is spoken (else marked by chimes alone, or silent)."""
    if not pattern.paced or style == "chime":
        return False
    if style == "fewer-words" and cycle >= FEWER_WORDS_CYCLES:
        return False
    limit = pattern.voice_seconds
    return limit is None or cycle == 0 or cycle_active + length <= to_ticks(limit)


def chime_for(
    pattern: Pattern, style: CueStyle, phase: PhaseName, cycle: int, voiced: bool
) -> ChimeKind | None:
    if not pattern.paced:
        return "soft" if style != "voice" and cycle > 0 else None
    return None if voiced and style == "voice" else _CHIMES.get(phase)


@dataclass(frozen=True)
class Start:
    """Where generation starts."""

    tick: int
    """Offset of the first phase, in ticks."""
    active: int
    """Breathing ticks done before it."""
    cycle: int
    """Its breath."""
    index: int = 0
    """Its phase index within the breath."""
    voiced: bool | None = None
    """Whether that breath is spoken, when it already began; None to decide afresh."""
    cycle_active: int | None = None
    """Breathing ticks done when that breath started; None when it starts here."""


def check_amount(minutes: float | None, rounds: int | None, *, required: bool = False) -> None:
    if minutes is not None and rounds is not None:
        raise ValueError("give minutes or rounds, not both")
    if required and minutes is None and rounds is None:
        raise ValueError("give minutes or rounds")
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"minutes must be a positive number, got {minutes!r}")
    if rounds is not None and rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds!r}")
