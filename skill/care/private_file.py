"""The store's file on disk: private to its user (0600 in 0700), migrated in place, erased whole."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from skill.base.errors import AftercareError

FORGET_HINT = "run `aftercare forget` to erase it and start fresh (saved preferences are lost)"
_OWN_HINT = "make it belong to this user (chown) or set data_dir to a folder you own"

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: the tables. AUTOINCREMENT so that an id is never reused, and marking an old
    # follow-up delivered can never remove a newer one.
    """
    CREATE TABLE preferences (
        site_id TEXT PRIMARY KEY NOT NULL,
        routine TEXT,
        pattern TEXT,
        style TEXT,
        quiet INTEGER CHECK (quiet IN (0, 1)),
        playlist TEXT,
        names TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE follow_ups (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        site_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        due TEXT NOT NULL,
        created TEXT NOT NULL
    );
    """,
    # 2: one pending follow-up per site, enforced by the schema (the newest one wins),
    # and pending() ordered by an index.
    """
    DELETE FROM follow_ups
        WHERE id NOT IN (SELECT max(id) FROM follow_ups GROUP BY site_id);
    CREATE UNIQUE INDEX follow_ups_site ON follow_ups (site_id);
    CREATE INDEX follow_ups_due ON follow_ups (due, id);
    """,
    # 3: an aftercare plan made together (skill/care/plan.py), as JSON; choices only.
    """
    ALTER TABLE preferences ADD COLUMN plan TEXT;
    """,
)
"""Schema steps; `PRAGMA user_version` counts those applied, each once, in its own transaction."""


class StoreError(AftercareError):
    """The database cannot be created, read or written; the message says how to fix it."""

    code = "store"

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def erase(path: Path) -> bool:
    """Delete the database and its -journal, -wal and -shm files; True if any existed."""
    removed = False
    for file in (path, *_sidecars(path)):
        try:
            file.unlink()
        except FileNotFoundError:
            continue
        except OSError as err:
            raise StoreError(
                file, f"cannot erase it ({err.strerror}); {_OWN_HINT}, or delete it by hand"
            ) from err
        removed = True
    return removed


def _sidecars(path: Path) -> tuple[Path, ...]:
    """The files SQLite keeps next to the database."""
    return tuple(path.with_name(path.name + suffix) for suffix in ("-journal", "-wal", "-shm"))


def private_folder(folder: Path, path: Path) -> None:
    """Create `folder` (and missing parents) 0700, or tighten it to 0700 if it is ours."""
    try:
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        for new in reversed(missing):
            new.mkdir(mode=0o700, exist_ok=True)
            new.chmod(0o700)  # mkdir's mode is filtered by the umask
        info = folder.stat()
        if not stat.S_ISDIR(info.st_mode):
            raise StoreError(
                path, f"{folder} is not a folder; move it away or set data_dir to another folder"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            if info.st_mode & stat.S_ISVTX or info.st_uid != os.geteuid():
                raise StoreError(
                    path,
                    f"{folder} is shared with other users (mode {stat.S_IMODE(info.st_mode):o});"
                    " set data_dir to a private folder such as ~/.local/share/aftercare",
                )
            folder.chmod(0o700)
    except OSError as err:
        raise StoreError(path, f"cannot prepare {folder} ({err.strerror}); {_OWN_HINT}") from err


def private_file(path: Path) -> None:
    """Create the database file 0600, or tighten it (and leftover journals) to 0600."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                raise StoreError(path, "is not a regular file; " + FORGET_HINT)
            if stat.S_IMODE(info.st_mode) != 0o600:
                os.fchmod(descriptor, 0o600)
        finally:
            os.close(descriptor)
        for sidecar in _sidecars(path):
            if sidecar.exists() and stat.S_IMODE(sidecar.stat().st_mode) != 0o600:
                sidecar.chmod(0o600)
    except OSError as err:
        raise StoreError(path, f"cannot open it ({err.strerror}); {_OWN_HINT}") from err


def migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Apply the missing MIGRATIONS, each in its own transaction, under the write lock."""
    latest = len(MIGRATIONS)
    while True:
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Read under the lock: another process may have migrated in the meantime.
            version = user_version(connection)
            if version > latest:
                raise StoreError(
                    path,
                    f"was written by a newer Aftercare (schema {version}, this one knows up to"
                    f" {latest}); update Aftercare, or {FORGET_HINT}",
                )
            if version == latest:
                connection.execute("COMMIT")
                return
            with converted(path, f"upgrade the database to schema {version + 1}"):
                for statement in _statements(MIGRATIONS[version]):
                    connection.execute(statement)
                # PRAGMA takes no bound parameters; this is an int from the code, not a value.
                connection.execute(f"PRAGMA user_version = {version + 1:d}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a migration script, one at a time."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"migration has an unterminated statement: {pending.strip()!r}")


def user_version(connection: sqlite3.Connection) -> int:
    """`PRAGMA user_version`: how many MIGRATIONS the database has."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    return int(version)


@contextlib.contextmanager
def converted(path: Path, action: str) -> Iterator[None]:
    """Turn sqlite3 errors into a StoreError that says what to do."""
    try:
        yield
    except sqlite3.Error as err:
        name = getattr(err, "sqlite_errorname", "")
        if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            problem = f"is unreadable ({err}); {FORGET_HINT}"
        elif name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
            problem = f"cannot {action}: another program holds it ({err}); stop the other one"
        elif name.startswith("SQLITE_FULL"):
            problem = f"cannot {action}: the disk is full; free some space"
        else:
            problem = f"cannot {action} ({err}); {_OWN_HINT}, and check the disk"
        raise StoreError(path, problem) from err
