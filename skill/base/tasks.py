"""One way to start background work on the event loop and keep hold of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

log = logging.getLogger(__name__)


class Tasks:
    """Tasks started together: each is kept until it ends, and all can be awaited or cancelled.

    A task that fails is logged (with its traceback) when it ends, so nothing fails silently;
    asyncio keeps only weak references, so a task nobody holds can vanish mid-flight.
    """

    def __init__(self, name: str = "") -> None:
        self._name = name
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(
        self, work: Coroutine[Any, Any, None], *, name: str | None = None
    ) -> asyncio.Task[None]:
        """Start `work` now; the task, kept here until it ends."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "Background work %s failed",
                self._name or task.get_name(),
                exc_info=task.exception(),
            )

    def __iter__(self) -> Iterator[asyncio.Task[None]]:
        return iter(list(self._tasks))

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait(self) -> None:
        """Wait for the tasks running now; the first failure among them is raised here."""
        await asyncio.gather(*self._tasks)

    async def settle(self) -> None:
        """Wait until the tasks running now have ended, whatever happened to them."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cancel(self) -> None:
        """Cancel every task still running."""
        for task in list(self._tasks):
            task.cancel()


async def quietly(close: Callable[[], Awaitable[None]]) -> None:
    """A close whose failure must not keep the rest from closing (it is logged)."""
    try:
        await close()
    except Exception:
        log.warning("A part did not close cleanly", exc_info=True)


async def cancelled(task: asyncio.Task[None]) -> None:
    """Cancel a task and wait until it has ended."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
