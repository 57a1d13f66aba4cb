"""Monotonic time for schedules: sleep to absolute deadlines, optionally compressed."""

from __future__ import annotations

import asyncio
import contextlib
import time


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
        """Sleep until a real monotonic deadline; True when `wake` was set first."""
        delay = deadline - self.now()
        if wake is None:
            await asyncio.sleep(max(0.0, delay))
            return False
        if wake.is_set():
            return True
        if delay <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):  # never wait_for: it can swallow a cancel
                await wake.wait()
        return wake.is_set()
