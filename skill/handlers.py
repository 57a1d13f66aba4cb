"""Pure intent handling: an NluIntent in, a list of things that should happen out."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

from rhasspyhermes.nlu import NluIntent

from skill import keys
from skill.config import CUE_STYLES, Config
from skill.hermes import slot
from skill.text import normalize

START = "AftercareStart"
BREATHE = "AftercareBreathe"
COOLDOWN = "AftercareCooldown"
STOP = "AftercareStop"
SLOWER = "AftercareSlower"
FASTER = "AftercareFaster"
PAUSE = "AftercarePause"
RESUME = "AftercareResume"
MORE = "AftercareMore"

INTENTS: tuple[str, ...] = (START, BREATHE, COOLDOWN, STOP, SLOWER, FASTER, PAUSE, RESUME, MORE)
"""Every intent the skill subscribes to."""

MINUTES_RANGE = (1, 60)
"""Shortest and longest breathing session, in minutes."""
ROUNDS_RANGE = (1, 30)
"""Fewest and most breathing rounds someone may ask for."""
MORE_RANGE = (1, 10)
"""How many minutes one "a bit more" may add."""


@dataclass(frozen=True)
class Say:
    """Speak a line from responses/."""

    key: str
    """Response key."""
    values: tuple[tuple[str, object], ...] = ()
    """Placeholder values."""


@dataclass(frozen=True)
class StartRoutine:
    """Replace the site's activity with an aftercare routine."""

    name: str
    """Routine name (short, long, quiet...)."""


@dataclass(frozen=True)
class StartBreathing:
    """Replace the site's activity with a guided breathing session."""

    pattern: str
    """Pattern name."""
    minutes: float | None
    """Length in minutes, or None when rounds are given."""
    rounds: int | None
    """Number of breaths, or None."""
    notices: tuple[Say, ...] = ()
    """Lines to say first (e.g. that a request was brought into range)."""
    style: str | None = None
    """Cue style asked for this session (voice, chime, both, fewer-words), or None."""


@dataclass(frozen=True)
class StartCooldown:
    """Start the cool-down music on the site's player."""

    playlist: str
    """Playlist to start."""


@dataclass(frozen=True)
class StopAll:
    """Stop everything on the site at once."""


@dataclass(frozen=True)
class Control:
    """Change a running breathing session."""

    action: str
    """slower, faster, pause, resume or more."""
    minutes: int = 1
    """Minutes to add (for `more`)."""
    notices: tuple[Say, ...] = field(default=())
    """Lines to say first."""


Action = Say | StartRoutine | StartBreathing | StartCooldown | StopAll | Control


def _whole(value: str | int | float | None) -> int | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if value is None or not math.isfinite(value):
        return None
    return round(value)


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], value))


def decide(intent: NluIntent, config: Config, patterns: Collection[str]) -> list[Action]:
    """What should happen for this intent; never raises for odd slot values."""
    name = intent.intent.intent_name
    if name == STOP:
        return [StopAll()]
    if name == START:
        routine = slot(intent, "routine")
        return [StartRoutine(routine if isinstance(routine, str) and routine else "short")]
    if name == BREATHE:
        return [_breathe(intent, config, patterns)]
    if name == COOLDOWN:
        playlist = slot(intent, "playlist")
        known = {normalize(p): p for p in (config.cooldown.playlist, *config.cooldown.playlists)}
        # Rhasspy drops some punctuation from values: compare as recognizers write text.
        chosen = known.get(normalize(playlist)) if isinstance(playlist, str) else None
        return [StartCooldown(chosen or config.cooldown.playlist)]
    if name == MORE:
        return [_more(intent)]
    actions = {SLOWER: "slower", FASTER: "faster", PAUSE: "pause", RESUME: "resume"}
    if name in actions:
        return [Control(actions[name])]
    return []


def _breathe(intent: NluIntent, config: Config, patterns: Collection[str]) -> StartBreathing:
    notices: list[Say] = []
    pattern = slot(intent, "pattern")
    chosen = pattern if isinstance(pattern, str) and pattern in patterns else None
    rounds = _whole(slot(intent, "rounds"))
    if rounds is not None and not ROUNDS_RANGE[0] <= rounds <= ROUNDS_RANGE[1]:
        rounds = _clamp(rounds, ROUNDS_RANGE)
        notices.append(Say(keys.BREATHING_ROUNDS_LIMIT, (("rounds", rounds),)))
    minutes = _whole(slot(intent, "minutes"))
    if minutes is not None and not MINUTES_RANGE[0] <= minutes <= MINUTES_RANGE[1]:
        minutes = _clamp(minutes, MINUTES_RANGE)
        key = keys.BREATHING_MINUTES_LIMIT_ONE if minutes == 1 else keys.BREATHING_MINUTES_LIMIT
        notices.append(Say(key, (("minutes", minutes),)))
    length: float | None = float(minutes) if minutes is not None else None
    if length is None and rounds is None:
        length = config.breathing.minutes
    style = slot(intent, "style")
    return StartBreathing(
        pattern=chosen or config.breathing.pattern,
        minutes=length,
        rounds=rounds,
        notices=tuple(notices),
        style=style if isinstance(style, str) and style in CUE_STYLES else None,
    )


def _more(intent: NluIntent) -> Control:
    minutes = _whole(slot(intent, "minutes"))
    if minutes is None:
        return Control("more", 1)
    if MORE_RANGE[0] <= minutes <= MORE_RANGE[1]:
        return Control("more", minutes)
    minutes = _clamp(minutes, MORE_RANGE)
    key = keys.BREATHING_MINUTES_LIMIT_ONE if minutes == 1 else keys.BREATHING_MINUTES_LIMIT
    return Control("more", minutes, (Say(key, (("minutes", minutes),)),))


def from_button(command: str, config: Config) -> list[Action]:
    """What a Home Assistant button does: the same as saying it, with the defaults."""
    if command == "stop":
        return [StopAll()]
    if command == "start_aftercare":
        return [StartRoutine("short")]
    if command == "start_breathing":
        return [StartBreathing(config.breathing.pattern, config.breathing.minutes, None)]
    if command == "cooldown":
        return [StartCooldown(config.cooldown.playlist)]
    return []
