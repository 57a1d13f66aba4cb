"""Follow-up time math: a fixed zone, daylight-saving changes, and a property over all zones."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skill.care import followup
from skill.care.followup import KINDS, local_zone, next_due

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(text: str) -> datetime:
    """A Berlin wall time such as "2025-01-15 23:30" (first occurrence when ambiguous)."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def utc(text: str) -> datetime:
    """A UTC time such as "2025-01-16 08:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "kind", "due"),
    [
        # "morning": before 05:00 it is the coming morning, from 05:00 on tomorrow's.
        ("2025-01-15 23:30", "morning", "2025-01-16 09:00"),
        ("2025-01-16 00:10", "morning", "2025-01-16 09:00"),
        ("2025-01-16 02:00", "morning", "2025-01-16 09:00"),
        ("2025-01-16 04:59", "morning", "2025-01-16 09:00"),
        ("2025-01-16 05:00", "morning", "2025-01-17 09:00"),
        ("2025-01-16 08:45", "morning", "2025-01-17 09:00"),
        ("2025-01-16 12:00", "morning", "2025-01-17 09:00"),
        ("2025-12-31 22:00", "morning", "2026-01-01 09:00"),
        ("2025-07-01 23:30", "morning", "2025-07-02 09:00"),
        # "tonight": 21:00 while it is at least 30 minutes ahead, else two hours from now.
        ("2025-01-16 05:00", "tonight", "2025-01-16 21:00"),
        ("2025-01-16 12:00", "tonight", "2025-01-16 21:00"),
        ("2025-01-16 20:30", "tonight", "2025-01-16 21:00"),
        ("2025-01-16 20:31", "tonight", "2025-01-16 22:31"),
        ("2025-01-16 21:00", "tonight", "2025-01-16 23:00"),
        ("2025-01-16 23:30", "tonight", "2025-01-17 01:30"),
        ("2025-01-16 02:00", "tonight", "2025-01-16 04:00"),
        ("2025-07-01 18:00", "tonight", "2025-07-01 21:00"),
    ],
)
def test_due_times_in_a_fixed_zone(now: str, kind: str, due: str) -> None:
    result = next_due(kind, berlin(now), tz=BERLIN)
    assert result == berlin(due)
    assert result.tzinfo is UTC


def test_configured_morning_and_tonight_times() -> None:
    times = {"morning": time(7, 30), "tonight": time(22, 0)}
    assert next_due("morning", berlin("2025-01-15 23:00"), tz=BERLIN, **times) == berlin(
        "2025-01-16 07:30"
    )
    assert next_due("tonight", berlin("2025-01-15 21:00"), tz=BERLIN, **times) == berlin(
        "2025-01-15 22:00"
    )


def test_a_morning_time_less_than_30_minutes_ahead_moves_to_the_next_day() -> None:
    due = next_due("morning", berlin("2025-01-16 04:50"), tz=BERLIN, morning=time(5, 10))
    assert due == berlin("2025-01-17 05:10")


def test_now_in_any_zone_gives_the_same_instant() -> None:
    now = berlin("2025-01-15 23:30")
    elsewhere = now.astimezone(ZoneInfo("America/New_York"))
    assert next_due("morning", elsewhere, tz=BERLIN) == next_due("morning", now, tz=BERLIN)


# Berlin, 2025: clocks go 02:00 -> 03:00 on 30 March and 03:00 -> 02:00 on 26 October.
@pytest.mark.parametrize(
    ("now", "kind", "morning", "due"),
    [
        # The night the clocks go forward is an hour shorter: 9:00 is 8.5 h after 23:30.
        (utc("2025-03-29 22:30"), "morning", time(9, 0), utc("2025-03-30 07:00")),
        # ... and the night they go back an hour longer.
        (utc("2025-10-25 21:30"), "morning", time(9, 0), utc("2025-10-26 08:00")),
        # 02:30 does not exist on 30 March: it moves forward by the gap, to 03:30 CEST.
        (utc("2025-03-29 22:00"), "morning", time(2, 30), utc("2025-03-30 01:30")),
        (utc("2025-03-30 00:30"), "morning", time(2, 30), utc("2025-03-30 01:30")),
        # 02:30 happens twice on 26 October: the first time (CEST) ...
        (utc("2025-10-25 21:00"), "morning", time(2, 30), utc("2025-10-26 00:30")),
        # ... or, once that is less than 30 minutes ahead, the second time (CET).
        (utc("2025-10-26 00:45"), "morning", time(2, 30), utc("2025-10-26 01:30")),
        # ... and once both have passed, the next day's.
        (utc("2025-10-26 01:10"), "morning", time(2, 30), utc("2025-10-27 01:30")),
        # "later tonight" is two real hours, whatever the wall clock does.
        (utc("2025-03-30 00:00"), "tonight", time(9, 0), utc("2025-03-30 02:00")),
        (utc("2025-10-26 00:00"), "tonight", time(9, 0), utc("2025-10-26 02:00")),
        # The evening of a change day is in the new offset.
        (utc("2025-03-30 10:00"), "tonight", time(9, 0), utc("2025-03-30 19:00")),
        (utc("2025-10-26 10:00"), "tonight", time(9, 0), utc("2025-10-26 20:00")),
    ],
)
def test_daylight_saving_changes(now: datetime, kind: str, morning: time, due: datetime) -> None:
    assert next_due(kind, now, tz=BERLIN, morning=morning) == due


def test_unknown_kind_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="choose one of: morning, tonight"):
        next_due("noon", utc("2025-01-15 12:00"), tz=BERLIN)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_due("morning", datetime(2025, 1, 15, 12, 0), tz=BERLIN)


@given(
    now=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
    ),
    kind=st.sampled_from(KINDS),
    tz=st.timezones(),
    morning=st.times(min_value=time(5, 0), max_value=time(12, 0)),
    tonight=st.times(min_value=time(17, 0), max_value=time(23, 59, 59)),
)
def test_due_is_ahead_and_within_36_hours(
    now: datetime, kind: str, tz: tzinfo, morning: time, tonight: time
) -> None:
    due = next_due(kind, now, tz=tz, morning=morning, tonight=tonight)
    assert due.tzinfo is UTC
    assert timedelta(minutes=30) <= due - now <= timedelta(hours=36)


def test_local_zone_by_name() -> None:
    assert local_zone("Europe/Berlin") == BERLIN


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "Europe", "", "../etc/passwd"])
def test_unknown_zone_gives_an_example(name: str) -> None:
    with pytest.raises(ValueError, match="such as 'Europe/Berlin'"):
        local_zone(name)


def test_system_zone_follows_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert local_zone(None) == ZoneInfo("Asia/Tokyo")


def test_system_zone_reads_etc_localtime_and_knows_daylight_saving(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    localtime = tmp_path / "localtime"
    source = Path("/usr/share/zoneinfo/Europe/Berlin")
    if source.exists():
        shutil.copyfile(source, localtime)
    else:  # the tzdata package instead of the system database
        from importlib.resources import files

        localtime.write_bytes(files("tzdata.zoneinfo.Europe").joinpath("Berlin").read_bytes())
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(followup, "_LOCALTIME", localtime)
    zone = local_zone(None)
    assert datetime(2025, 1, 15, 12, tzinfo=zone).utcoffset() == timedelta(hours=1)
    assert datetime(2025, 7, 15, 12, tzinfo=zone).utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize("tz", ["CET-1CEST,M3.5.0,M10.5.0/3", None])
def test_system_zone_falls_back_to_the_current_offset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tz: str | None
) -> None:
    if tz is None:
        monkeypatch.delenv("TZ", raising=False)
    else:
        monkeypatch.setenv("TZ", tz)
    monkeypatch.setattr(followup, "_LOCALTIME", tmp_path / "missing")
    zone = local_zone(None)
    assert zone.utcoffset(datetime.now()) is not None
