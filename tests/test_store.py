"""The private store: round-trips, validation, privacy (modes, erasing) and migrations."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from skill.base.errors import AftercareError
from skill.care import private_file as store_file
from skill.care.private_file import MIGRATIONS, StoreError, erase
from skill.care.store import FollowUp, Preferences, Store

NOW = datetime(2025, 1, 15, 22, 0, tzinfo=UTC)
MORNING = datetime(2025, 1, 16, 8, 0, tzinfo=UTC)
TONIGHT = datetime(2025, 1, 15, 23, 30, tzinfo=UTC)

# Schema version 1 as it shipped, written out by hand so that changes to MIGRATIONS
# cannot quietly change what an old database on someone's nightstand looks like.
SCHEMA_V1 = """
CREATE TABLE preferences (
    site_id TEXT PRIMARY KEY NOT NULL,
    routine TEXT, pattern TEXT, style TEXT,
    quiet INTEGER CHECK (quiet IN (0, 1)),
    playlist TEXT,
    names TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE follow_ups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id TEXT NOT NULL, kind TEXT NOT NULL, due TEXT NOT NULL, created TEXT NOT NULL
);
PRAGMA user_version = 1;
"""


def mode(path: Path) -> int:
    """Permission bits of `path`."""
    return stat.S_IMODE(path.stat().st_mode)


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, to look behind the store's back."""
    return sqlite3.connect(path, isolation_level=None)


