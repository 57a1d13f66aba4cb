"""Issue #7: an hour of compressed time on several sites: memory, tasks, threads, lost cues.

One Runtime serves a few sites. Each runs a rotation of routines (short, quiet, long) and
breathing sessions (calm, box, sighing, together, settle), every one started the real way
(an NluIntent) as soon as the one before has ended; every fourth is stopped part-way with
"stop". A separate paho client plays every site's speaker (playFinished when a clip would
have finished playing, one clip after another) and Rhasspy's dialogue manager for check-ins
(sessionStarted, then "I'm okay", "no thanks", or a time-out, in turn).

What is checked: everything each activity published, decoded into response keys, cue texts
and chimes, must be exactly what its routine or breathing plan calls for, in order (a prefix
of it, then the stop confirmation, when stopped), and must have reached the subscriber; the
resident memory (VmRSS) must not grow after a warm-up beyond the noise measured in the same
run; and once everything has stopped, asyncio tasks and threads must be back to what they
were before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import itertools
import logging
import math
import os
import random
import re
import shutil
import statistics
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from benchmarks.cue_lateness import SessionResult, arrival_times, measure
from benchmarks.expected import Lines, differences
from benchmarks.harness import (
    PLAY_BYTES_ALL,
    START_SESSION,
    CheckinStandIn,
    CpuMeter,
    Intents,
    Recorder,
    SpokenLog,
    bench_config,
    data_dir,
    ms,
    percentile,
    rss_mib,
    table,
    verdict,
    wait_quiet,
    warm_clip_cache,
)
from skill.app import Runtime, project_dir
from skill.assets import Assets, load_assets
from skill.breathing.runner import BreathingControl
from skill.service import Skill
from skill.voice.piper import Synthesizer

log = logging.getLogger(__name__)

STOP_KEY = "stop.done"
"""The confirmation of "stop"."""
NOISE_FLOOR_MIB = 4.0
"""RSS growth below this never counts as a leak (see Report.noise)."""
POOL_THREAD = re.compile(r"^asyncio_\d+$")
"""Workers of the event loop's default executor: idle, reused, at most min(32, cores + 4)."""
WAV_HEADER = 44
"""Bytes of each clip the subscriber keeps: its length is in the header."""
FADE_OUT = 6.0
"""Plan seconds the music takes to fade out after "stop" (cooldown.fade_out)."""
TRACE_FRAMES = 8
"""Frames tracemalloc keeps per allocation (with Settings.trace)."""
TRACE_TOP = 8
"""Places of heap growth reported (with Settings.trace)."""
DEFAULT_POOL = min(32, (os.cpu_count() or 1) + 4)
"""Most workers the default executor ever starts (ThreadPoolExecutor's own bound)."""


@dataclass(frozen=True)
class Job:
    """Something a site does: a routine or a breathing session, said as people say it."""

    sentence: str
    """What is said (recognized by the skill's own recognizer)."""
    kind: Literal["routine", "breathing"]
    """What it starts."""
    minutes: float
    """About how many plan minutes it takes (to fit the rotation into the hour)."""


ROTATION = (
    Job("short aftercare", "routine", 6.5),
    Job("five minutes of calm breathing", "breathing", 5.5),
    Job("quiet aftercare", "routine", 8.5),
    Job("three rounds of box breathing", "breathing", 1.5),
    Job("long aftercare", "routine", 28.0),
    Job("cyclic sighing for two minutes", "breathing", 2.5),
    Job("breathe together for three minutes", "breathing", 3.5),
    Job("start breathing", "breathing", 3.5),
)
"""Each site goes through these in turn, starting at a different place."""
ANSWERS: tuple[str | None, ...] = ("i'm okay", "no thanks", None)
"""How check-ins are answered, in turn on each site (None: the dialogue manager times out)."""
REPLIES: Mapping[str, str | None] = {"i'm okay": "feeling.okay", "no thanks": "notnow.ack"}
"""The line each answer gets (None: nothing is said, the routine goes on)."""


