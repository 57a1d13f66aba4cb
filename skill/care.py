"""Care: what the skill does when someone says how they feel or what they need.

Pure: an answer in, a reply out. It never diagnoses and never asks why.
"""

from __future__ import annotations

from dataclasses import dataclass

from skill import keys

FEELINGS = keys.FEELINGS
"""Values of the `feeling` slot (each has a reply at `feeling.<name>`)."""
NEEDS = keys.NEEDS
"""Values of the `need` slot (each has a reply at `need.<name>`)."""
HEAVY = frozenset({"sad", "anxious", "not_okay"})
"""Feelings after which everything slows down (and nothing probes)."""


@dataclass(frozen=True)
class CareReply:
    """How to answer one feeling or need."""

    key: str | None
    """Response key to say, or None for nothing."""
    slow_down: bool = False
    """A running routine takes it slower from here (longer silences, no journal prompt)."""
    quiet: bool = False
    """Everything running goes on without words."""
    stop: bool = False
    """Stop everything first (someone may be hurt)."""
    need: str | None = None
    """A need whose configured device action should run."""


def feeling_reply(feeling: str) -> CareReply:
    """The reply to a feeling; an unknown one is treated as "okay"."""
    if feeling == "hurt":
        # Plainly: it is okay to stop everything and get help.
        return CareReply(keys.FEELING_HURT, stop=True)
    if feeling in HEAVY:
        return CareReply(keys.feeling(feeling), slow_down=True)
    return CareReply(keys.feeling(feeling if feeling in FEELINGS else "okay"))


def need_reply(need: str) -> CareReply | None:
    """The reply to a need (None for one the skill does not know)."""
    if need not in NEEDS:
        return None
    return CareReply(keys.need(need), quiet=need == "quiet", need=need)


def quiet_reply() -> CareReply:
    """ "No talking": acknowledge once, then everything goes on without words."""
    return CareReply("quiet.ack", quiet=True)
