"""Pure intent handling: an NluIntent in, a list of things that should happen out."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

from rhasspyhermes.nlu import NluIntent

from skill.base.text import normalize
from skill.care.replies import (
    CareReply,
    feeling_reply,
    help_reply,
    most_serious,
    need_reply,
    quiet_reply,
)
from skill.care.store import Preferences
from skill.config.settings import CUE_STYLES, Config
from skill.hermes.messages import slot, slot_values
from skill.language import keys

START = "AftercareStart"
BREATHE = "AftercareBreathe"
COOLDOWN = "AftercareCooldown"
STOP = "AftercareStop"
SLOWER = "AftercareSlower"
FASTER = "AftercareFaster"
PAUSE = "AftercarePause"
RESUME = "AftercareResume"
MORE = "AftercareMore"
FEELING = "AftercareFeeling"
NEED = "AftercareNeed"
QUIET = "AftercareQuiet"
AFFIRM = "AftercareAffirm"
NOT_NOW = "AftercareNotNow"
PREFER = "AftercarePrefer"
RECALL = "AftercareRecall"
FORGET = "AftercareForget"
FOLLOW_UP = "AftercareFollowUp"
CANCEL_FOLLOW_UP = "AftercareCancelFollowUp"
HELP = "AftercareHelp"
SKIP = "AftercareSkip"
MUSIC_OFF = "AftercareMusicOff"
CAUTION = "AftercareCaution"

INTENTS: tuple[str, ...] = (
    START,
    BREATHE,
    COOLDOWN,
    STOP,
    SLOWER,
    FASTER,
    PAUSE,
    RESUME,
    MORE,
    FEELING,
    NEED,
    QUIET,
    AFFIRM,
    NOT_NOW,
    PREFER,
    RECALL,
    FORGET,
    FOLLOW_UP,
    CANCEL_FOLLOW_UP,
    HELP,
    SKIP,
    MUSIC_OFF,
    CAUTION,
)
"""Every intent the skill subscribes to."""
ROUTINES = ("short", "long", "quiet")
"""The shipped routines (config.yaml may add more; see skill.routines.routine_names)."""

MINUTES_RANGE = (1, 60)
"""Shortest and longest breathing session, in minutes."""
ROUNDS_RANGE = (1, 30)
"""Fewest and most breathing rounds someone may ask for."""
MORE_RANGE = (1, 10)
"""How many minutes one "a bit more" may add."""
NEAR_END = 60.0
"""Plan seconds before a breathing session's end within which "keep going" means more."""

# Words whose meaning depends on what is running on the site (decided in `in_context`).
FILLERS = frozenset(
    {"okay", "ok", "oh", "so", "well", "please", "just", "um", "uh", "yeah", "now", "then"}
)
"""Words around an ambiguous phrase that do not change it ("okay keep going please")."""
CONTINUE_WORDS = frozenset({"keep going", "go on", "continue", "carry on", "keep it going"})
"""Resume while paused; one more minute near a session's end; otherwise nothing."""
AGREE_WORDS = frozenset({"okay", "ok", "yes", "yeah", "yep", "sure", "alright", "all", "right"})
"""An answer inside a check-in ("yeah okay"); said on its own outside one, not meant for the
speaker."""
DECLINE_WORDS = frozenset({"no", "nope", "nah", "no no", "no thanks", "no thank you"})
"""Declines an offer; said on its own with nothing offered, not meant for the speaker."""


@dataclass(frozen=True)
class SiteContext:
    """What runs on the site, as far as words whose meaning depends on it need to know."""

    paused: bool = False
    """A breathing session is paused, or a caution word holds the site."""
    breathing_left: float | None = None
    """Plan seconds until a running breathing session ends (None: none is running)."""
    offering: bool = False
    """A routine is offering something right now (water, warmth, breaths, music)."""


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
    quiet: bool = False
    """Start without words (the site prefers quiet)."""
    playlist: str | None = None
    """Playlist for the routine's music (None: the config's)."""


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