@pytest.fixture
def umask() -> Iterator[None]:
    """A umask that lets everybody read new files, so nothing relies on a strict one."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where the database goes: a folder that does not exist yet."""
    return tmp_path / "data" / "aftercare.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    """An open store on a new database."""
    with Store.open(db) as opened:
        yield opened


# --- preferences -------------------------------------------------------------------------


def test_new_store_is_empty_and_up_to_date(store: Store, db: Path) -> None:
    assert store.path == db
    assert store.schema_version == len(MIGRATIONS)
    assert store.preferences("bedroom") == Preferences()
    assert store.preferences("bedroom").is_empty()
    assert store.pending() == []


def test_preferences_round_trip(store: Store) -> None:
    saved = store.update_preferences(
        "bedroom",
        routine="long",
        pattern="box",
        style="chime",
        quiet=True,
        playlist="Rain sounds",
        names=["Sam", "Alex"],
    )
    expected = Preferences("long", "box", "chime", True, "Rain sounds", ("Sam", "Alex"))
    assert saved == expected
    assert store.preferences("bedroom") == expected
    assert not expected.is_empty()


def test_update_changes_only_the_named_fields_and_none_clears(store: Store) -> None:
    store.update_preferences("bedroom", routine="short", quiet=False, names=("Sam",))
    store.update_preferences("bedroom", routine=None, pattern="calm")
    assert store.preferences("bedroom") == Preferences(pattern="calm", quiet=False, names=("Sam",))
    assert store.update_preferences("bedroom", names=None).names == ()
    assert store.update_preferences("bedroom") == Preferences(pattern="calm", quiet=False)


def test_clearing_everything_leaves_no_row(store: Store, db: Path) -> None:
    store.update_preferences("bedroom", quiet=True)
    assert store.update_preferences("bedroom", quiet=None).is_empty()
    with raw(db) as connection:
        assert connection.execute("SELECT count(*) FROM preferences").fetchone() == (0,)


def test_text_is_trimmed(store: Store) -> None:
    saved = store.update_preferences("bedroom", playlist="  Rain  ", names=[" Sam "])
    assert saved == Preferences(playlist="Rain", names=("Sam",))


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"colour": "blue"}, ValueError, r"unknown preference 'colour'; choose from: routine,"),
        ({"quiet": "yes"}, TypeError, "quiet must be true, false or None"),
        ({"quiet": 1}, TypeError, "quiet must be true, false or None"),
        ({"routine": 5}, TypeError, "routine must be a string, got int"),
        ({"style": "   "}, ValueError, "style must be 1 to 100 characters"),
        ({"playlist": "x" * 101}, ValueError, "playlist must be 1 to 100 characters"),
        ({"names": "Sam"}, TypeError, "names must be a tuple of strings, got str"),
        ({"names": ("Sam", 7)}, TypeError, "a name must be a string, got int"),
        ({"names": ("A", "B", "C", "D", "E")}, ValueError, "at most 4 names"),
        ({"names": ("x" * 41,)}, ValueError, "a name must be 1 to 40 characters"),
    ],
)
def test_update_validates(
    store: Store, changes: dict[str, object], error: type[Exception], message: str
) -> None:
    store.update_preferences("bedroom", routine="short")
    with pytest.raises(error, match=message):
        store.update_preferences("bedroom", pattern="box", **changes)
    assert store.preferences("bedroom") == Preferences(routine="short")


def test_limits_are_inclusive(store: Store) -> None:
    names = ("x" * 40, "B", "C", "D")
    assert store.update_preferences("bedroom", names=names).names == names


@pytest.mark.parametrize("site_id", ["", "bed room", "a/b", "#", "x" * 65])
def test_invalid_site_ids_are_refused(store: Store, site_id: str) -> None:
    with pytest.raises(ValueError, match="invalid site id"):
        store.preferences(site_id)
    with pytest.raises(ValueError, match="invalid site id"):
        store.add_follow_up(site_id, "morning", MORNING, now=NOW)


def test_values_are_bound_not_spliced(store: Store) -> None:
    site = "o'brien;--"
    store.update_preferences(site, playlist="'); DROP TABLE preferences;--")
    assert store.preferences(site).playlist == "'); DROP TABLE preferences;--"
    assert store.add_follow_up(site, "morning", MORNING, now=NOW).site_id == site
    assert [f.site_id for f in store.pending()] == [site]


# --- follow-ups --------------------------------------------------------------------------


def test_add_follow_up_returns_it_in_utc(store: Store) -> None:
    due = datetime(2025, 1, 16, 9, 0, 0, 123456, tzinfo=ZoneInfo("Europe/Berlin"))
    follow_up = store.add_follow_up("bedroom", "morning", due, now=NOW)
    assert follow_up.site_id == "bedroom"
    assert follow_up.kind == "morning"
    assert follow_up.due == due
    assert follow_up.due.tzinfo is UTC
    assert follow_up.created == NOW
    assert store.pending() == [follow_up]


def test_one_pending_follow_up_per_site(store: Store) -> None:
    first = store.add_follow_up("bedroom", "tonight", TONIGHT, now=NOW)
    other = store.add_follow_up("lounge", "tonight", TONIGHT, now=NOW)
    second = store.add_follow_up("bedroom", "morning", MORNING, now=NOW)
    assert second.id not in (first.id, other.id)
    assert store.pending() == [other, second]


def test_pending_is_ordered_by_due(store: Store) -> None:
    late = store.add_follow_up("a", "morning", MORNING, now=NOW)
    early = store.add_follow_up("b", "tonight", TONIGHT, now=NOW)
    tie = store.add_follow_up("c", "tonight", TONIGHT, now=NOW)
    assert store.pending() == [early, tie, late]


def test_mark_delivered_removes_it(store: Store) -> None:
    delivered = store.add_follow_up("a", "tonight", TONIGHT, now=NOW)
    kept = store.add_follow_up("b", "morning", MORNING, now=NOW)
    store.mark_delivered(delivered.id)
    assert store.pending() == [kept]
    store.mark_delivered(delivered.id)  # twice, or after a cancel: nothing happens
    store.mark_delivered(12345)
    assert store.pending() == [kept]


def test_ids_are_never_reused(store: Store) -> None:
    old = store.add_follow_up("a", "tonight", TONIGHT, now=NOW)
    store.mark_delivered(old.id)
    new = store.add_follow_up("a", "tonight", TONIGHT, now=NOW)
    assert new.id > old.id
    store.mark_delivered(old.id)  # a late duplicate delivery must not remove the new one
    assert store.pending() == [new]


def test_cancel_follow_ups_counts(store: Store) -> None:
    store.add_follow_up("a", "tonight", TONIGHT, now=NOW)
    kept = store.add_follow_up("b", "tonight", TONIGHT, now=NOW)
    assert store.cancel_follow_ups("a") == 1
    assert store.cancel_follow_ups("a") == 0
    assert store.pending() == [kept]


@pytest.mark.parametrize(
    ("kind", "due", "now", "message"),
    [
        ("noon", MORNING, NOW, "unknown follow-up kind 'noon'; choose one of: morning, tonight"),
        ("morning", datetime(2025, 1, 16, 9), NOW, "due must be timezone-aware"),
        ("morning", MORNING, datetime(2025, 1, 15, 22), "now must be timezone-aware"),
        ("morning", NOW, NOW, "must be after now"),
        ("morning", NOW - timedelta(seconds=1), NOW, "must be after now"),
    ],
)
def test_add_follow_up_validates(
    store: Store, kind: str, due: datetime, now: datetime, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.add_follow_up("a", kind, due, now=now)
    assert store.pending() == []


def test_forget_site_removes_only_that_site(store: Store) -> None:
    store.update_preferences("a", routine="long", names=["Sam"])
    store.update_preferences("b", routine="short")
    store.add_follow_up("a", "tonight", TONIGHT, now=NOW)
    kept = store.add_follow_up("b", "morning", MORNING, now=NOW)
    store.forget_site("a")
    assert store.preferences("a") == Preferences()
    assert store.preferences("b") == Preferences(routine="short")
    assert store.pending() == [kept]
    store.forget_site("nowhere")  # nothing to forget is fine


def test_forgotten_text_is_gone_from_the_file(db: Path) -> None:
    with Store.open(db) as store:
        store.update_preferences("a", playlist="Secret Playlist Name")
        store.update_preferences("b", playlist="Kept")
        store.forget_site("a")
    assert b"Secret Playlist Name" not in db.read_bytes()


def test_a_follow_up_survives_a_restart(db: Path) -> None:
    with Store.open(db) as store:
        follow_up = store.add_follow_up("bedroom", "morning", MORNING, now=NOW)
        store.update_preferences("bedroom", style="both", names=["Sam"])
    with Store.open(db) as store:
        assert store.pending() == [follow_up]
        assert store.preferences("bedroom") == Preferences(style="both", names=("Sam",))
        assert store.add_follow_up("lounge", "tonight", TONIGHT, now=NOW).id > follow_up.id


# --- privacy on disk ---------------------------------------------------------------------


@pytest.mark.usefixtures("umask")
def test_new_folders_are_0700_and_the_file_0600(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "aftercare.db"
    Store.open(db).close()
    assert mode(db) == 0o600
    assert mode(db.parent) == 0o700
    assert mode(db.parent.parent) == 0o700


@pytest.mark.usefixtures("umask")
def test_an_existing_folder_and_file_are_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    db = folder / "aftercare.db"
    Store.open(db).close()
    db.chmod(0o644)
    folder.chmod(0o755)
    (folder / "aftercare.db-journal").write_bytes(b"")  # left behind by a crash
    (folder / "aftercare.db-journal").chmod(0o644)
    Store.open(db).close()
    assert mode(folder) == 0o700
    assert mode(db) == 0o600


def test_an_ancestor_outside_the_data_folder_is_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    Store.open(tmp_path / "data" / "aftercare.db").close()
    assert mode(tmp_path) == 0o755


def test_a_shared_folder_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(StoreError, match=r"shared with other users \(mode 1777\); set data_dir"):
        Store.open(shared / "aftercare.db")
    assert mode(shared) == 0o1777
    assert not (shared / "aftercare.db").exists()


@pytest.mark.usefixtures("umask")
def test_the_journal_is_private_and_removed_after_each_write(store: Store, db: Path) -> None:
    journal = db.with_name("aftercare.db-journal")
    with raw(db) as connection:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO preferences (site_id, routine) VALUES ('x', 'long')")
        assert mode(journal) == 0o600
        connection.execute("ROLLBACK")
    store.update_preferences("bedroom", routine="long")
    assert sorted(p.name for p in db.parent.iterdir()) == ["aftercare.db"]


def test_a_file_in_the_way_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(StoreError, match=r"data is not a folder; move it away or set data_dir"):
        Store.open(tmp_path / "data" / "aftercare.db")


def test_a_folder_in_place_of_the_file(tmp_path: Path) -> None:
    (tmp_path / "aftercare.db").mkdir()
    with pytest.raises(StoreError, match=r"db: cannot open it \(Is a directory\); make it"):
        Store.open(tmp_path / "aftercare.db")


# --- erasing, errors ---------------------------------------------------------------------


def test_erase_removes_the_database_and_its_side_files(db: Path) -> None:
    with Store.open(db) as store:
        store.update_preferences("a", routine="long")
    for suffix in ("-journal", "-wal", "-shm"):
        db.with_name(db.name + suffix).write_bytes(b"left over")
    assert erase(db) is True
    assert list(db.parent.iterdir()) == []
    assert erase(db) is False
    with Store.open(db) as store:
        assert store.preferences("a") == Preferences()


def test_erase_of_something_that_never_existed(tmp_path: Path) -> None:
    assert erase(tmp_path / "nowhere" / "aftercare.db") is False


def test_erase_failure_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "aftercare.db").mkdir()
    with pytest.raises(StoreError, match=r"cannot erase it .*delete it by hand"):
        erase(tmp_path / "aftercare.db")


@pytest.mark.parametrize(
    "garbage", [b"hello", os.urandom(8192), b"SQLite format 3\x00" + b"\xff" * 200]
)
def test_a_garbage_file_is_unreadable_and_forget_is_the_fix(db: Path, garbage: bytes) -> None:
    db.parent.mkdir()
    db.write_bytes(garbage)
    with pytest.raises(StoreError, match=r"is unreadable .*`aftercare forget`") as caught:
        Store.open(db)
    assert caught.value.code == "store"
    assert caught.value.path == db
    assert isinstance(caught.value, AftercareError)
    assert db.read_bytes() == garbage  # never overwritten without being asked
    assert erase(db)
    Store.open(db).close()


def test_a_corrupt_row_is_reported_not_raised_raw(store: Store, db: Path) -> None:
    with raw(db) as connection:
        connection.execute("INSERT INTO preferences (site_id, names) VALUES ('a', '{oops')")
        connection.execute(
            "INSERT INTO follow_ups (site_id, kind, due, created)"
            " VALUES ('b', 'tonight', 'soon', 'x')"
        )
    with pytest.raises(StoreError, match="is unreadable"):
        store.preferences("a")
    with pytest.raises(StoreError, match="is unreadable"):
        store.pending()


def test_a_closed_store_says_so(db: Path) -> None:
    with Store.open(db) as store:
        pass
    store.close()  # closing twice is fine
    with pytest.raises(StoreError, match=r"the store is closed; open it again with Store.open"):
        store.pending()
    with pytest.raises(StoreError, match="closed"):
        store.update_preferences("a", quiet=True)


# --- migrations --------------------------------------------------------------------------


def test_a_version_1_database_migrates_to_the_latest(db: Path) -> None:
    db.parent.mkdir(mode=0o700)
    with raw(db) as connection:
        connection.executescript(SCHEMA_V1)
        connection.execute(
            "INSERT INTO preferences (site_id, routine, quiet, names) VALUES (?, ?, ?, ?)",
            ("bedroom", "long", 1, '["Sam"]'),
        )
        rows = [
            ("bedroom", "tonight", "2025-01-15T23:30:00.000000+00:00"),
            ("bedroom", "morning", "2025-01-16T08:00:00.000000+00:00"),  # newer: kept
            ("lounge", "tonight", "2025-01-15T23:00:00.000000+00:00"),
        ]
        connection.executemany(
            "INSERT INTO follow_ups (site_id, kind, due, created) VALUES (?, ?, ?, ?)",
            [(*row, "2025-01-15T22:00:00.000000+00:00") for row in rows],
        )
    with Store.open(db) as store:
        assert store.schema_version == len(MIGRATIONS) == 3
        assert store.preferences("bedroom") == Preferences(
            routine="long", quiet=True, names=("Sam",)
        )
        assert [(f.id, f.site_id, f.kind) for f in store.pending()] == [
            (3, "lounge", "tonight"),
            (2, "bedroom", "morning"),
        ]
        assert store.pending()[1] == FollowUp(2, "bedroom", "morning", MORNING, NOW)
        store.add_follow_up("lounge", "morning", MORNING, now=NOW)
        assert len(store.pending()) == 2
    with raw(db) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"follow_ups_site", "follow_ups_due"} <= names


def test_a_failed_migration_is_rolled_back(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = "CREATE TABLE half_done (x);\nCREATE TABLE broken (;\n"
    monkeypatch.setattr(store_file, "MIGRATIONS", (MIGRATIONS[0], broken))
    with pytest.raises(StoreError, match="cannot upgrade the database to schema 2"):
        Store.open(db)
    with raw(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (1,)
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables
    assert "preferences" in tables  # migration 1 was committed on its own
    monkeypatch.setattr(store_file, "MIGRATIONS", MIGRATIONS)
    with Store.open(db) as store:
        assert store.schema_version == len(MIGRATIONS)


def test_an_unterminated_migration_is_a_programming_error(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_file, "MIGRATIONS", ("CREATE TABLE t (x)",))
    with pytest.raises(ValueError, match="unterminated statement"):
        Store.open(db)


def test_every_migration_runs_once(db: Path) -> None:
    Store.open(db).close()
    Store.open(db).close()  # running a CREATE TABLE twice would fail
    with Store.open(db) as store:
        assert store.schema_version == len(MIGRATIONS)


def test_a_newer_database_is_refused_and_left_alone(db: Path) -> None:
    Store.open(db).close()
    with raw(db) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match=r"newer Aftercare \(schema 4, this one knows up to 3\)"):
        Store.open(db)
    with raw(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS) + 1,)
