"""Every response key the code may ask for; code names what the voice says only through here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from skill.base.vocabulary import Need, PhaseName

# The short routine, in the order it is usually spoken.
ROUTINE_OPENING = "routine.opening"
ROUTINE_WATER = "routine.water"
ROUTINE_WARMTH = "routine.warmth"
ROUTINE_BREATHE_OFFER = "routine.breathe_offer"
ROUTINE_KIND_WORDS = "routine.kind_words"
ROUTINE_CLOSE = "routine.close"

# Said around a breathing session.
BREATHING_SAFETY = "breathing.safety"
BREATHING_HOLD_NOTE = "breathing.hold_note"
BREATHING_TOGETHER_FADE = "breathing.together_fade"
BREATHING_CLOSE = "breathing.close"
BREATHING_REST_CLOSE = "breathing.rest_close"
BREATHING_STEP_CLOSE = "breathing.step_close"
"""The end of a breathing stretch inside a routine: not a goodbye (the routine has one)."""

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

# More routine lines; routines in skill/routines/routines.yaml choose which ones they speak.
ROUTINE_SETTLE_IN = "routine.settle_in"
ROUTINE_SNACK = "routine.snack"
ROUTINE_CLEAN_UP = "routine.clean_up"
ROUTINE_MUSIC_OFFER = "routine.music_offer"
ROUTINE_JOURNAL_INTRO = "routine.journal_intro"
ROUTINE_FOLLOWUP_OFFER = "routine.followup_offer"
ROUTINE_QUIET_OPENING = "routine.quiet_opening"
ROUTINE_QUIET_CLOSE = "routine.quiet_close"
ROUTINE_SLOW_DOWN = "routine.slow_down"

# Questions; the speaker listens for an answer right after each one.
CHECKIN_FEELING = "checkin.feeling"
CHECKIN_NEED = "checkin.need"
CHECKIN_MORNING = "checkin.morning"
CHECKIN_TONIGHT = "checkin.tonight"

CHECKIN_KEYS: frozenset[str] = frozenset(
    {CHECKIN_FEELING, CHECKIN_NEED, CHECKIN_MORNING, CHECKIN_TONIGHT, "caution.ask"}
)
"""Questions after which the speaker listens; no reassurance comes before the question."""

FEELINGS: tuple[str, ...] = (
    "good",
    "okay",
    "tired",
    "sad",
    "anxious",
    "ashamed",
    "drop",
    "tearful",
    "numb",
    "not_okay",
    "sore",
    "unsafe",
    "hurt",
)
"""Answers to a check-in with a spoken reply at ``feeling.<name>``, least to most serious:
when one answer holds several, the last of them in this order decides the reply."""

FEELING_HURT = "feeling.hurt"
FEELING_UNSAFE = "feeling.unsafe"
FEELING_NUMB = "feeling.numb"

NEEDS: tuple[str, ...] = tuple(Need)
"""Things people may ask for, each acknowledged at ``need.<name>``; the speaker fetches nothing."""


# Short replies and lines said on request.
QUIET_ACK = "quiet.ack"
NOTNOW_ACK = "notnow.ack"
"""A declined question or offer ("not now", "skip", "no thanks"): a word or two."""
SKIP_NOTHING = "skip.nothing"
MUSIC_OFF = "music.off"
CHECKIN_UNCLEAR = "checkin.unclear"
"""An answer to a check-in that was heard but not understood."""

# Hard moments. Each line is fixed and short; see docs/voice.md, "Hard moments".
HELP_CALL = "help.call"
"""The speaker cannot call anyone; where help is ({where}): one line, always the same."""
CAUTION_ASK = "caution.ask"
"""After a caution word: everything is paused; how is everyone? (listens)"""
CAUTION_WAITING = "caution.waiting"
"""Still paused after the answer: how to go on."""
CAUTION_RESUMED = "caution.resumed"
AFFIRM = "affirm"
JOURNAL_PROMPT = "journal.prompt"

# Remembered preferences: saving, reading back (intro, known items, outro) and erasing.
PREFER_SAVED = "prefer.saved"
PREFER_NAME_SAVED = "prefer.name_saved"
RECALL_NONE = "recall.none"
RECALL_INTRO = "recall.intro"
RECALL_ROUTINE = "recall.routine"
RECALL_PATTERN = "recall.pattern"
RECALL_STYLE = "recall.style"
RECALL_QUIET = "recall.quiet"
RECALL_PLAYLIST = "recall.playlist"
RECALL_NAMES = "recall.names"
RECALL_OUTRO = "recall.outro"
FORGET_DONE = "forget.done"

# A later check-in: scheduled, cancelled, or nothing to cancel.
FOLLOWUP_MORNING = "followup.morning"
FOLLOWUP_TONIGHT = "followup.tonight"
FOLLOWUP_CANCELLED = "followup.cancelled"
FOLLOWUP_NONE = "followup.none"

# Planning aftercare together beforehand: the questions, short acknowledgements, and the
# plan read back. Parts and items are phrases the read-back joins ("mostly quiet").
PLAN_OPEN = "plan.open"
PLAN_NOTED = "plan.noted"
PLAN_SKIPPED = "plan.skipped"
PLAN_UNCLEAR = "plan.unclear"
PLAN_REST_LATER = "plan.rest_later"
"""Two questions went unanswered: the rest waits for another time."""
PLAN_READBACK = "plan.readback"
PLAN_BOTH = "plan.both"
PLAN_READY = "plan.ready"
PLAN_EMPTY = "plan.empty"
PLAN_NONE = "plan.none"
ROUTINE_LATER_MORNING = "routine.later_morning"
ROUTINE_LATER_TONIGHT = "routine.later_tonight"
PLAN_QUESTIONS: tuple[str, ...] = (
    "words",
    "nearby",
    "music",
    "breathing",
    "lights",
    "later",
    "leave_out",
)
"""The planning questions in the order asked, each at ``plan.ask.<question>``."""
PLAN_PARTS: tuple[str, ...] = (
    "words",
    "quiet",
    "few",
    "music",
    "soft_music",
    "no_music",
    "breathing",
    "no_breathing",
    "dim",
    "leave_lights",
    "tonight",
    "morning",
    "no_later",
    "no_questions",
    "no_kind_words",
    "no_offers",
)
"""Phrases of a plan read back, each at ``plan.part.<part>``."""
PLAN_ITEMS: tuple[str, ...] = ("water", "snack", "blanket", "towel", "tissues")
"""Things to have nearby, each said at ``plan.item.<item>`` ("some water")."""


def plan_ask(question: str) -> str:
    """The key of a planning question, e.g. ``plan.ask.music``."""
    return "plan.ask." + _known("planning question", question, PLAN_QUESTIONS)


def plan_part(part: str) -> str:
    """The key of one phrase of a plan read back, e.g. ``plan.part.no_music``."""
    return "plan.part." + _known("plan part", part, PLAN_PARTS)


def plan_item(item: str) -> str:
    """The key of a thing to have nearby, e.g. ``plan.item.blanket``."""
    return "plan.item." + _known("plan item", item, PLAN_ITEMS)


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

CUE_PHASES: tuple[str, ...] = tuple(PhaseName)
"""Breathing phases with a spoken cue at ``cue.<phase>`` (``top-up`` becomes ``cue.top_up``)."""


def _known(what: str, value: str, allowed: tuple[str, ...]) -> str:
    """`value` itself when it is one of `allowed`; a ValueError listing them otherwise."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(allowed)}")
    return value