@dataclass(frozen=True)
class Skip:
    """Decline what is on offer: the routine's current step ends and the routine goes on."""

    said: str = "skip"
    """`skip` ("skip", "no thanks") or `not_now` ("not now", "maybe later")."""


@dataclass(frozen=True)
class MusicOff:
    """Only the music fades out (and a routine plays none later); everything else goes on."""


@dataclass(frozen=True)
class Caution:
    """A caution word: speech and cues pause at once, the music dips, one listening question."""


@dataclass(frozen=True)
class Care:
    """Answer a feeling or a need (outside a check-in)."""

    reply: CareReply
    """What to say and what changes."""


@dataclass(frozen=True)
class Prefer:
    """Remember a preference for this site."""

    changes: tuple[tuple[str, object], ...]
    """Field and value pairs for the store."""


@dataclass(frozen=True)
class Recall:
    """Say what is remembered about this site."""


@dataclass(frozen=True)
class Forget:
    """Erase what is remembered about this site."""


@dataclass(frozen=True)
class FollowUp:
    """Schedule a gentle check-in later on this site."""

    when: str
    """`morning` or `tonight`."""


@dataclass(frozen=True)
class CancelFollowUp:
    """Cancel the site's scheduled check-in."""


Action = (
    Say
    | StartRoutine
    | StartBreathing
    | StartCooldown
    | StopAll
    | Control
    | Skip
    | MusicOff
    | Caution
    | Care
    | Prefer
    | Recall
    | Forget
    | FollowUp
    | CancelFollowUp
)


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


def decide(
    intent: NluIntent,
    config: Config,
    patterns: Collection[str],
    prefs: Preferences | None = None,
    *,
    routines: Collection[str] = ROUTINES,
    context: SiteContext | None = None,
) -> list[Action]:
    """What should happen for this intent; never raises for odd slot values.

    With a `context` (an intent heard outside a check-in), words whose meaning depends on
    what is running are decided by it first (see `in_context`).
    """
    if context is not None:
        decided = in_context(intent, context)
        if decided is not None:
            return decided
    prefs = prefs or Preferences()
    name = intent.intent.intent_name
    simple: dict[str, Action] = {
        STOP: StopAll(),
        RECALL: Recall(),
        FORGET: Forget(),
        CANCEL_FOLLOW_UP: CancelFollowUp(),
        QUIET: Care(quiet_reply()),
        AFFIRM: Say("affirm"),
        SLOWER: Control("slower"),
        FASTER: Control("faster"),
        PAUSE: Control("pause"),
        RESUME: Control("resume"),
        HELP: Care(help_reply()),
        SKIP: Skip(),
        NOT_NOW: Skip("not_now"),
        MUSIC_OFF: MusicOff(),
        CAUTION: Caution(),
    }
    if name in simple:
        return [simple[name]]
    if name == START:
        routine = slot(intent, "routine")
        chosen = routine if isinstance(routine, str) and routine in routines else None
        preferred = prefs.routine if prefs.routine in routines else None
        routine_name = chosen or preferred or "short"
        return [
            StartRoutine(
                routine_name,
                # Quiet mode: the quiet routine always (its soft lines still come), any
                # other when the site prefers fewer words.
                quiet=routine_name == "quiet" or (chosen is None and bool(prefs.quiet)),
                playlist=prefs.playlist,
            )
        ]
    if name == BREATHE:
        return [_breathe(intent, config, patterns, prefs)]
    if name == COOLDOWN:
        return [
            StartCooldown(
                _playlist(slot(intent, "playlist"), config)
                or prefs.playlist
                or config.cooldown.playlist
            )
        ]
    if name == MORE:
        return [_more(intent)]
    if name == FEELING:
        # "fine but sore": the most serious feeling said decides the reply.
        return [Care(feeling_reply(most_serious(slot_values(intent, "feeling"))))]
    if name == NEED:
        need = slot(intent, "need")
        reply = need_reply(need) if isinstance(need, str) else None
        return [Care(reply)] if reply else []
    if name == PREFER:
        return [Prefer(_preferences(intent, config, patterns, routines))]
    if name == FOLLOW_UP:
        when = slot(intent, "when")
        return [FollowUp(when if when in ("morning", "tonight") else "morning")]
    return []


