"""Numbers and times as the voice should say them: words, never digits.

Piper reads "911" as "nine hundred eleven" and "23:10" in ways nobody says at a
bedside; every value that goes into a spoken line comes through here first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

_ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number(value: int) -> str:
    """A whole number from 0 to 999 in words: 42 -> "forty-two"; others as digits."""
    if not 0 <= value < 1000:
        return str(value)
    if value < 20:
        return _ONES[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(value, 100)
    return f"{_ONES[hundreds]} hundred" + (f" and {number(rest)}" if rest else "")


def digits(text: str) -> str:
    """Each digit as its own word, as emergency numbers are said: "112" -> "one one two"."""
    return " ".join(_ONES[int(char)] for char in text if char.isdigit())


def _hour(hour: int) -> str:
    return _ONES[(hour % 12) or 12]


def _part_of_day(hour: int) -> str:
    if hour < 12:
        return "in the morning"  # "two in the morning", as people say it
    if 12 <= hour < 18:
        return "in the afternoon"
    if 18 <= hour < 22:
        return "in the evening"
    return "at night"


def clock_time(moment: datetime) -> str:
    """The time to the nearest five minutes, as said aloud: "about ten past eleven at night"."""
    minutes = moment.hour * 60 + moment.minute + (1 if moment.second >= 30 else 0)
    minutes = (round(minutes / 5) * 5) % (24 * 60)
    hour, minute = divmod(minutes, 60)
    if minute == 0:
        if hour == 0:
            return "about midnight"
        if hour == 12:
            return "about midday"
        return f"about {_hour(hour)} o'clock {_part_of_day(hour)}"
    if minute <= 30:
        words = {15: "a quarter", 30: "half"}.get(minute, number(minute))
        return f"about {words} past {_hour(hour)} {_part_of_day(hour)}"
    following = (hour + 1) % 24
    words = "a quarter" if minute == 45 else number(60 - minute)
    if following == 0:
        return f"about {words} to midnight"
    if following == 12:
        return f"about {words} to midday"
    return f"about {words} to {_hour(following)} {_part_of_day(following)}"


def alternatives(names: Sequence[str]) -> str:
    """Choices as said: "Cool down", "Cool down or Rain sounds", "A, B or C"."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]
