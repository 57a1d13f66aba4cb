"""Pure intent handling: an NluIntent in, a list of things that should happen out."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from rhasspyhermes.intent import Intent as HermesIntent
from rhasspyhermes.nlu import NluIntent

from skill.base.text import normalize
from skill.base.vocabulary import CueStyle, Intent
from skill.care.plan import Plan
from skill.care.replies import (
    feeling_reply,
    help_reply,
    most_serious,
    need_reply,
    quiet_reply,
)
from skill.care.store import Preferences
from skill.config.settings import Config
from skill.hermes.messages import slot, slot_values
from skill.language import keys
from skill.language.responses import Say
from skill.site.actions import (
    Action,
    CancelFollowUp,
    Care,
    Caution,
    Control,
    Forget,
    MusicOff,
    Prefer,
    Recall,
    RecallPlan,
    ScheduleFollowUp,
    Skip,
    StartBreathing,
    StartCooldown,
    StartPlanning,
    StartRoutine,
    StopAll,
)

INTENTS: tuple[Intent, ...] = tuple(Intent)
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
        Intent.STOP: StopAll(),
        Intent.RECALL: Recall(),
        Intent.FORGET: Forget(),
        Intent.CANCEL_FOLLOW_UP: CancelFollowUp(),
        Intent.QUIET: Care(quiet_reply()),
        Intent.AFFIRM: Say(keys.AFFIRM),
        Intent.SLOWER: Control("slower"),
        Intent.FASTER: Control("faster"),
        Intent.PAUSE: Control("pause"),
        Intent.RESUME: Control("resume"),
        Intent.HELP: Care(help_reply()),
        Intent.SKIP: Skip(),
        Intent.NOT_NOW: Skip("not_now"),
        Intent.MUSIC_OFF: MusicOff(),
        Intent.CAUTION: Caution(),
        Intent.PLAN: StartPlanning(),
        Intent.PLAN_RECALL: RecallPlan(),
    }
    if name in simple:
        return [simple[name]]
    if name == Intent.START:
        return _start(intent, prefs, routines)
    if name == Intent.BREATHE:
        return [_breathe(intent, config, patterns, prefs)]
    if name == Intent.COOLDOWN:
        named = _playlist(slot(intent, "playlist"), config)
        if named == config.cooldown.playlist and prefs.playlist:
            # "Play cool-down" names the feature as often as the default playlist (it is
            # called "Cool down"): a saved favourite is the site's cool-down music.
            named = None
        return [StartCooldown(named or prefs.playlist or config.cooldown.playlist)]
    if name == Intent.MORE:
        return [_more(intent)]
    if name == Intent.FEELING:
        # "fine but sore": the most serious feeling said decides the reply.
        return [Care(feeling_reply(most_serious(slot_values(intent, "feeling"))))]
    if name == Intent.NEED:
        need = slot(intent, "need")
        reply = need_reply(need) if isinstance(need, str) else None
        return [Care(reply)] if reply else []
    if name == Intent.PREFER:
        return [Prefer(_preferences(intent, config, patterns, routines))]
    if name == Intent.FOLLOW_UP:
        when = slot(intent, "when")
        return [ScheduleFollowUp(when if when in ("morning", "tonight") else "morning")]
    return []


def _start(intent: NluIntent, prefs: Preferences, routines: Collection[str]) -> list[Action]:
    """ "start aftercare": the routine named, else the plan made together, else the one
    preferred (in quiet mode when the site prefers fewer words), else the short one."""
    routine = slot(intent, "routine")
    chosen = routine if isinstance(routine, str) and routine in routines else None
    preferred = prefs.routine if prefs.routine in routines else None
    routine_name = chosen or preferred or "short"
    if chosen is None and prefs.plan is not None:
        return _planned(prefs.plan, prefs.playlist)
    return [
        StartRoutine(
            routine_name,
            # Quiet mode: the quiet routine always (its soft lines still come), any
            # other when the site prefers fewer words.
            quiet=routine_name == "quiet" or (chosen is None and bool(prefs.quiet)),
            playlist=prefs.playlist,
        )
    ]


def _planned(plan: Plan, playlist: str | None) -> list[Action]:
    """ "start aftercare" with a plan: the routine assembled from it, and the check-in it
    chose scheduled without asking again."""
    start = StartRoutine(
        "plan",
        quiet=plan.words == "quiet",
        playlist=plan.playlist or playlist,
        plan=plan,
    )
    if plan.later in ("tonight", "morning"):
        return [ScheduleFollowUp(plan.later, announce=False), start]
    return [start]


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
    if said in CONTINUE_WORDS and name in (Intent.RESUME, Intent.MORE):
        if context.paused:
            return [Control("resume")]
        if context.breathing_left is not None and context.breathing_left <= NEAR_END:
            return [Control("more", 1)]
        return []
    if set(said.split()) <= AGREE_WORDS | FILLERS:
        return []
    if said in DECLINE_WORDS and name in (Intent.NOT_NOW, Intent.SKIP):
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
    if style in tuple(CueStyle):
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
        style=_style(style) or _style(prefs.style),
    )


def _style(value: object) -> CueStyle | None:
    """A cue style said or stored, or None when it is none of them."""
    return CueStyle(value) if isinstance(value, str) and value in tuple(CueStyle) else None


def _more(intent: NluIntent) -> Control:
    minutes = _whole(slot(intent, "minutes"))
    if minutes is None:
        return Control("more", 1)
    if MORE_RANGE[0] <= minutes <= MORE_RANGE[1]:
        return Control("more", minutes)
    minutes = _clamp(minutes, MORE_RANGE)
    key = keys.breathing_minutes_limit(minutes)
    return Control("more", minutes, (Say(key, (("minutes", minutes),)),))


BUTTONS: Mapping[str, Intent] = MappingProxyType(
    {
        "stop": Intent.STOP,
        "start_aftercare": Intent.START,
        "start_breathing": Intent.BREATHE,
        "cooldown": Intent.COOLDOWN,
    }
)
"""Each Home Assistant button and the request it stands for."""


def button_intent(command: str, site_id: str) -> NluIntent | None:
    """A button press as the request it stands for ("start aftercare" said with no more
    words), so it is decided exactly like the spoken one, saved preferences included;
    None for a command no button sends."""
    name = BUTTONS.get(command)
    if name is None:
        return None
    return NluIntent(
        input=command,
        intent=HermesIntent(intent_name=name, confidence_score=1.0),
        site_id=site_id,
    )