def breathing_intro(pattern: str) -> str:
    """The key of the spoken introduction to a breathing pattern, e.g. ``breathing.intro.box``."""
    return "breathing.intro." + _known("breathing pattern", pattern, BREATHING_PATTERNS)


def cue(phase: str) -> str:
    """The key of the cue spoken at the start of a breathing phase, e.g. ``cue.top_up``."""
    return "cue." + _known("breathing phase", phase, CUE_PHASES).replace("-", "_")


def feeling(name: str) -> str:
    """The key of the reply to a check-in answer, e.g. ``feeling.not_okay``."""
    return "feeling." + _known("feeling", name, FEELINGS)


def need(name: str) -> str:
    """The key acknowledging something asked for, e.g. ``need.cold_pack``."""
    return "need." + _known("need", name, NEEDS)


OFFERS: tuple[str, ...] = ("water", "warmth", "snack", "clean_up", "tissues")
"""Things a routine can offer, each said at ``routine.<offer>``."""
CHECKIN_QUESTIONS: tuple[str, ...] = ("feeling", "need")
"""Questions a routine asks and then listens, each at ``checkin.<question>``."""


def offer(name: str) -> str:
    """The key of a routine's offer, e.g. ``routine.water``."""
    return "routine." + _known("offer", name, OFFERS)


def checkin(question: str) -> str:
    """The key of a check-in question a routine asks, e.g. ``checkin.feeling``."""
    return "checkin." + _known("check-in question", question, CHECKIN_QUESTIONS)


