"""Follow-ups people asked for ("check on us tomorrow morning"), delivered on time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from skill.base.clock import Clock
from skill.base.tasks import Tasks
from skill.care.worker import StoreThread

log = logging.getLogger(__name__)

STALE = timedelta(hours=2)
"""A follow-up missed by more than this (the skill was off) is dropped, not delivered late."""
RECHECK_SECONDS = 60.0
"""Longest sleep between looks at the clock (wall-clock changes, suspend)."""

Deliver = Callable[[str, str], Coroutine[Any, Any, None]]


class Reminders:
    """Sleeps until the next pending follow-up, then delivers it on its site."""

    def __init__(
        self, store: StoreThread, deliver: Deliver, now: Callable[[], datetime], clock: Clock
    ) -> None:
        self._store = store
        self._deliver = deliver
        self._now = now
        self._clock = clock
        self._changed = asyncio.Event()
        self._tasks = Tasks("follow-ups")

    def changed(self) -> None:
        """Something was scheduled or cancelled: look again."""
        self._changed.set()

    def start(self) -> None:
        """Start watching (pending follow-ups survive restarts in the store)."""
        self._tasks.spawn(self._run(), name="reminders")

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            now = self._now()
            wait = RECHECK_SECONDS
            for follow_up in await self._store.pending():
                if follow_up.due > now:
                    wait = min(wait, (follow_up.due - now).total_seconds())
                    break
                await self._store.mark_delivered(follow_up.id)
                if now - follow_up.due > STALE:
                    log.info(
                        "A follow-up on site %s was missed while off; dropped", follow_up.site_id
                    )
                    continue
                log.info(
                    "Delivering the %s follow-up on site %s", follow_up.kind, follow_up.site_id
                )
                self._tasks.spawn(self._deliver(follow_up.site_id, follow_up.kind))
            # Wall-clock seconds to wait, on the clock's time scale (the demo compresses it).
            deadline = self._clock.now() + max(0.01, wait * self._clock.scale)
            await self._clock.sleep_until(deadline, self._changed)

    async def close(self) -> None:
        """Stop watching and delivering."""
        self._tasks.cancel()
        await self._tasks.settle()
