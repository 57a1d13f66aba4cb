"""When a follow-up is due: pure calendar math on an injected `now` and time zone.

Decisions, in local time of the zone `tz`:

- **A day starts at 05:00.** Before then the person has not slept yet, so a
  "morning" follow-up asked at 02:00 is the coming morning (today's date, 9:00),
  while one asked at 23:30 or at 07:00 is tomorrow's 9:00.
- **"tonight"** is today's `tonight` time (21:00) when that is still at least
  30 minutes ahead and it is past 05:00; otherwise (already evening, or after
  midnight) it is "later tonight": two hours from now.
- Every due time is at least 30 minutes ahead; a morning time closer than that
  moves to the following day.
- **Daylight saving.** A local time that does not exist (skipped in spring)
  moves forward by the gap, so 02:30 becomes 03:30; a local time that happens
  twice (autumn) is its first occurrence, or its second if the first has passed.

With the default times a follow-up is due between 30 minutes and 28 hours from now
(29 across an autumn change).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DAY_STARTS", "KINDS", "LATER_TONIGHT", "MIN_AHEAD", "local_zone", "next_due"]

KINDS: Final = ("morning", "tonight")
"""Follow-up kinds, as stored and as the intents name them."""

DAY_STARTS: Final = time(5, 0)
"""Local time before which "morning" still means the coming morning."""

MIN_AHEAD: Final = timedelta(minutes=30)
"""A scheduled local time closer than this is skipped."""

LATER_TONIGHT: Final = timedelta(hours=2)
"""Delay of a "tonight" follow-up asked when the tonight time is (nearly) past."""

_LOCALTIME = Path("/etc/localtime")


def next_due(
    kind: str,
    now: datetime,
    *,
    tz: tzinfo,
    morning: time = time(9, 0),
    tonight: time = time(21, 0),
) -> datetime:
    """The instant (aware, UTC) a follow-up of `kind` asked at `now` is due."""
    if kind not in KINDS:
        raise ValueError(f"unknown follow-up kind {kind!r}; choose one of: {', '.join(KINDS)}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware; pass datetime.now(UTC)")
    now = now.astimezone(UTC)
    local = now.astimezone(tz)
    before_day_start = local.time() < DAY_STARTS
    if kind == "morning":
        first_day = local.date() if before_day_start else local.date() + timedelta(days=1)
        return _first_at_or_after(first_day, morning, tz, now + MIN_AHEAD)
    if not before_day_start:
        for instant in _instants(local.date(), tonight, tz):
            if instant >= now + MIN_AHEAD:
                return instant
    return now + LATER_TONIGHT


def local_zone(name: str | None) -> tzinfo:
    """The zone called `name` (IANA, e.g. "Europe/Berlin"), or the system's zone for None."""
    if name is None:
        return _system_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin' or "
            "'America/New_York', or leave it empty for the system's zone"
        ) from err


def _first_at_or_after(day: date, at: time, tz: tzinfo, earliest: datetime) -> datetime:
    """The first instant of local time `at` on `day` or later that is not before `earliest`."""
    # Two days always suffice: `at` exists at least once on every day but the rare
    # one a zone skips entirely, and `earliest` is at most a day past `day`'s start.
    for offset in range(3):
        for instant in _instants(day + timedelta(days=offset), at, tz):
            if instant >= earliest:
                return instant
    raise AssertionError("unreachable: a local time recurs within three days")


def _instants(day: date, at: time, tz: tzinfo) -> list[datetime]:
    """The UTC instants of local time `at` on `day`: one, or two in an autumn overlap."""
    first = datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=tz)
    second = first.replace(fold=1)
    if first.utcoffset() == second.utcoffset():
        return [first.astimezone(UTC)]
    # fold=0 in a spring gap uses the offset from before the change, which moves the
    # wall time forward by the gap (02:30 -> 03:30). Only a real overlap has two instants.
    shifted = first.astimezone(UTC)
    if shifted.astimezone(tz).replace(tzinfo=None) != first.replace(tzinfo=None):
        return [shifted]
    return sorted({shifted, second.astimezone(UTC)})


def _system_zone() -> tzinfo:
    """The system's zone: $TZ, then /etc/localtime, then today's fixed UTC offset."""
    # A ZoneInfo knows about daylight saving; the fixed offset of
    # `datetime.now().astimezone()` goes stale at the next change, so it is the last resort.
    key = os.environ.get("TZ", "").removeprefix(":")
    if key:
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass  # a POSIX rule such as "CET-1CEST"; the C library's offset below is right
    elif _LOCALTIME.is_file():
        try:
            with _LOCALTIME.open("rb") as file:
                return ZoneInfo.from_file(file, key="localtime")
        except (ValueError, OSError):
            pass
    zone = datetime.now().astimezone().tzinfo
    return zone if zone is not None else UTC
