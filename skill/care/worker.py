"""The private store on a thread of its own: no store call ever runs on the event loop.

SQLite with `secure_delete` on a Raspberry Pi's SD card can take tens of milliseconds
to write, while a breathing cue may be due; so every call is handed to one worker thread,
which also opened the connection (sqlite3 keeps a connection to the thread that made it).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from skill.care.store import FollowUp, Preferences, Store

T = TypeVar("T")


class StoreThread:
    """The same calls as Store, awaited; they run one at a time, in order, on one thread."""

    def __init__(self, store: Store, executor: ThreadPoolExecutor) -> None:
        self._store = store
        self._executor = executor
        self.path = store.path
        """The database file."""

    @classmethod
    async def open(cls, path: Path) -> StoreThread:
        """Open (or create) the store at `path` on a new worker thread."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        try:
            store = await asyncio.get_running_loop().run_in_executor(executor, Store.open, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(store, executor)

    async def _call(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def all_preferences(self) -> dict[str, Preferences]:
        """The preferences of every site that has some."""
        return await self._call(self._store.all_preferences)

    async def update_preferences(self, site_id: str, **changes: object) -> Preferences:
        """Change some preferences of a site; all of them, as saved."""
        return await self._call(
            functools.partial(self._store.update_preferences, site_id, **changes)
        )

    async def forget_site(self, site_id: str) -> None:
        """Erase a site's preferences and follow-ups."""
        await self._call(functools.partial(self._store.forget_site, site_id))

    async def add_follow_up(
        self, site_id: str, kind: str, due: datetime, *, now: datetime
    ) -> FollowUp:
        """Schedule a follow-up, replacing the site's pending one."""
        add = functools.partial(self._store.add_follow_up, site_id, kind, due, now=now)
        return await self._call(add)

    async def cancel_follow_ups(self, site_id: str) -> int:
        """Cancel a site's pending follow-ups; how many there were."""
        return await self._call(functools.partial(self._store.cancel_follow_ups, site_id))

    async def pending(self) -> list[FollowUp]:
        """Every follow-up not yet delivered, the earliest due first."""
        return await self._call(self._store.pending)

    async def mark_delivered(self, follow_up_id: int) -> None:
        """Forget a delivered follow-up."""
        await self._call(functools.partial(self._store.mark_delivered, follow_up_id))

    async def close(self) -> None:
        """Close the database on its thread, then end the thread."""
        try:
            await self._call(self._store.close)
        finally:
            self._executor.shutdown(wait=True)
