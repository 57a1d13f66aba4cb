"""Issue #7 in CI: a short soak on a real Mosquitto, with the silent fake voice.

The soak benchmark's own machinery (benchmarks/soak.py) runs ten minutes of plan time on
three sites in about fifteen seconds: routines and breathing sessions started by NluIntents
one after another, every second one stopped part-way, check-ins answered by a stand-in for
the dialogue manager, every clip acknowledged when it would have finished playing. The
benchmark itself uses the real voice for an hour of plan time; the speed goals live there.
Here the checks are the ones that can only pass when nothing is lost or leaked.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from support.fakes import FakeVoice

from benchmarks import soak
from skill.hermes.broker import EmbeddedBroker

pytestmark = pytest.mark.timeout(90)

SCALE = 0.025
"""Real seconds per plan second: ten plan minutes in fifteen seconds."""
RSS_BOUND_MIB = 16.0
"""Generous: a leak of one clip per cue would grow by far more than this."""


async def _threads_back(count: int, limit: float = 3.0) -> int:
    """threading.active_count() once threads being joined have gone (up to `limit` s)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if threading.active_count() <= count:
            break
        await asyncio.sleep(0.05)
    return threading.active_count()


@pytest.mark.asyncio
async def test_a_compressed_soak_loses_nothing_and_leaks_nothing(
    mosquitto: EmbeddedBroker,
) -> None:
    """Ten plan minutes on three sites: every activity exactly as planned, nothing left over.

    Each routine's lines, check-in replies, cues and chimes come in its plan's order (up to
    "stop" when stopped, then only the confirmation), and every clip reaches the subscriber.
    Idle after the soak, the skill holds the same tasks as idle before it and none of its
    own bookkeeping; once closed, tasks and threads are what they were before it started,
    and resident memory did not climb while the activities repeated.
    """
    loop = asyncio.get_running_loop()
    tasks_before = len(asyncio.all_tasks())
    threads_before = threading.active_count()
    settings = soak.Settings(
        sites=3,
        plan_minutes=10.0,
        scale=SCALE,
        warmup_minutes=3.0,
        sample_minutes=0.5,
        stop_every=2,
        broker=(mosquitto.host, mosquitto.port),
        synthesizer=FakeVoice(),
    )
    # The runner drops a cue more than STALE_AFTER (half a second) of real time late,
    # compressed time or not: the soak holds to the value a real session gets.
    report = await soak.run(settings)

    assert report.failures == []
    kinds = {job.job.kind for job in report.jobs}
    assert kinds == {"routine", "breathing"}, kinds
    assert any(job.stopped for job in report.jobs), "no activity was stopped part-way"
    assert len(report.jobs) >= 2 * settings.sites
    for job in report.jobs:
        where = f"{job.job.sentence!r} on {job.site} at plan minute {job.minute:.1f}"
        assert job.in_order, f"{where}: not what its plan calls for"
        assert (job.missing, job.extra) == (0, 0), (
            f"{where}: {job.missing} missing, {job.extra} extra"
        )
        assert job.received == job.published, f"{where}: clips lost on the way"
        assert job.heard > 0, where

    idle_before, idle_after = report.moment("online and idle"), report.moment("idle after the soak")
    assert idle_after.tasks == idle_before.tasks
    assert idle_after.own_threads == idle_before.own_threads
    assert not any(report.leftovers.values()), report.leftovers
    assert report.rss_growth < RSS_BOUND_MIB, [round(s.rss, 1) for s in report.samples]

    # Everything stopped: the only task is this test's, and once the event loop's default
    # executor (its idle workers) is shut down, the only threads are those from before.
    assert len(asyncio.all_tasks()) == tasks_before
    await loop.shutdown_default_executor()
    assert await _threads_back(threads_before) == threads_before, [
        t.name for t in threading.enumerate()
    ]
