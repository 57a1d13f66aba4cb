"""The skill's shared words: every part that names one of these uses the enum, never a string."""

from __future__ import annotations

from enum import StrEnum


class CueStyle(StrEnum):
    """How each breathing phase is marked."""

    VOICE = "voice"
    """A short spoken cue."""
    CHIME = "chime"
    """A chime only, no words."""
    BOTH = "both"
    """A chime, then the spoken cue."""
    FEWER_WORDS = "fewer-words"
    """Spoken cues for the first rounds, then chimes only."""


class Need(StrEnum):
    """Things people may ask for; each is acknowledged, and may run a device action."""

    WATER = "water"
    BLANKET = "blanket"
    SNACK = "snack"
    TOWEL = "towel"
    TISSUES = "tissues"
    COLD_PACK = "cold_pack"
    QUIET = "quiet"
    CUDDLE = "cuddle"
    SPACE = "space"


class Intent(StrEnum):
    """Every intent the skill answers, by its name on hermes/intent/<name>."""

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
    PLAN = "AftercarePlan"
    PLAN_RECALL = "AftercarePlanRecall"
    PLAN_ANSWER = "AftercarePlanAnswer"


CONTEXT_ONLY: frozenset[str] = frozenset({Intent.PLAN_ANSWER})
"""Intents that mean something only as an answer: recognized only when a listening
session names them in its intent filter ("water and a blanket" while planning)."""


class Activity(StrEnum):
    """What a site is doing: at most one activity at a time."""

    IDLE = "idle"
    ROUTINE = "routine"
    BREATHING = "breathing"
    COOLDOWN = "cooldown"
    PLANNING = "planning"


class PhaseName(StrEnum):
    """The phases of a breath, as patterns name them."""

    INHALE = "inhale"
    TOP_UP = "top-up"
    HOLD = "hold"
    EXHALE = "exhale"
    REST = "rest"
