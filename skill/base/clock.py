"""Monotonic time for schedules: sleep to absolute deadlines, optionally compressed."""

from __future__ import annotations

import asyncio
import contextlib
import time

WAKE_EARLY = 0.02
"""Seconds before a deadline at which a long sleep wakes up to sleep the rest precisely."""


class Clock:
    """Plan time (seconds in a schedule) mapped onto the monotonic clock.

    `scale` compresses time for the demo and tests: a 10-minute plan with scale 0.01
    takes 6 seconds, and every deadline is still absolute, so nothing drifts.
    """

    def __init__(self, scale: float = 1.0) -> None:
        if not 0 < scale <= 1:
            raise ValueError("time scale must be in (0, 1]")
        self.scale = scale
        """Real seconds per plan second."""

    @staticmethod
    def now() -> float:
        """The monotonic clock, in real seconds."""
        return time.monotonic()

    def deadline(self, start: float, offset: float) -> float:
        """Real monotonic time of plan offset `offset` for a plan started at `start`."""
        return start + offset * self.scale

    def offset(self, start: float, at: float | None = None) -> float:
        """Plan offset of real time `at` (default: now) for a plan started at `start`."""
        return ((self.now() if at is None else at) - start) / self.scale

    async def sleep(self, seconds: float) -> None:
        """Sleep for `seconds` of plan time."""
        await asyncio.sleep(max(0.0, seconds * self.scale))

    async def sleep_until(self, deadline: float, wake: asyncio.Event | None = None) -> bool:
        """Sleep until a real monotonic deadline; True when `wake` was set first.

        Two steps: to WAKE_EARLY before the deadline, then the rest. After seconds of
        idling, the first timer of a sleeping machine fires a few milliseconds late;
        the second, short one is on time.
        """
        if wake is not None and wake.is_set():
            return True
        if await _wait_until(deadline - WAKE_EARLY, wake):
            return True
        return await _wait_until(deadline, wake)


async def _wait_until(deadline: float, wake: asyncio.Event | None) -> bool:
    """One sleep to `deadline`, cut short when `wake` is set; True if it was."""
    delay = deadline - time.monotonic()
    if wake is None:
        if delay > 0:
            await asyncio.sleep(delay)
        return False
    if wake.is_set():
        return True
    if delay <= 0:
        return False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay):  # never wait_for: it can swallow a cancel
            await wake.wait()
    return wake.is_set()
