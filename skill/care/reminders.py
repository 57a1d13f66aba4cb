"""Follow-ups people asked for ("check on us tomorrow morning"), delivered on time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from skill.care.store import Store

log = logging.getLogger(__name__)

STALE = timedelta(hours=2)
"""A follow-up missed by more than this (the skill was off) is dropped, not delivered late."""
RECHECK_SECONDS = 60.0
"""Longest sleep between looks at the clock (wall-clock changes, suspend)."""

Deliver = Callable[[str, str], Coroutine[Any, Any, None]]


class Reminders:
    """Sleeps until the next pending follow-up, then delivers it on its site."""

    def __init__(
        self, store: Store, deliver: Deliver, now: Callable[[], datetime], *, scale: float = 1.0
    ) -> None:
        self._store = store
        self._deliver = deliver
        self._now = now
        self._scale = scale
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    def changed(self) -> None:
        """Something was scheduled or cancelled: look again."""
        self._changed.set()

    def start(self) -> None:
        """Start watching (pending follow-ups survive restarts in the store)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="reminders")

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            now = self._now()
            wait = RECHECK_SECONDS
            for follow_up in self._store.pending():
                if follow_up.due > now:
                    wait = min(wait, (follow_up.due - now).total_seconds())
                    break
                self._store.mark_delivered(follow_up.id)
                if now - follow_up.due > STALE:
                    log.info(
                        "A follow-up on site %s was missed while off; dropped", follow_up.site_id
                    )
                    continue
                log.info(
                    "Delivering the %s follow-up on site %s", follow_up.kind, follow_up.site_id
                )
                task = asyncio.get_running_loop().create_task(
                    self._deliver(follow_up.site_id, follow_up.kind)
                )
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.01, wait * self._scale))

    async def close(self) -> None:
        """Stop watching and delivering."""
        for task in [self._task, *self._deliveries]:
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in [self._task, *self._deliveries] if t is not None), return_exceptions=True
        )
