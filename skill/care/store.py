"""Private storage of preferences and scheduled follow-ups; never anything people said.

The database is one SQLite file, 0600, in a folder that is made 0700. It uses a
rollback journal (`journal_mode=DELETE`), which SQLite creates with the database
file's permissions and deletes after each write, and `secure_delete`, so forgotten
rows are overwritten rather than left in free pages. `erase()` removes it all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final

from skill.base.text import valid_site_id
from skill.care.followup import KINDS
from skill.care.plan import Plan
from skill.care.private_file import (
    FORGET_HINT,
    StoreError,
    converted,
    migrate,
    private_file,
    private_folder,
    user_version,
)

__all__ = [
    "MAX_NAMES",
    "MAX_NAME_LENGTH",
    "MAX_TEXT_LENGTH",
    "FollowUp",
    "Preferences",
    "Store",
    "StoreError",
]

MAX_NAMES: Final = 4
"""Most names kept per site."""
MAX_NAME_LENGTH: Final = 40
"""Longest name kept, in characters."""
MAX_TEXT_LENGTH: Final = 100
"""Longest routine, pattern, style or playlist name kept, in characters."""


@dataclass(frozen=True)
class Preferences:
    """What one site asked the skill to remember; None means "use config.yaml"."""

    routine: str | None = None
    """Routine to start when none is named."""
    pattern: str | None = None
    """Breathing pattern to use when none is named."""
    style: str | None = None
    """Cue style (voice, chime, both, fewer-words)."""
    quiet: bool | None = None
    """True to start routines in their quiet form."""
    playlist: str | None = None
    """Playlist to play on this site."""
    names: tuple[str, ...] = ()
    """Names the skill may address people by (at most 4, each at most 40 characters)."""
    plan: Plan | None = None
    """The aftercare plan made together ("let's plan our aftercare"), if any."""

    def is_empty(self) -> bool:
        """True when nothing is remembered."""
        return self == Preferences()


@dataclass(frozen=True)
class FollowUp:
    """A scheduled, not yet delivered check-in on one site."""

    id: int
    """Row id; never reused."""
    site_id: str
    """Site to speak on."""
    kind: str
    """"morning" or "tonight"."""
    due: datetime
    """When to deliver it (aware, UTC)."""
    created: datetime
    """When it was asked for (aware, UTC)."""


_FIELDS: Final = tuple(field.name for field in dataclasses.fields(Preferences))


class Store:
    """The open database; build it with `Store.open(path)` and close it (or use `with`)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection: sqlite3.Connection | None = connection
        self.path = path
        """The database file."""

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open or create the database at `path`, private, and bring its schema up to date."""
        # The folder is the skill's data_dir: created 0700, and tightened to 0700 when it
        # already exists with wider permissions (unless it is shared, like /tmp: then refuse).
        private_folder(path.parent, path)
        private_file(path)
        with converted(path, "open the database"):
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
        try:
            with converted(path, "open the database"):
                connection.execute("PRAGMA journal_mode = DELETE").fetchall()
                connection.execute("PRAGMA secure_delete = ON")
                migrate(connection, path)
        except BaseException:
            connection.close()
            raise
        return cls(connection, path)

    @property
    def schema_version(self) -> int:
        """The schema version of the open database (`len(MIGRATIONS)` once open)."""
        with converted(self.path, "read the schema version"):
            return user_version(self._open())

    def preferences(self, site_id: str) -> Preferences:
        """The preferences of `site_id`; empty when nothing was saved."""
        _check_site(site_id)
        with converted(self.path, "read preferences"):
            row = (
                self._open()
                .execute(
                    "SELECT routine, pattern, style, quiet, playlist, names, plan"
                    " FROM preferences WHERE site_id = ?",
                    (site_id,),
                )
                .fetchone()
            )
        return Preferences() if row is None else self._preferences(row)

    def all_preferences(self) -> dict[str, Preferences]:
        """The preferences of every site that has some."""
        with converted(self.path, "read preferences"):
            rows = (
                self._open()
                .execute(
                    "SELECT site_id, routine, pattern, style, quiet, playlist, names, plan"
                    " FROM preferences ORDER BY site_id"
                )
                .fetchall()
            )
        return {str(row[0]): self._preferences(tuple(row[1:])) for row in rows}

    def update_preferences(self, site_id: str, **changes: object) -> Preferences:
        """Change some preferences of `site_id` (None clears one) and return them all."""
        _check_site(site_id)
        checked = {name: _check_preference(name, value) for name, value in changes.items()}
        with self._transaction("save preferences") as connection:
            updated = dataclasses.replace(self.preferences(site_id), **checked)  # type: ignore[arg-type]
            if updated.is_empty():
                connection.execute("DELETE FROM preferences WHERE site_id = ?", (site_id,))
            else:
                connection.execute(
                    "INSERT OR REPLACE INTO preferences"
                    " (site_id, routine, pattern, style, quiet, playlist, names, plan)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        site_id,
                        updated.routine,
                        updated.pattern,
                        updated.style,
                        None if updated.quiet is None else int(updated.quiet),
                        updated.playlist,
                        json.dumps(list(updated.names)),
                        None if updated.plan is None else updated.plan.to_json(),
                    ),
                )
        return updated

    def forget_site(self, site_id: str) -> None:
        """Erase the preferences and follow-ups of `site_id`."""
        _check_site(site_id)
        with self._transaction("forget the site") as connection:
            connection.execute("DELETE FROM preferences WHERE site_id = ?", (site_id,))
            connection.execute("DELETE FROM follow_ups WHERE site_id = ?", (site_id,))

    def add_follow_up(self, site_id: str, kind: str, due: datetime, *, now: datetime) -> FollowUp:
        """Schedule a follow-up at `due`, replacing any pending one of the same site."""
        _check_site(site_id)
        if kind not in KINDS:
            raise ValueError(f"unknown follow-up kind {kind!r}; choose one of: {', '.join(KINDS)}")
        due, created = _utc(due, "due"), _utc(now, "now")
        if due <= created:
            raise ValueError(f"due ({due.isoformat()}) must be after now ({created.isoformat()})")
        with self._transaction("schedule the follow-up") as connection:
            connection.execute("DELETE FROM follow_ups WHERE site_id = ?", (site_id,))
            cursor = connection.execute(
                "INSERT INTO follow_ups (site_id, kind, due, created) VALUES (?, ?, ?, ?)",
                (site_id, kind, _text(due), _text(created)),
            )
        if cursor.lastrowid is None:
            raise StoreError(self.path, "the follow-up was not saved; " + FORGET_HINT)
        return FollowUp(cursor.lastrowid, site_id, kind, due, created)

    def cancel_follow_ups(self, site_id: str) -> int:
        """Cancel the pending follow-ups of `site_id`; how many there were."""
        _check_site(site_id)
        with self._transaction("cancel follow-ups") as connection:
            return connection.execute(
                "DELETE FROM follow_ups WHERE site_id = ?", (site_id,)
            ).rowcount

    def pending(self) -> list[FollowUp]:
        """Every follow-up not yet delivered, the earliest due first."""
        with converted(self.path, "read follow-ups"):
            rows = (
                self._open()
                .execute("SELECT id, site_id, kind, due, created FROM follow_ups ORDER BY due, id")
                .fetchall()
            )
        try:
            return [
                FollowUp(int(id_), str(site), str(kind), _parse(due), _parse(created))
                for id_, site, kind, due, created in rows
            ]
        except (TypeError, ValueError) as err:
            raise StoreError(self.path, f"is unreadable ({err}); {FORGET_HINT}") from err

    def mark_delivered(self, follow_up_id: int) -> None:
        """Forget a delivered follow-up; no record of it is kept (an unknown id is a no-op)."""
        with self._transaction("mark the follow-up delivered") as connection:
            connection.execute("DELETE FROM follow_ups WHERE id = ?", (follow_up_id,))

    def close(self) -> None:
        """Close the database; closing twice is fine."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Store:
        """The store itself; it is closed when the block ends."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the database."""
        self.close()

    def _open(self) -> sqlite3.Connection:
        """The connection, or a StoreError once closed."""
        if self._connection is None:
            raise StoreError(self.path, "the store is closed; open it again with Store.open()")
        return self._connection

    @contextlib.contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """A write transaction, rolled back when the block raises."""
        connection = self._open()
        with converted(self.path, action):
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def _preferences(self, row: tuple[object, ...]) -> Preferences:
        """Preferences from a database row."""
        routine, pattern, style, quiet, playlist, names, plan = row
        try:
            loaded = json.loads(str(names))
            if not isinstance(loaded, list) or not all(isinstance(n, str) for n in loaded):
                raise TypeError(f"names is {loaded!r}")
            return Preferences(
                routine=_optional_str(routine),
                pattern=_optional_str(pattern),
                style=_optional_str(style),
                quiet=None if quiet is None else bool(quiet),
                playlist=_optional_str(playlist),
                names=tuple(loaded),
                plan=None if plan is None else Plan.from_json(str(plan)),
            )
        except (TypeError, ValueError) as err:
            raise StoreError(self.path, f"is unreadable ({err}); {FORGET_HINT}") from err