def is_quiet_line(key: str) -> bool:
    """True for the lines meant for quiet routines (``routine.quiet_...``, and the one line
    saying a planned check-in will come): in a quiet routine they are said, and the other
    words give way to them."""
    return key.startswith("routine.quiet_") or key.startswith("routine.later_")


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
        PREFER_NAME_SAVED: frozenset({"name"}),
        RECALL_ROUTINE: frozenset({"routine"}),
        RECALL_PATTERN: frozenset({"pattern"}),
        RECALL_STYLE: frozenset({"style"}),
        RECALL_PLAYLIST: frozenset({"playlist"}),
        RECALL_NAMES: frozenset({"names"}),
        HELP_CALL: frozenset({"where"}),
        FEELING_NUMB: frozenset({"time"}),
        plan_ask("music"): frozenset({"playlists"}),
        PLAN_READBACK: frozenset({"plan"}),
        PLAN_READY: frozenset({"items"}),
        plan_part("music"): frozenset({"playlist"}),
        plan_part("soft_music"): frozenset({"playlist"}),
        plan_part("breathing"): frozenset({"pattern"}),
    }
)
"""Values each key needs in ``pick``; every variant uses exactly these, keys not listed use none."""

CUE_KEYS: frozenset[str] = frozenset(cue(phase) for phase in CUE_PHASES)
"""Every breathing cue key; each has exactly one very short variant."""

FEELING_KEYS: frozenset[str] = frozenset(feeling(name) for name in FEELINGS)
"""Every reply to a check-in answer."""

NEED_KEYS: frozenset[str] = frozenset(need(name) for name in NEEDS)
"""Every acknowledgement of something asked for."""

ALL_KEYS: frozenset[str] = frozenset(
    {
        ROUTINE_OPENING,
        ROUTINE_WATER,
        ROUTINE_WARMTH,
        ROUTINE_BREATHE_OFFER,
        ROUTINE_KIND_WORDS,
        ROUTINE_CLOSE,
        ROUTINE_SETTLE_IN,
        ROUTINE_SNACK,
        ROUTINE_CLEAN_UP,
        ROUTINE_MUSIC_OFFER,
        ROUTINE_JOURNAL_INTRO,
        ROUTINE_FOLLOWUP_OFFER,
        ROUTINE_QUIET_OPENING,
        ROUTINE_QUIET_CLOSE,
        ROUTINE_SLOW_DOWN,
        BREATHING_SAFETY,
        BREATHING_HOLD_NOTE,
        BREATHING_TOGETHER_FADE,
        BREATHING_CLOSE,
        BREATHING_REST_CLOSE,
        BREATHING_STEP_CLOSE,
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
        QUIET_ACK,
        NOTNOW_ACK,
        SKIP_NOTHING,
        MUSIC_OFF,
        CHECKIN_UNCLEAR,
        HELP_CALL,
        CAUTION_ASK,
        CAUTION_WAITING,
        CAUTION_RESUMED,
        AFFIRM,
        JOURNAL_PROMPT,
        PREFER_SAVED,
        PREFER_NAME_SAVED,
        RECALL_NONE,
        RECALL_INTRO,
        RECALL_ROUTINE,
        RECALL_PATTERN,
        RECALL_STYLE,
        RECALL_QUIET,
        RECALL_PLAYLIST,
        RECALL_NAMES,
        RECALL_OUTRO,
        FORGET_DONE,
        FOLLOWUP_MORNING,
        FOLLOWUP_TONIGHT,
        FOLLOWUP_CANCELLED,
        FOLLOWUP_NONE,
        PLAN_OPEN,
        PLAN_NOTED,
        PLAN_SKIPPED,
        PLAN_UNCLEAR,
        PLAN_REST_LATER,
        PLAN_READBACK,
        PLAN_BOTH,
        PLAN_READY,
        PLAN_EMPTY,
        PLAN_NONE,
        ROUTINE_LATER_MORNING,
        ROUTINE_LATER_TONIGHT,
        COOLDOWN_START,
        COOLDOWN_NO_PLAYER,
        STOP_DONE,
        ERROR_GENERIC,
    }
    | {breathing_intro(pattern) for pattern in BREATHING_PATTERNS}
    | CUE_KEYS
    | CHECKIN_KEYS
    | FEELING_KEYS
    | NEED_KEYS
    | {offer(name) for name in OFFERS}
    | {plan_ask(question) for question in PLAN_QUESTIONS}
    | {plan_part(part) for part in PLAN_PARTS}
    | {plan_item(item) for item in PLAN_ITEMS}
)
"""Every key the code may ask for, every intro, cue, feeling and need; every language has all."""