def core_words(text: str) -> str:
    """What was said without the filler words around it: "okay keep going please" ->
    "keep going"."""
    words = normalize(text).split()
    while words and words[0] in FILLERS:
        words.pop(0)
    while words and words[-1] in FILLERS:
        words.pop()
    return " ".join(words) or normalize(text)


def in_context(intent: NluIntent, context: SiteContext) -> list[Action] | None:
    """The actions for a phrase whose meaning depends on the site, or None for any other.

    "keep going", "go on", "continue": resume while paused, one more minute near a
    session's end, nothing otherwise. "okay", "yes" on their own: only an answer inside a
    check-in, so nothing here. "no", "no thanks" on their own: decline what a routine is
    offering, nothing when nothing is offered. (Home Assistant forwards no text: then the
    intent stands as recognized.)
    """
    said = core_words(intent.input or "")
    if not said:
        return None
    name = intent.intent.intent_name
    if said in CONTINUE_WORDS and name in (RESUME, MORE):
        if context.paused:
            return [Control("resume")]
        if context.breathing_left is not None and context.breathing_left <= NEAR_END:
            return [Control("more", 1)]
        return []
    if set(said.split()) <= AGREE_WORDS | FILLERS:
        return []
    if said in DECLINE_WORDS and name in (NOT_NOW, SKIP):
        return [Skip("not_now")] if context.offering else []
    return None


def _playlist(value: object, config: Config) -> str | None:
    """A configured playlist matching what was said (compared as recognizers write text)."""
    if not isinstance(value, str):
        return None
    known = {normalize(p): p for p in (config.cooldown.playlist, *config.cooldown.playlists)}
    # Rhasspy drops some punctuation from values: compare as recognizers write text.
    return known.get(normalize(value))


def _preferences(
    intent: NluIntent, config: Config, patterns: Collection[str], routines: Collection[str]
) -> tuple[tuple[str, object], ...]:
    changes: list[tuple[str, object]] = []
    routine = slot(intent, "routine")
    if isinstance(routine, str) and routine in routines:
        changes.append(("routine", routine))
    pattern = slot(intent, "pattern")
    if isinstance(pattern, str) and pattern in patterns:
        changes.append(("pattern", pattern))
    style = slot(intent, "style")
    if style in CUE_STYLES:
        changes.append(("style", style))
    quiet = slot(intent, "quiet")
    if quiet in ("on", "off"):
        changes.append(("quiet", quiet == "on"))
    playlist = _playlist(slot(intent, "playlist"), config)
    if playlist:
        changes.append(("playlist", playlist))
    names = tuple(
        n for n in (slot(intent, "name"), slot(intent, "other_name")) if isinstance(n, str) and n
    )
    if names:
        changes.append(("names", names))
    return tuple(changes)


def _breathe(
    intent: NluIntent, config: Config, patterns: Collection[str], prefs: Preferences
) -> StartBreathing:
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
        key = keys.breathing_minutes_limit(minutes)
        notices.append(Say(key, (("minutes", minutes),)))
    length: float | None = float(minutes) if minutes is not None else None
    if length is None and rounds is None:
        length = config.breathing.minutes
    preferred = prefs.pattern if prefs.pattern in patterns else None
    style = slot(intent, "style")
    return StartBreathing(
        pattern=chosen or preferred or config.breathing.pattern,
        minutes=length,
        rounds=rounds,
        notices=tuple(notices),
        style=style if isinstance(style, str) and style in CUE_STYLES else prefs.style,
    )


def _more(intent: NluIntent) -> Control:
    minutes = _whole(slot(intent, "minutes"))
    if minutes is None:
        return Control("more", 1)
    if MORE_RANGE[0] <= minutes <= MORE_RANGE[1]:
        return Control("more", minutes)
    minutes = _clamp(minutes, MORE_RANGE)
    key = keys.breathing_minutes_limit(minutes)
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