@dataclass(frozen=True)
class Settings:
    """How long, on how many sites, with which voice and broker."""

    sites: int = 4
    """Sites running activities at the same time."""
    plan_minutes: float = 60.0
    """Compressed time the soak covers."""
    scale: float = 0.05
    """Real seconds per plan second (0.05: an hour in three minutes)."""
    warmup_minutes: float = 10.0
    """Plan minutes before the RSS comparison starts (caches, arenas and pools fill up)."""
    sample_minutes: float = 1.0
    """Plan minutes between two samples of RSS, tasks and threads."""
    stop_every: int = 4
    """Every n-th activity of a site is stopped part-way with "stop" (0: never)."""
    seed: int = 11
    """Seeds when the stops come."""
    broker: tuple[str, int] | None = None
    """(host, port) of a running broker; None: the embedded Mosquitto."""
    synthesizer: Synthesizer | None = None
    """None: the real Piper voice (on the persistent clip cache); tests give a fake one."""
    trace: bool = False
    """Trace Python allocations (tracemalloc; slower) and report where the heap grew."""


QUICK = Settings(plan_minutes=20.0, warmup_minutes=5.0)
"""A short soak for trying it out (20 plan minutes: a minute of real time)."""


# --- Samples -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Census:
    """Memory, tasks and threads at one moment."""

    label: str
    """Which moment."""
    minute: float
    """Plan minutes since the soak began (NaN outside it)."""
    rss: float
    """VmRSS, MiB."""
    tasks: int
    """asyncio.all_tasks() of the loop."""
    threads: int
    """threading.active_count(), the default executor's idle workers included."""
    pool: int
    """Of those, workers of the event loop's default executor (bounded, reused)."""
    names: tuple[str, ...] = ()
    """Thread names, without the executor's workers (to name a leaked one)."""

    @property
    def own_threads(self) -> int:
        """Threads other than the default executor's workers."""
        return self.threads - self.pool


def census(label: str, minute: float = math.nan, *, collect: bool = False) -> Census:
    """Take a Census now (after a full garbage collection when `collect`)."""
    if collect:
        gc.collect()
    threads = threading.enumerate()
    pool = [t for t in threads if POOL_THREAD.match(t.name)]
    names = tuple(sorted(t.name for t in threads if t not in pool))
    return Census(
        label, minute, rss_mib(), len(asyncio.all_tasks()), len(threads), len(pool), names
    )


async def settled_census(label: str, baseline: Census, limit: float = 3.0) -> Census:
    """A Census once threads that are shutting down have gone (up to `limit` seconds)."""
    deadline = time.monotonic() + limit
    taken = census(label, collect=True)
    while taken.own_threads > baseline.own_threads and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        taken = census(label, collect=True)
    return taken


# --- Running the soak ------------------------------------------------------------------------


@dataclass
class JobRun:
    """One activity as it ran."""

    site: str
    """Where."""
    job: Job
    """What."""
    began: float
    """Monotonic time its intent was published."""
    ended: float = 0.0
    """Monotonic time the site was idle again."""
    stopped: float | None = None
    """Monotonic time "stop" was published, when it was stopped while running."""
    timed_out: bool = False
    """It did not end within twice its expected length (stopped then)."""


@dataclass
class JobResult:
    """What one activity should have produced and what it did."""

    site: str
    """Where."""
    job: Job
    """What."""
    minute: float
    """Plan minute it started at."""
    stopped: bool
    """Stopped part-way with "stop"."""
    expected: int
    """Clips (lines, cues, chimes) its plan called for (up to the stop)."""
    heard: int
    """Lines, cues and chimes it published."""
    missing: int
    """Planned ones that never came (a lost cue)."""
    extra: int
    """Published ones no plan called for."""
    in_order: bool
    """Exactly the plan, in order (a prefix of it, then the confirmation, when stopped)."""
    published: int
    """Clips it published."""
    received: int
    """Of those, clips the subscriber received, in order."""
    session: SessionResult | None = None
    """Cue timing, for breathing sessions that ran to their end."""
    timed_out: bool = False
    """It overran twice its expected length."""
    minutes: float = 0.0
    """Plan minutes from its intent until the site was idle again."""

    @property
    def ok(self) -> bool:
        """Nothing missing, extra, out of order, lost on the way or hung."""
        return (
            self.in_order
            and not self.missing
            and not self.extra
            and self.received == self.published
            and not self.timed_out
        )


