"""An aftercare plan made together beforehand: what people chose, and how two wishes meet.

A plan holds only choices from fixed sets (never what was said) and is kept in the private
store as JSON, with the site's other preferences. Every field may be unset: a question
skipped leaves the routine's usual behaviour for that part.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

WORDS: Final = ("words", "quiet", "few")
"""How much the voice talks: some soft words, mostly quiet, or (two wishes) just a few."""
MUSIC: Final = ("music", "soft", "none")
"""Music afterwards: yes, softly (two wishes), or silence."""
LIGHTS: Final = ("dim", "leave")
LATER: Final = ("tonight", "morning", "none")
ITEMS: Final = ("water", "snack", "blanket", "towel", "tissues")
"""Things to have nearby."""
LEAVE_OUT: Final = ("questions", "kind_words", "offers")
"""Parts of a routine that can be left out, beyond breathing and music (their own fields)."""
ANY_PATTERN: Final = "yes"
"""`breathing`: yes, in the routine's usual pattern (none was named)."""
NO_BREATHING: Final = "none"
MAX_NAME: Final = 100
"""Longest playlist or pattern name kept, in characters."""

# The gentlest form of two different wishes for one part of the plan.
_GENTLER: Final[Mapping[str, Mapping[frozenset[str], str]]] = {
    "words": {frozenset({"words", "quiet"}): "few", frozenset({"few", "words"}): "few"},
    "music": {frozenset({"music", "none"}): "soft", frozenset({"soft", "none"}): "soft"},
    "lights": {frozenset({"dim", "leave"}): "leave"},
    "later": {frozenset({"tonight", "morning"}): "tonight"},
}


@dataclass(frozen=True)
class Plan:
    """What people chose for afterwards; None (or empty) means "not said"."""

    words: str | None = None
    """One of WORDS."""
    nearby: tuple[str, ...] | None = None
    """Items from ITEMS to have nearby; () when they said nothing is needed."""
    music: str | None = None
    """One of MUSIC."""
    playlist: str | None = None
    """The playlist chosen (None: the site's or config's)."""
    breathing: str | None = None
    """A pattern name, ANY_PATTERN, or NO_BREATHING."""
    lights: str | None = None
    """One of LIGHTS."""
    later: str | None = None
    """One of LATER."""
    leave_out: tuple[str, ...] = ()
    """Parts from LEAVE_OUT to leave out."""
    both: bool = False
    """An answer named two different wishes; the plan keeps the gentler form of each."""

    def is_empty(self) -> bool:
        """True when nothing was chosen."""
        return replace(self, both=False) == Plan()

    def to_json(self) -> str:
        """The plan as compact JSON for the store."""
        data: dict[str, object] = {
            name: value
            for name, value in self.__dict__.items()
            if value is not None and value != () and value is not False
        }
        if self.nearby == ():
            data["nearby"] = []
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """A plan stored by `to_json`; a ValueError for anything else."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a plan must be a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown plan fields: {', '.join(sorted(unknown))}")
        nearby = data.get("nearby")
        return cls(
            words=_one_of(data.get("words"), WORDS, "words"),
            nearby=None if nearby is None else _items(nearby, ITEMS, "nearby"),
            music=_one_of(data.get("music"), MUSIC, "music"),
            playlist=_name(data.get("playlist"), "playlist"),
            breathing=_name(data.get("breathing"), "breathing"),
            lights=_one_of(data.get("lights"), LIGHTS, "lights"),
            later=_one_of(data.get("later"), LATER, "later"),
            leave_out=_items(data.get("leave_out", []), LEAVE_OUT, "leave_out"),
            both=_flag(data.get("both", False)),
        )


@dataclass(frozen=True)
class Wish:
    """One person's wishes in an answer, as plan fields and values."""

    values: Mapping[str, str] = field(default_factory=dict)
    """Field name -> value, for words, music, breathing, lights and later."""
    nearby: tuple[str, ...] | None = None
    """Items named (or () for "nothing")."""
    leave_out: tuple[str, ...] = ()
    """Parts to leave out."""
    playlist: str | None = None
    """A playlist named."""

    def is_empty(self) -> bool:
        """True when the wish changes nothing."""
        return not self.values and self.nearby is None and not self.leave_out and not self.playlist


def merged(plan: Plan, wishes: Iterable[Wish]) -> Plan:
    """The plan with one answer's wishes in it. Two different wishes for one part (one
    person's and the other's) become the gentler form of both: a few words for words and
    quiet, soft music for music and silence, the lights left as they are, the earlier
    check-in; a wish to leave something out is kept. Quiet with music means soft music."""
    wishes = [wish for wish in wishes if not wish.is_empty()]
    chosen: dict[str, set[str]] = {}
    nearby: set[str] | None = None
    leave_out = set(plan.leave_out)
    playlist = plan.playlist
    for wish in wishes:
        for name, value in wish.values.items():
            chosen.setdefault(name, set()).add(value)
        if wish.nearby is not None:
            nearby = (nearby or set()) | set(wish.nearby)
        leave_out |= set(wish.leave_out)
        playlist = wish.playlist or playlist
    both = plan.both or (len(wishes) > 1 and _differ(wishes))
    changes: dict[str, object] = {}
    for name, values in chosen.items():
        changes[name] = _settle(name, values)
    if nearby is not None:
        changes["nearby"] = tuple(item for item in ITEMS if item in nearby)
    if (
        both
        and changes.get("music") == "music"
        and changes.get("words", plan.words)
        in (
            "quiet",
            "few",
        )
    ):
        changes["music"] = "soft"  # one asked for quiet, one for music: music, softly
    return replace(
        plan,
        **changes,  # type: ignore[arg-type]
        playlist=playlist,
        leave_out=tuple(part for part in LEAVE_OUT if part in leave_out),
        both=both,
    )


def _differ(wishes: list[Wish]) -> bool:
    """True when two wishes are not the same wish said twice."""
    first = wishes[0]
    return any(wish != first for wish in wishes[1:])


def _settle(name: str, values: set[str]) -> str:
    """One value for a part of the plan from the values wished for it."""
    if len(values) == 1:
        return next(iter(values))
    if name == "breathing":
        named = sorted(values - {NO_BREATHING, ANY_PATTERN})
        # Breathing is always offered first and can be declined then: keep it.
        return named[0] if named else ANY_PATTERN
    if name == "later" and "none" in values:
        return "none"  # a check-in someone declined is not made
    gentler = _GENTLER.get(name, {})
    for pair, value in gentler.items():
        if values <= pair | {value}:
            return value
    return sorted(values)[0]


def _one_of(value: object, allowed: tuple[str, ...], what: str) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise ValueError(f"{what} is {value!r}; expected one of: {', '.join(allowed)}")
    return str(value)


def _items(value: object, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or any(item not in allowed for item in value):
        raise ValueError(f"{what} is {value!r}; expected a list from: {', '.join(allowed)}")
    return tuple(str(item) for item in value)


def _name(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME:
        raise ValueError(f"{what} must be a text of 1 to {MAX_NAME} characters")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"both must be true or false, got {value!r}")
    return value