def _check_site(site_id: str) -> None:
    """Reject a site id that the rest of the skill would reject too."""
    if not valid_site_id(site_id):
        raise ValueError(
            f"invalid site id {site_id!r}; use 1-64 characters without / + # or whitespace"
        )


def _check_preference(name: str, value: object) -> object:
    """A valid value for preference `name`, or a ValueError/TypeError that says what is allowed."""
    if name not in _FIELDS:
        raise ValueError(f"unknown preference {name!r}; choose from: {', '.join(_FIELDS)}")
    if value is None:
        return () if name == "names" else None
    if name == "plan":
        if not isinstance(value, Plan):
            raise TypeError(f"plan must be a Plan or None, got {type(value).__name__}")
        return None if value.is_empty() else value
    if name == "quiet":
        if not isinstance(value, bool):
            raise TypeError(f"quiet must be true, false or None, got {value!r}")
        return value
    if name == "names":
        if isinstance(value, str) or not isinstance(value, tuple | list):
            raise TypeError(f"names must be a tuple of strings, got {type(value).__name__}")
        names = tuple(_text_value("a name", item, MAX_NAME_LENGTH) for item in value)
        if len(names) > MAX_NAMES:
            raise ValueError(f"at most {MAX_NAMES} names can be kept, got {len(names)}")
        return names
    return _text_value(name, value, MAX_TEXT_LENGTH)


def _text_value(what: str, value: object, longest: int) -> str:
    """`value` stripped, if it is a non-empty string of at most `longest` characters."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    text = value.strip()
    if not 1 <= len(text) <= longest:
        raise ValueError(f"{what} must be 1 to {longest} characters, got {value!r}")
    return text


def _optional_str(value: object) -> str | None:
    """A TEXT column that may be NULL."""
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected text, got {value!r}")


def _utc(moment: datetime, what: str) -> datetime:
    """`moment` in UTC; a naive datetime is a mistake."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware; pass datetime.now(UTC) or similar")
    return moment.astimezone(UTC)


def _text(moment: datetime) -> str:
    """A UTC datetime as text that sorts in time order."""
    return moment.isoformat(timespec="microseconds")


def _parse(text: object) -> datetime:
    """A datetime written by `_text`."""
    return datetime.fromisoformat(str(text)).astimezone(UTC)
