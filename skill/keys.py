"""Every response key the code may ask for; code names what the voice says only through here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# The short routine, in the order it is usually spoken.
ROUTINE_OPENING = "routine.opening"
ROUTINE_WATER = "routine.water"
ROUTINE_WARMTH = "routine.warmth"
ROUTINE_BREATHE_OFFER = "routine.breathe_offer"
ROUTINE_KIND_WORDS = "routine.kind_words"
ROUTINE_CHECKIN = "routine.checkin"
ROUTINE_CLOSE = "routine.close"

# Said around a breathing session.
BREATHING_SAFETY = "breathing.safety"
BREATHING_HOLD_NOTE = "breathing.hold_note"
BREATHING_TOGETHER_FADE = "breathing.together_fade"
BREATHING_CLOSE = "breathing.close"
BREATHING_REST_CLOSE = "breathing.rest_close"

# Replies to commands while breathing (or when nothing is breathing).
BREATHING_SLOWER = "breathing.slower"
BREATHING_FASTER = "breathing.faster"
BREATHING_SLOWEST = "breathing.slowest"
BREATHING_FASTEST = "breathing.fastest"
BREATHING_PAUSED = "breathing.paused"
BREATHING_RESUMED = "breathing.resumed"
BREATHING_MORE_ONE = "breathing.more_one"
BREATHING_MORE = "breathing.more"
BREATHING_MINUTES_LIMIT_ONE = "breathing.minutes_limit_one"
BREATHING_MINUTES_LIMIT = "breathing.minutes_limit"
BREATHING_ROUNDS_LIMIT = "breathing.rounds_limit"
BREATHING_NOT_RUNNING = "breathing.not_running"
BREATHING_NOT_PAUSED = "breathing.not_paused"

# Replies when someone answers the check-in with "not okay", or may be hurt or unsafe.
SUPPORT_NOT_OKAY = "support.not_okay"
SUPPORT_GET_HELP = "support.get_help"

COOLDOWN_START = "cooldown.start"
COOLDOWN_NO_PLAYER = "cooldown.no_player"
STOP_DONE = "stop.done"
ERROR_GENERIC = "error.generic"

BREATHING_PATTERNS: tuple[str, ...] = (
    "settle",
    "calm",
    "coherent",
    "sigh",
    "together",
    "box",
    "478",
    "rest",
)
"""Breathing patterns with a spoken introduction at ``breathing.intro.<pattern>``."""

CUE_PHASES: tuple[str, ...] = ("inhale", "top-up", "hold", "exhale", "rest")
"""Breathing phases with a spoken cue at ``cue.<phase>`` (``top-up`` becomes ``cue.top_up``)."""

CUE_INHALE = "cue.inhale"
CUE_TOP_UP = "cue.top_up"
CUE_HOLD = "cue.hold"
CUE_EXHALE = "cue.exhale"
CUE_REST = "cue.rest"


def breathing_intro(pattern: str) -> str:
    """The key of the spoken introduction to a breathing pattern, e.g. ``breathing.intro.box``."""
    if pattern not in BREATHING_PATTERNS:
        allowed = ", ".join(BREATHING_PATTERNS)
        raise ValueError(f"unknown breathing pattern {pattern!r}; choose one of: {allowed}")
    return f"breathing.intro.{pattern}"


def cue(phase: str) -> str:
    """The key of the cue spoken at the start of a breathing phase, e.g. ``cue.top_up``."""
    if phase not in CUE_PHASES:
        allowed = ", ".join(CUE_PHASES)
        raise ValueError(f"unknown breathing phase {phase!r}; choose one of: {allowed}")
    return "cue." + phase.replace("-", "_")


def breathing_more(minutes: int) -> str:
    """The key confirming added minutes: singular wording for one, ``{minutes}`` otherwise."""
    return BREATHING_MORE_ONE if minutes == 1 else BREATHING_MORE


def breathing_minutes_limit(minutes: int) -> str:
    """The key saying a length was adjusted: singular wording for one, ``{minutes}`` otherwise."""
    return BREATHING_MINUTES_LIMIT_ONE if minutes == 1 else BREATHING_MINUTES_LIMIT


PLACEHOLDERS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        BREATHING_MORE: frozenset({"minutes"}),
        BREATHING_MINUTES_LIMIT: frozenset({"minutes"}),
        BREATHING_ROUNDS_LIMIT: frozenset({"rounds"}),
    }
)
"""Values each key needs in ``pick``; every variant uses exactly these, keys not listed use none."""

CUE_KEYS: frozenset[str] = frozenset(cue(phase) for phase in CUE_PHASES)
"""Every breathing cue key; each has exactly one very short variant."""

ALL_KEYS: frozenset[str] = frozenset(
    {
        ROUTINE_OPENING,
        ROUTINE_WATER,
        ROUTINE_WARMTH,
        ROUTINE_BREATHE_OFFER,
        ROUTINE_KIND_WORDS,
        ROUTINE_CHECKIN,
        ROUTINE_CLOSE,
        BREATHING_SAFETY,
        BREATHING_HOLD_NOTE,
        BREATHING_TOGETHER_FADE,
        BREATHING_CLOSE,
        BREATHING_REST_CLOSE,
        BREATHING_SLOWER,
        BREATHING_FASTER,
        BREATHING_SLOWEST,
        BREATHING_FASTEST,
        BREATHING_PAUSED,
        BREATHING_RESUMED,
        BREATHING_MORE_ONE,
        BREATHING_MORE,
        BREATHING_MINUTES_LIMIT_ONE,
        BREATHING_MINUTES_LIMIT,
        BREATHING_ROUNDS_LIMIT,
        BREATHING_NOT_RUNNING,
        BREATHING_NOT_PAUSED,
        SUPPORT_NOT_OKAY,
        SUPPORT_GET_HELP,
        COOLDOWN_START,
        COOLDOWN_NO_PLAYER,
        STOP_DONE,
        ERROR_GENERIC,
    }
    | {breathing_intro(pattern) for pattern in BREATHING_PATTERNS}
    | CUE_KEYS
)
"""Every key the code may ask for, including every intro and cue; every language file has all."""
