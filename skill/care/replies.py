"""Care: what the skill does when someone says how they feel or what they need.

Pure: an answer in, a reply out. It never diagnoses, never asks why, and never
guesses what happened. The hardest answers stop everything first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from skill.language import keys, spoken

FEELINGS = keys.FEELINGS
"""Values of the `feeling` slot, least to most serious (each has a reply at `feeling.<name>`)."""
NEEDS = keys.NEEDS
"""Values of the `need` slot (each has a reply at `need.<name>`)."""
STOPPING = frozenset({"hurt", "unsafe"})
"""Feelings after which everything stops at once: speech, breathing, music."""
HEAVY = frozenset(
    {"sad", "anxious", "ashamed", "drop", "tearful", "numb", "not_okay", "sore", "unsafe"}
)
"""Feelings after which a routine really slows: longer silences, no gratitude, affirmation,
reflection or `together` steps, and one line offering a check-in later."""


@dataclass(frozen=True)
class CareReply:
    """How to answer one feeling or need."""

    lines: tuple[str, ...] = ()
    """Response keys to say, in order (none: say nothing)."""
    slow_down: bool = False
    """A running routine really slows from here (see HEAVY)."""
    quiet: bool = False
    """Everything running goes on without words."""
    stop: bool = False
    """Stop everything first (someone may be hurt or unsafe)."""
    need: str | None = None
    """A need whose configured device action should run."""


def most_serious(feelings: Iterable[str]) -> str:
    """The feeling that decides the reply when one answer holds several ("fine but sore")."""
    known = [f for f in feelings if f in FEELINGS]
    return max(known, key=FEELINGS.index) if known else "okay"


def feeling_reply(feeling: str) -> CareReply:
    """The reply to a feeling; an unknown one is treated as "okay"."""
    if feeling == "hurt":
        # Says what it did, then the one fixed line about help: the speaker calls no one.
        return CareReply((keys.FEELING_HURT, keys.HELP_CALL), stop=True)
    if feeling in STOPPING:
        return CareReply((keys.feeling(feeling),), stop=True)
    if feeling in HEAVY:
        return CareReply((keys.feeling(feeling),), slow_down=True)
    return CareReply((keys.feeling(feeling if feeling in FEELINGS else "okay"),))


def need_reply(need: str) -> CareReply | None:
    """The reply to a need (None for one the skill does not know)."""
    if need not in NEEDS:
        return None
    # Space: the voice goes quiet too; closeness can wait until everyone is ready.
    quiet = need in ("quiet", "space")
    return CareReply((keys.need(need),), quiet=quiet, need=need)


def help_reply() -> CareReply:
    """ "Help", "call an ambulance": everything stops; the one line about where help is."""
    return CareReply((keys.HELP_CALL,), stop=True)


def where_help_is(emergency_number: str | None) -> str:
    """How the help line names where help is: the number digit by digit, or a general
    "your local emergency number" (the speaker cannot know the country)."""
    return spoken.digits(emergency_number) if emergency_number else "your local emergency number"


def quiet_reply() -> CareReply:
    """ "No talking": acknowledge once, then everything goes on without words."""
    return CareReply((keys.QUIET_ACK,), quiet=True)