@dataclass
class Report:
    """The soak's results."""

    settings: Settings
    """What ran."""
    moments: list[Census] = field(default_factory=list)
    """before, online and idle, after warm-up, idle after the soak, closed."""
    samples: list[Census] = field(default_factory=list)
    """Every sample_minutes of plan time during the soak."""
    jobs: list[JobResult] = field(default_factory=list)
    """Every activity."""
    leftovers: dict[str, int] = field(default_factory=dict)
    """The skill's own bookkeeping after the soak, while still running (should all be 0)."""
    cpu: CpuMeter = field(default_factory=CpuMeter)
    """CPU during the soak."""
    failures: list[str] = field(default_factory=list)
    """Anything that went wrong outside the checks."""
    pause: float = 0.0
    """Longest time checking an activity held up the event loop, seconds."""
    growth: list[str] = field(default_factory=list)
    """With Settings.trace: where the Python heap grew most from idle before to idle after."""
    prepare: float = 0.0
    """Seconds spent making sure the persistent clip cache is complete."""
    seconds: float = 0.0
    """Wall-clock time of the whole benchmark."""

    def moment(self, label: str) -> Census:
        """The census taken at a named moment."""
        return next(m for m in self.moments if m.label == label)

    def new_threads(self) -> list[str]:
        """Names of threads alive after the runtime closed that were not there before it."""
        before = self.moment("before").names
        return sorted(set(self.moment("closed").names) - set(before))

    def _steady(self) -> list[Census]:
        return [s for s in self.samples if s.minute >= self.settings.warmup_minutes]

    def _third(self, last: bool) -> list[float]:
        steady = [s.rss for s in self._steady()]
        third = max(1, len(steady) // 3)
        return steady[-third:] if last else steady[:third]

    @property
    def rss_growth(self) -> float:
        """Median RSS of the last third of the samples after warm-up minus the first third."""
        first, last = self._third(last=False), self._third(last=True)
        if not first or not last:
            return math.nan
        return statistics.median(last) - statistics.median(first)

    @property
    def noise(self) -> float:
        """What RSS moves by without growing: the spread of the first third, at least the floor.

        Within one third of the steady samples RSS goes up and down with the clips and
        messages in flight and with malloc keeping or returning freed pages; a growth smaller
        than that spread (or than NOISE_FLOOR_MIB) cannot be told from it.
        """
        first = self._third(last=False)
        spread = max(first) - min(first) if first else 0.0
        return max(NOISE_FLOOR_MIB, spread)

    @property
    def rss_ok(self) -> bool:
        """No RSS growth beyond the noise."""
        return not math.isnan(self.rss_growth) and self.rss_growth <= self.noise

    @property
    def cues_ok(self) -> bool:
        """Nothing missing, extra, out of order or lost on the way, in any activity."""
        return bool(self.jobs) and all(j.ok for j in self.jobs) and not self.failures

    @property
    def tasks_ok(self) -> bool:
        """Idle after the soak as after the start; after closing as before starting."""
        return (
            self.moment("idle after the soak").tasks == self.moment("online and idle").tasks
            and self.moment("closed").tasks == self.moment("before").tasks
            and not any(self.leftovers.values())
        )

    @property
    def threads_ok(self) -> bool:
        """Threads back to where they were (the default executor's idle workers aside)."""
        before, closed = self.moment("before"), self.moment("closed")
        idle = self.moment("idle after the soak").own_threads
        return (
            idle == self.moment("online and idle").own_threads
            and closed.own_threads == before.own_threads
            and closed.pool <= DEFAULT_POOL
        )

    @property
    def ok(self) -> bool:
        """Every target holds."""
        return self.rss_ok and self.cues_ok and self.tasks_ok and self.threads_ok


def site_names(count: int) -> list[str]:
    """soak-1, soak-2, ...: the configured sites."""
    return [f"soak-{index + 1}" for index in range(count)]


def room(sites: Sequence[str]) -> list[dict[str, object]]:
    """A music player and a breathing lamp per site, so music fades and lights run too."""
    devices: list[dict[str, object]] = []
    for site in sites:
        topic = f"soak/{site}/player"
        devices.append(
            {
                "name": f"{site}-player",
                "kind": "generic",
                "sites": [site],
                "play": {"topic": topic, "payload": '{"play": "{playlist}"}'},
                "stop": {"topic": topic, "payload": '{"stop": true}'},
                "volume": {"topic": topic, "payload": '{"volume": {volume}}'},
            }
        )
        devices.append(
            {
                "name": f"{site}-lamp",
                "kind": "zigbee2mqtt-light",
                "friendly_name": f"soak/{site}/lamp",
                "sites": [site],
                "scene": {"brightness": 30, "color_temp": 454, "transition": 45},
                "restore": {"brightness": 200, "color_temp": 370, "transition": 3},
                "breathing": {"low": 20, "high": 90},
            }
        )
    return devices


class Soak:
    """One soak: the sites' rotations, each activity checked as it ends, and the samples.

    Each activity is checked as soon as its site is idle again, and what was recorded for
    it is then forgotten: the benchmark's own records stay small, so the RSS measured is
    the skill's.
    """

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        recorder: Recorder,
        spoken: SpokenLog,
        stand_in: CheckinStandIn,
        intents: Intents,
        assets: Assets,
    ) -> None:
        skill = runtime.skill
        if skill is None:
            raise RuntimeError("the runtime is not started")
        self.settings = settings
        self.skill: Skill = skill
        self.recorder = recorder
        self.spoken = spoken
        self.stand_in = stand_in
        self.assets = assets
        self.lines = Lines(assets, runtime.config.voice.max_sentence_chars)
        self.scale = settings.scale
        self.sites = site_names(settings.sites)
        self.messages = {
            (site, job.sentence): intents.message(job.sentence, site)
            for site in self.sites
            for job in ROTATION
        }
        self.stops = {site: intents.message("stop", site) for site in self.sites}
        self.rng = random.Random(settings.seed)
        self.began = 0.0
        self.controls: dict[str, list[BreathingControl]] = {site: [] for site in self.sites}
        """Breathing sessions and routine stretches of each site's current activity."""
        self.results: list[JobResult] = []
        """Every activity, checked."""
        self.samples: list[Census] = []
        """RSS, tasks and threads every sample_minutes."""
        self.failures: list[str] = []
        """What went wrong outside the checks."""
        self.pause = 0.0
        """Longest time a check held up the event loop (the skill's too), seconds."""

    def minute(self, at: float | None = None) -> float:
        """Plan minutes since the soak began."""
        return ((time.monotonic() if at is None else at) - self.began) / self.scale / 60

    async def run(self) -> None:
        """Every site's rotation until the hour is up; samples and controls on the side."""
        self.began = time.monotonic()
        watcher = asyncio.create_task(self._watch(), name="soak-watch")
        sampler = asyncio.create_task(self._sample(), name="soak-sample")
        try:
            step = max(1, len(ROTATION) // len(self.sites))
            loops = [self._site(site, index * step) for index, site in enumerate(self.sites)]
            await asyncio.gather(*loops)
        finally:
            for task in (watcher, sampler):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def finish(self) -> None:
        """Stop every site the real way; wait until all of it, music fade-outs too, is done."""
        for site in self.sites:
            self.recorder.publish(*self.stops[site])
        await asyncio.sleep(0.2)
        await asyncio.wait_for(asyncio.gather(*(self.skill.idle(s) for s in self.sites)), 30.0)
        await asyncio.sleep(0.5 + 2 * FADE_OUT * self.scale)

    async def _site(self, site: str, first: int) -> None:
        rotation = itertools.islice(itertools.cycle(ROTATION), first, None)
        count = skipped = 0
        while skipped < len(ROTATION):
            job = next(rotation)
            if self.minute() + job.minutes > self.settings.plan_minutes:
                skipped += 1  # does not fit in what is left of the hour; the next may
                continue
            skipped = 0
            count += 1
            stop_at = None
            if self.settings.stop_every and count % self.settings.stop_every == 0:
                stop_at = self.rng.uniform(0.2, 0.8) * job.minutes
            run = await self._job(site, job, stop_at)
            await self._arrived(run)
            began = time.perf_counter()
            self.results.append(self._check(run))
            self._forget(run)
            self.pause = max(self.pause, time.perf_counter() - began)

    async def _job(self, site: str, job: Job, stop_at: float | None) -> JobRun:
        topic, payload = self.messages[site, job.sentence]
        run = JobRun(site, job, self.recorder.publish(topic, payload))
        await self._started(site)
        if stop_at is not None:
            await asyncio.sleep(max(0.0, run.began + stop_at * 60 * self.scale - time.monotonic()))
            if self.skill.activity(site):
                run.stopped = self.recorder.publish(*self.stops[site])
        try:
            await asyncio.wait_for(self.skill.idle(site), 2 * job.minutes * 60 * self.scale + 5)
        except TimeoutError:
            run.timed_out = True
            self.failures.append(f"{job.sentence!r} on {site} did not end in time")
            self.recorder.publish(*self.stops[site])
            await asyncio.wait_for(self.skill.idle(site), 10.0)
        run.ended = time.monotonic()
        return run

    async def _arrived(self, run: JobRun, limit: float = 2.0) -> None:
        """Give the clips still on their way when the site went idle time to arrive."""
        sent = sum(1 for t, _ in self.spoken.for_site(run.site, run.began) if t <= run.ended)
        topic = f"hermes/audioServer/{run.site}/playBytes/+"
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if len(self.recorder.arrivals(topic, since=run.began)) >= sent:
                return
            await asyncio.sleep(0.005)

    async def _started(self, site: str, limit: float = 5.0) -> None:
        deadline = time.monotonic() + limit
        while not self.skill.activity(site):
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing started on {site} within {limit:.0f} s")
            await asyncio.sleep(0.002)

    async def _watch(self) -> None:
        """Note every breathing control (sessions and routine stretches) as it appears."""
        seen: dict[str, BreathingControl | None] = dict.fromkeys(self.sites)
        while True:
            for site in self.sites:
                control = self.skill.site(site).breathing
                if control is not None and control is not seen[site]:
                    self.controls[site].append(control)
                seen[site] = control
            await asyncio.sleep(0.01)

    async def _sample(self) -> None:
        """RSS, tasks and threads every sample_minutes of plan time, as they are."""
        every = self.settings.sample_minutes * 60 * self.scale
        for index in itertools.count(1):
            await asyncio.sleep(max(0.0, self.began + index * every - time.monotonic()))
            self.samples.append(census("sample", self.minute()))

    def _check(self, run: JobRun) -> JobResult:
        """Compare what an activity published (and what arrived) with what it should have."""
        site, job = run.site, run.job
        published = [(t, s) for t, s in self.spoken.for_site(site, run.began) if t <= run.ended]
        # One publisher, one broker, QoS 0: a site's clips arrive in the order published.
        topic = f"hermes/audioServer/{site}/playBytes/+"
        arrivals = [(a.t, a.payload) for a in self.recorder.arrivals(topic, since=run.began)]
        arrivals = arrivals[: len(published)]
        plans = [c.plan for c in self.controls[site]]
        stopped = run.stopped is not None or run.timed_out
        if job.kind == "breathing":
            expected = self.lines.plan(plans[0]) if plans else []
        else:
            name = job.sentence.split()[0]  # short, quiet or long
            replies = [
                REPLIES.get(a or "") for a in self.stand_in.given(site, run.began, run.ended)
            ]
            expected = self.lines.routine(
                self.assets.routines[name],
                quiet=name == "quiet",
                plans=iter(plans),
                replies=iter(replies),
            )
        hints = [*expected, ("speech", STOP_KEY)] if stopped else expected
        heard = self.lines.heard([item for _, item in published], hints)
        if stopped and heard and heard[-1] == ("speech", STOP_KEY):
            heard = heard[:-1]
        missing, extra = differences(expected, heard, cut=stopped)
        session = None
        if job.kind == "breathing" and not stopped and len(plans) == 1:
            session = measure(
                SessionResult(site, 0, self.scale),
                self.controls[site][0],
                published,
                arrivals,
                self.assets.responses,
            )
        return JobResult(
            site=site,
            job=job,
            minute=self.minute(run.began),
            stopped=stopped,
            expected=len(heard) - extra + missing if stopped else len(expected),
            heard=len(heard),
            missing=missing,
            extra=extra,
            in_order=heard == (expected[: len(heard)] if stopped else expected),
            published=len(published),
            received=len(arrival_times(published, arrivals)),
            session=session,
            timed_out=run.timed_out,
            minutes=(run.ended - run.began) / self.scale / 60,
        )

    def _forget(self, run: JobRun) -> None:
        """Drop what was recorded for a checked activity."""
        self.spoken.forget(run.site, run.ended)
        for topic in (f"hermes/audioServer/{run.site}/playBytes/+", START_SESSION):
            self.recorder.forget(topic, run.ended)  # startSessions: the stand-in keeps its own
        self.stand_in.forget(run.site, run.ended)
        self.controls[run.site].clear()


def leftovers(runtime: Runtime) -> dict[str, int]:
    """The skill's own bookkeeping while idle: anything left here is held for ever."""
    skill = runtime.skill
    if skill is None:
        return {}
    sites = skill.sites._sites.values()  # no public view of these; a soak has to look
    clips = runtime.clips
    return {
        "replies of stopped sites (Site.extras)": sum(len(s.extras) for s in sites),
        "activities being stopped (Site.stopping)": sum(len(s.stopping) for s in sites),
        "clips waiting for playFinished (Output._waiting)": len(skill.output._waiting),
        "check-ins waiting for an answer (Dialogues._pending)": len(skill._dialogues._pending),
        "room tasks (Room._tasks)": len(skill.room._tasks),
        "renders in flight (ClipCache._inflight)": len(clips._inflight) if clips else 0,
    }


async def run(settings: Settings = Settings()) -> Report:
    """The whole soak: plan_minutes x scale of real time, plus start-up and the checks."""
    began = time.monotonic()
    report = Report(settings)
    report.moments.append(census("before", collect=True))
    root = Path(tempfile.mkdtemp(prefix="aftercare-bench-soak-"))
    real_voice = settings.synthesizer is None
    if settings.trace:
        tracemalloc.start(TRACE_FRAMES)
    try:
        if real_voice:
            log.info("soak: preparing the clip cache")
            report.prepare = await warm_clip_cache(root)
        sites = site_names(settings.sites)
        folder = data_dir(root, "soak", warm=real_voice)
        config = bench_config(folder, sites=sites, devices=room(sites), broker=settings.broker)
        assets = await asyncio.to_thread(load_assets, config, project_dir())
        intents = Intents(config)
        stand_in = CheckinStandIn(intents, sites, ANSWERS)
        spoken = SpokenLog()
        runtime = Runtime(
            config, time_scale=settings.scale, listener=spoken, synthesizer=settings.synthesizer
        )
        async with runtime:
            await wait_quiet(runtime)
            with Recorder(
                runtime.host,
                runtime.port,
                [PLAY_BYTES_ALL, START_SESSION],
                answer=True,
                play_scale=settings.scale,
                respond=stand_in,
                keep_bytes=WAV_HEADER,
            ) as recorder:
                soak = Soak(settings, runtime, recorder, spoken, stand_in, intents, assets)
                report.moments.append(census("online and idle", collect=True))
                first = tracemalloc.take_snapshot() if settings.trace else None
                log.info(
                    "soak: %d sites, %g plan minutes at scale %g (%.0f s)",
                    settings.sites,
                    settings.plan_minutes,
                    settings.scale,
                    settings.plan_minutes * 60 * settings.scale,
                )
                report.cpu.start()
                try:
                    await soak.run()
                finally:
                    await soak.finish()
                    report.cpu.stop()
                report.moments.append(census("idle after the soak", soak.minute(), collect=True))
                if first is not None:
                    report.growth = heap_growth(first, tracemalloc.take_snapshot())
                report.leftovers = leftovers(runtime)
                report.jobs = soak.results
                report.samples = soak.samples
                report.failures = soak.failures
                report.pause = soak.pause
        report.moments.append(await settled_census("closed", report.moment("before")))
    finally:
        tracemalloc.stop()
        shutil.rmtree(root, ignore_errors=True)
    report.seconds = time.monotonic() - began
    return report


def heap_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> list[str]:
    """The places the Python heap grew most between two snapshots, one line each."""
    found = []
    for stat in after.compare_to(before, "traceback")[:TRACE_TOP]:
        if stat.size_diff <= 0:
            continue
        innermost = list(stat.traceback)[::-1][:3]
        where = " ← ".join(f"{Path(f.filename).name}:{f.lineno}" for f in innermost)
        found.append(f"{stat.size_diff / 1024:+.0f} KiB in {stat.count_diff:+d} blocks: {where}")
    return found


# --- Markdown --------------------------------------------------------------------------------


def _jobs_rows(report: Report) -> list[list[str]]:
    rows: list[list[str]] = []
    for job in ROTATION:
        done = [j for j in report.jobs if j.job == job]
        if not done:
            continue
        whole = [j.minutes for j in done if not j.stopped]
        rows.append(
            [
                f"{job.kind}: {job.sentence}",
                str(len(done)),
                f"{statistics.median(whole):.1f}" if whole else "—",
                str(sum(j.stopped for j in done)),
                str(sum(j.expected for j in done)),
                str(sum(j.heard for j in done)),
                str(sum(j.missing for j in done)),
                str(sum(j.extra for j in done)),
                str(sum(not j.in_order for j in done)),
                str(sum(j.published - j.received for j in done)),
            ]
        )
    return rows


def _moment_rows(report: Report) -> list[list[str]]:
    return [
        [
            m.label,
            "—" if math.isnan(m.minute) else f"{m.minute:.0f}",
            f"{m.rss:.1f}",
            str(m.tasks),
            f"{m.own_threads} (+{m.pool} idle executor workers)",
        ]
        for m in report.moments
    ]


def markdown(report: Report) -> str:
    """The results as Markdown."""
    settings = report.settings
    steady = [s for s in report.samples if s.minute >= settings.warmup_minutes]
    series = ", ".join(
        f"{s.minute:.0f}: {s.rss:.1f}" for s in report.samples[:: max(1, len(report.samples) // 12)]
    )
    sessions = [j.session for j in report.jobs if j.session is not None]
    values = [v for s in sessions for v in s.latenesses()]
    lost = sum(j.missing for j in report.jobs)
    summary = table(
        ["target", "holds", "measured"],
        [
            [
                "no RSS growth beyond noise",
                verdict(report.rss_ok),
                f"{report.rss_growth:+.1f} MiB from the first to the last third of "
                f"{len(steady)} samples after minute {settings.warmup_minutes:g}; noise "
                f"{report.noise:.1f} MiB",
            ],
            [
                "no lost cue; every line in order",
                verdict(report.cues_ok),
                f"{len(report.jobs)} activities, {sum(j.heard for j in report.jobs)} lines, "
                f"cues and chimes: {lost} missing, {sum(j.extra for j in report.jobs)} extra, "
                f"{sum(not j.in_order for j in report.jobs)} out of order, "
                f"{sum(j.published - j.received for j in report.jobs)} lost on the way"
                + (f"; {'; '.join(report.failures)}" if report.failures else ""),
            ],
            [
                "no leaked task",
                verdict(report.tasks_ok),
                f"{report.moment('online and idle').tasks} → "
                f"{report.moment('idle after the soak').tasks} tasks idle; "
                f"{report.moment('before').tasks} → {report.moment('closed').tasks} "
                "before / after the runtime",
            ],
            [
                "no leaked thread",
                verdict(report.threads_ok),
                f"{report.moment('online and idle').own_threads} → "
                f"{report.moment('idle after the soak').own_threads} idle; "
                f"{report.moment('before').own_threads} → {report.moment('closed').own_threads} "
                "before / after the runtime"
                + (f"; new: {', '.join(report.new_threads())}" if report.new_threads() else ""),
            ],
        ],
    )
    leftover = ", ".join(f"{name}: {count}" for name, count in report.leftovers.items())
    timing = (
        f"Cue timing of the {len(sessions)} breathing sessions that ran to their end "
        f"(compressed x{settings.scale:g}: a check that nothing stalls; the lateness targets "
        "are judged in real time by the cue-lateness and 20-site benchmarks): median "
        f"{ms(percentile(values, 50), 1)} ms, p99 "
        f"{ms(percentile(values, 99), 1)} ms, max {ms(max(values, default=math.nan), 1)} ms."
        if values
        else "No breathing session ran to its end."
    )
    return "\n\n".join(
        [
            "## Soak (issue #7)",
            f"{settings.plan_minutes:g} minutes of plan time **compressed x{settings.scale:g}** "
            f"({settings.plan_minutes * 60 * settings.scale:.0f} s) on {settings.sites} sites "
            "of one Runtime (real Piper voice, Mosquitto on 127.0.0.1, a player and a breathing "
            "lamp per site). Each site runs the rotation below from a different place, each "
            "activity started by its NluIntent as soon as the one before has ended; "
            + (
                f'every {settings.stop_every}th is stopped part-way by "stop". '
                if settings.stop_every
                else "none is stopped part-way. "
            )
            + "A separate paho client "
            "answers every clip with playFinished when it would have finished playing, and "
            'plays the dialogue manager for check-ins ("I\'m okay", "no thanks", a '
            "time-out, in turn). Every activity's clips are decoded back into response keys, "
            "cue texts and chimes and compared with its routine or breathing plan. RSS, tasks "
            f"and threads are sampled every {settings.sample_minutes:g} plan minute(s) as they "
            "are (a full garbage collection pauses the event loop for tens of milliseconds, so "
            "it is forced only at the quiet moments of the last table). Each activity is "
            "checked when its site is idle again, on the event loop the skill shares: the "
            f"longest check took {report.pause * 1000:.1f} ms.",
            summary,
            table(
                [
                    "activity",
                    "runs",
                    "plan minutes (median of whole runs)",
                    "stopped",
                    "planned",
                    "heard",
                    "missing",
                    "extra",
                    "out of order",
                    "lost on the way",
                ],
                _jobs_rows(report),
            ),
            table(
                ["moment", "plan minute", "RSS MiB", "asyncio tasks", "threads"],
                _moment_rows(report),
            ),
            f"RSS by plan minute (MiB): {series}. Noise: RSS moves with the clips and messages "
            "in flight and with malloc keeping or returning freed pages, so growth only counts "
            f"beyond the spread within the first third of the steady samples, and never below "
            f"{NOISE_FLOOR_MIB:g} MiB. The event loop's default executor keeps its idle workers "
            "(at most cores + 4); they are shown apart and do not count as leaked.",
            f"The skill's own bookkeeping, idle after the soak: {leftover}.",
            *(
                [
                    "Where the Python heap grew, idle before to idle after (tracemalloc):",
                    "\n".join(f"- {line}" for line in report.growth),
                ]
                if report.growth
                else []
            ),
            timing,
            f"CPU during the soak: {report.cpu.describe()}. Benchmark wall time: "
            f"{report.seconds:.0f} s.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    """python -m benchmarks.soak [--quick]: print the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="20 plan minutes (~1.5 min)")
    parser.add_argument(
        "--trace", action="store_true", help="also show where the Python heap grew (slower)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("benchmarks").setLevel(logging.INFO)
    settings = dataclasses.replace(QUICK if args.quick else Settings(), trace=args.trace)
    print(markdown(asyncio.run(run(settings))))


if __name__ == "__main__":
    main()
