"""Clock.sleep_until: never early, woken at once, correct with past deadlines."""

from __future__ import annotations

import asyncio

import pytest

from skill.base.clock import WAKE_EARLY, Clock


@pytest.mark.asyncio
@pytest.mark.parametrize("seconds", [0.001, WAKE_EARLY / 2, WAKE_EARLY * 3])
async def test_never_returns_before_the_deadline(seconds: float) -> None:
    """Whether the sleep is shorter or longer than the early wake-up, it ends after the deadline."""
    clock = Clock()
    deadline = clock.now() + seconds
    assert await clock.sleep_until(deadline) is False
    assert clock.now() >= deadline


@pytest.mark.asyncio
async def test_a_past_deadline_returns_at_once() -> None:
    clock = Clock()
    assert await clock.sleep_until(clock.now() - 5) is False
    assert await clock.sleep_until(clock.now() - 5, asyncio.Event()) is False


@pytest.mark.asyncio
async def test_wake_ends_the_long_first_step() -> None:
    """Woken half a minute early: True at once."""
    clock = Clock()
    wake = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, wake.set)
    async with asyncio.timeout(5):
        assert await clock.sleep_until(clock.now() + 30, wake) is True


@pytest.mark.asyncio
async def test_a_wake_already_set_returns_true_without_sleeping() -> None:
    clock = Clock()
    wake = asyncio.Event()
    wake.set()
    async with asyncio.timeout(1):
        assert await clock.sleep_until(clock.now() + 60, wake) is True
