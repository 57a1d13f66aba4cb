"""Issue #3: how late breathing cues reach a subscriber, against their planned deadlines.

Each session is started the real way (an NluIntent published on the embedded Mosquitto) and
runs with the real scheduler and the real Piper voice. A separate paho client in this process
stamps every clip arriving on ``hermes/audioServer/<site>/playBytes/+`` with
``time.monotonic()``, the clock the runner schedules on; each clip is paired with the cue it
belongs to, whose deadline is ``start + offset * scale``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import (
    PLAY_BYTES,
    SITE,
    Intents,
    Recorder,
    SpokenLog,
    bench_config,
    data_dir,
    ms,
    percentile,
    table,
    verdict,
    wait_quiet,
    warm_clip_cache,
)
from skill.app import Runtime, project_dir
from skill.breathing.grid import Cue
from skill.breathing.runner import STALE_AFTER, BreathingControl
from skill.language.responses import ResponseBook, response_path
from skill.voice.audio import wav_duration
from skill.voice.clips import ClipCache
from skill.voice.output import SENTENCE_GAP, Spoken

log = logging.getLogger(__name__)

P99_TARGET = 0.010
"""Target: 99 % of clips within 10 ms of their deadline."""
MAX_TARGET = 0.025
"""Target: no clip more than 25 ms late."""
DRIFT_TOLERANCE = 0.002
"""Most lateness a session may gain from its first to its last phase cue (fitted line)."""
EARLY_TOLERANCE = 0.002
"""A clip published up to this early still belongs to the cue (timer rounding)."""
EDGE_CUES = 10
"""How many first and last phase cues the drift compares."""
PATTERN = "calm"
"""4 s in, 6 s out: the shortest phase is 4 s."""
SHORTEST_PHASE = 4.0
"""Shortest phase of PATTERN, in plan seconds."""
MIN_GAP = 0.150
"""Compressed sessions keep consecutive phase cues at least this far apart (real seconds)."""
COMPRESSED_SCALE = MIN_GAP / SHORTEST_PHASE
"""0.0375: a 30-minute session takes 67.5 s and cues stay 150 ms apart."""
NUMBER_WORDS: Mapping[int, str] = {
    1: "one",
    2: "two",
    3: "three",
    5: "five",
    10: "ten",
    15: "fifteen",
    20: "twenty",
    30: "thirty",
}


@dataclass(frozen=True)
class ClipTiming:
    """One clip of a session: when it was due, published and received."""

    kind: str
    """phase (a spoken breathing cue), chime, or note (a sentence of an intro/safety/close)."""
    offset: float
    """Plan offset of its cue, in plan seconds."""
    deadline: float
    """Planned monotonic time."""
    published: float
    """Monotonic time right after the skill handed it to paho."""
    arrived: float
    """Monotonic time the subscriber had it."""

    @property
    def lateness(self) -> float:
        """Arrival at the subscriber minus the deadline, in seconds."""
        return self.arrived - self.deadline

    @property
    def publish_lateness(self) -> float:
        """Publish call minus the deadline: the scheduler's share of the lateness."""
        return self.published - self.deadline


@dataclass
class SessionResult:
    """Everything measured for one breathing session."""

    label: str
    """What was measured (e.g. idle, Piper load)."""
    minutes: int
    """Session length asked for."""
    scale: float
    """Real seconds per plan second."""
    clips: list[ClipTiming] = field(default_factory=list)
    """Every clip paired with its cue."""
    planned: int = 0
    """Clips the plan called for (phase cues, chimes, first sentences of notes)."""
    missing: int = 0
    """Planned clips that never came (dropped as stale, or lost)."""
    unmatched: int = 0
    """Clips that fit no planned cue, or arrived without a publish (should be 0)."""
    min_gap: float = math.inf
    """Smallest real gap between consecutive planned cue deadlines, in seconds."""
    wall: float = 0.0
    """Wall-clock length of the session, in seconds."""
    load_renders: int = 0
    """Sentences Piper rendered concurrently (0 when idle)."""
    load_busy: float = 0.0
    """Share of the session Piper spent rendering."""

    def latenesses(self, kind: str | None = None) -> list[float]:
        """Lateness of every clip (of one kind), in arrival order."""
        return [c.lateness for c in self.clips if kind is None or c.kind == kind]

    def edge(self, last: bool) -> list[float]:
        """Lateness of the first (or last) EDGE_CUES phase cues."""
        phase = self.latenesses("phase")
        return phase[-EDGE_CUES:] if last else phase[:EDGE_CUES]

    @property
    def drift(self) -> float:
        """Median lateness of the last phase cues minus that of the first ones."""
        return percentile(self.edge(last=True), 50) - percentile(self.edge(last=False), 50)

    @property
    def trend(self) -> float:
        """Lateness gained from the first to the last phase cue on a least-squares line."""
        points = [(c.offset, c.lateness) for c in self.clips if c.kind == "phase"]
        if len(points) < 2:
            return math.nan
        mean_x = sum(x for x, _ in points) / len(points)
        mean_y = sum(y for _, y in points) / len(points)
        spread = sum((x - mean_x) ** 2 for x, _ in points)
        if spread == 0:
            return math.nan
        slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
        return slope * (points[-1][0] - points[0][0])

    @property
    def meets_targets(self) -> bool:
        """p99 and max within target, nothing missing or unmatched."""
        values = self.latenesses()
        return (
            bool(values)
            and percentile(values, 99) <= P99_TARGET
            and max(values) <= MAX_TARGET
            and self.missing == 0
            and self.unmatched == 0
        )


# --- Pairing clips with cues -----------------------------------------------------------------


@dataclass(frozen=True)
class _Due:
    """A planned clip: which cue, when, and what the skill should publish for it."""

    kind: str
    """phase, chime or note."""
    offset: float
    """Plan offset of the cue."""
    deadline: float
    """Monotonic deadline."""
    text: str | None
    """Expected Spoken.text (cue words or chime name); None for notes (a random variant)."""


def _dues(cues: Sequence[Cue], start: float, scale: float, texts: ResponseBook) -> list[_Due]:
    dues: list[_Due] = []
    for cue in cues:
        deadline = start + cue.offset * scale
        if cue.chime is not None:
            dues.append(_Due("chime", cue.offset, deadline, cue.chime))
        if cue.voice_key is None:
            continue
        if cue.kind == "phase":
            dues.append(_Due("phase", cue.offset, deadline, texts.variants(cue.voice_key)[0]))
        else:
            dues.append(_Due("note", cue.offset, deadline, None))
    return dues


_CHANNEL = {"cue": "phase", "chime": "chime", "speech": "note"}


def pair(
    result: SessionResult,
    dues: Sequence[_Due],
    published: Sequence[tuple[float, Spoken]],
    arrived: Sequence[float],
    scale: float,
) -> None:
    """Pair every published clip with its cue; count missing and unmatched clips.

    Each clip belongs to the latest cue of its kind due at or before its publish time; cues
    skipped over were dropped. A note's later sentences follow its first one back to back:
    sentence i is due (clip length + SENTENCE_GAP) * scale after sentence i - 1.
    """
    result.planned = len(dues)
    ordered = sorted(d.deadline for d in dues)
    gaps = [b - a for a, b in itertools.pairwise(ordered) if b > a]
    result.min_gap = min(gaps, default=math.inf)
    result.unmatched += len(published) - len(arrived)  # published but never received
    for channel in ("phase", "chime", "note"):
        due = [d for d in dues if d.kind == channel]
        used = -1  # index of the last cue a clip was paired with
        note_due = 0.0  # deadline of the next sentence of the current note
        for (t_pub, spoken), t_arr in zip(published, arrived, strict=False):
            if _CHANNEL.get(spoken.kind) != channel:
                continue
            k = used
            while k + 1 < len(due) and due[k + 1].deadline <= t_pub + EARLY_TOLERANCE:
                k += 1
            if channel == "note" and k == used and used >= 0:
                deadline = note_due  # a further sentence of the same note
            elif k > used:
                result.missing += k - used - 1
                used, deadline = k, due[k].deadline
                if due[k].text is not None and due[k].text != spoken.text:
                    result.unmatched += 1
                    continue
            else:
                result.unmatched += 1
                continue
            note_due = deadline + (spoken.seconds + SENTENCE_GAP) * scale
            result.clips.append(ClipTiming(channel, due[k].offset, deadline, t_pub, t_arr))
        result.missing += len(due) - used - 1
    result.clips.sort(key=lambda c: c.arrived)


def arrival_times(
    published: Sequence[tuple[float, Spoken]], arrivals: Sequence[tuple[float, bytes]]
) -> list[float]:
    """Arrival time of each published clip, up to the first one that did not arrive.

    The n-th clip published is the n-th received (one publisher, QoS 0, one broker: MQTT
    keeps the order); the clip length confirms each pair.
    """
    times: list[float] = []
    for (_, spoken), (t_arr, payload) in zip(published, arrivals, strict=False):
        if abs(wav_duration(payload) - spoken.seconds) > 1e-6:
            log.warning("clip %d was not received in order; pairing stops there", len(times))
            break
        times.append(t_arr)
    return times


# --- Running sessions ------------------------------------------------------------------------


class PiperLoad:
    """Renders never-seen sentences back to back through the skill's own ClipCache."""

    def __init__(self, clips: ClipCache) -> None:
        self._clips = clips
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.renders = 0
        """Sentences rendered so far."""
        self.busy = 0.0
        """Seconds spent waiting on renders."""
        self._began = 0.0
        self.share = 0.0
        """Share of its running time spent rendering (about 1.0: Piper never rested)."""

    async def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            text = (
                f"This is background sentence {self.renders + 1} of run {id(self) % 997}, "
                "rendered while a breathing session is running."
            )
            await self._clips.clip(text)
            self.busy += time.monotonic() - started
            self.renders += 1

    def start(self) -> None:
        """Start rendering in the background."""
        self._began = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="piper-load")

    async def stop(self) -> None:
        """Finish the render under way, then stop."""
        self._stop.set()
        if self._task is not None:
            await self._task
        lasted = time.monotonic() - self._began
        self.share = self.busy / lasted if lasted > 0 else 0.0


def skill_clips(runtime: Runtime) -> ClipCache:
    """The ClipCache (and so the single Piper executor) the running skill speaks through."""
    clips = runtime.clips  # the load must share the skill's voice thread
    if clips is None:
        raise RuntimeError("the runtime has no Piper voice; set voice.engine: piper")
    return clips


async def session_control(
    runtime: Runtime, previous: BreathingControl | None, site_id: str = SITE
) -> BreathingControl:
    """The BreathingControl of the session just asked for on a site."""
    skill = runtime.skill
    if skill is None:
        raise RuntimeError("the runtime is not started")
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        control = skill.site(site_id).breathing
        if control is not None and control is not previous:
            return control
        await asyncio.sleep(0.001)
    raise TimeoutError(f"no breathing session started on {site_id} within 5 s of the intent")


def measure(
    result: SessionResult,
    control: BreathingControl,
    published: Sequence[tuple[float, Spoken]],
    arrivals: Sequence[tuple[float, bytes]],
    texts: ResponseBook,
) -> SessionResult:
    """Pair one site's published and received clips with its session's final plan.

    `published`: what the Runtime listener saw for the site (SpokenLog.for_site);
    `arrivals`: (time, payload) of every clip the subscriber received on the site's
    playBytes topic, both from the session's start on.
    """
    dues = _dues(control.plan.cues, control.start, result.scale, texts)
    pair(result, dues, published, arrival_times(published, arrivals), result.scale)
    return result


async def run_session(
    runtime: Runtime,
    recorder: Recorder,
    spoken: SpokenLog,
    intents: Intents,
    minutes: int,
    label: str,
    *,
    load: bool = False,
) -> SessionResult:
    """Run one breathing session of `minutes` (plan time) and pair every clip with its cue."""
    skill = runtime.skill
    if skill is None:
        raise RuntimeError("the runtime is not started")
    scale = runtime.clock.scale
    texts = ResponseBook.load(response_path(project_dir() / "responses", runtime.config.language))
    await skill.idle(SITE)
    previous = skill.site(SITE).breathing
    recorder.clear()
    spoken.clear()
    piper = PiperLoad(skill_clips(runtime)) if load else None
    if piper is not None:
        piper.start()
        await asyncio.sleep(0.5)  # the load is under way before the session starts
    topic, payload = intents.message(f"{NUMBER_WORDS[minutes]} minutes of {PATTERN} breathing")
    began = recorder.publish(topic, payload)
    control = await session_control(runtime, previous)
    end = control.plan.end_offset or 0.0
    await asyncio.wait_for(skill.idle(SITE), end * scale + 30.0)
    wall = time.monotonic() - began
    if piper is not None:
        await piper.stop()
    await asyncio.sleep(0.3)  # the last clips are still on their way
    published = spoken.for_site(SITE)
    arrivals = [(a.t, a.payload) for a in recorder.arrivals(PLAY_BYTES)]
    result = SessionResult(label, minutes, scale, wall=wall)
    if piper is not None:
        result.load_renders = piper.renders
        result.load_busy = piper.share
    return measure(result, control, published, arrivals, texts)


# --- The benchmark ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """How much to run."""

    compressed_minutes: int = 30
    """Length of the compressed sessions (plan minutes)."""
    drift_minutes: tuple[int, ...] = (5, 15, 30)
    """Session lengths for the drift table (the longest reuses the idle compressed run)."""
    realtime_minutes: int = 1
    """Length of each real-time session."""
    scale: float = COMPRESSED_SCALE
    """Time scale of the compressed sessions."""


QUICK = Settings(compressed_minutes=5, drift_minutes=(1, 2, 5), realtime_minutes=1, scale=0.05)

"""A short run for trying the benchmark out (about a minute and a half)."""


@dataclass
class Report:
    """The benchmark's results."""

    sessions: list[SessionResult]
    """Idle and loaded, compressed and real time."""
    drift: list[SessionResult]
    """One idle compressed session per length, shortest first."""
    seconds: float
    """Wall-clock time the benchmark took."""
    prepare: float = 0.0
    """Seconds spent making sure the persistent clip cache is complete."""
    warmup: list[float] = field(default_factory=list)
    """Seconds each runtime needed after `online` until its background renders were done."""

    @property
    def ok(self) -> bool:
        """Every target holds."""
        return all(s.meets_targets for s in self.sessions) and drift_ok(self.drift)


def drift_ok(sessions: Sequence[SessionResult]) -> bool:
    """No session's lateness trends upwards by more than DRIFT_TOLERANCE from start to end.

    The trend is a least-squares line through every phase cue, so the jitter of single cues
    (a few ms here) does not decide, as it would comparing medians of 10 cues.
    """
    return all(s.trend <= DRIFT_TOLERANCE for s in sessions)


async def _with_runtime(
    folder: Path, scale: float, jobs: Sequence[tuple[int, str, bool]], report: Report
) -> list[SessionResult]:
    config = bench_config(folder, pattern=PATTERN)
    spoken = SpokenLog()
    intents = Intents(config)
    results: list[SessionResult] = []
    async with Runtime(config, time_scale=scale, listener=spoken) as runtime:
        log.info("cue lateness: waiting for the skill's background renders (scale %g)", scale)
        report.warmup.append(await wait_quiet(runtime))
        with Recorder(runtime.host, runtime.port, [PLAY_BYTES]) as recorder:
            for minutes, label, load in jobs:
                log.info("cue lateness: %s, %d min at scale %g", label, minutes, scale)
                result = await run_session(
                    runtime, recorder, spoken, intents, minutes, label, load=load
                )
                results.append(result)
    return results


async def run(settings: Settings = Settings()) -> Report:
    """Run every session of the benchmark (bounded by the plan lengths: ~5.5 min)."""
    started = time.monotonic()
    report = Report([], [], 0.0)
    root = Path(tempfile.mkdtemp(prefix="aftercare-bench-cues-"))
    try:
        log.info("cue lateness: preparing the clip cache")
        report.prepare = await warm_clip_cache(root)
        longest = settings.compressed_minutes
        # Idle sessions first: the load fills the skill's clip memory with its sentences.
        jobs = [(longest, "idle", False)]
        jobs += [(m, "idle", False) for m in settings.drift_minutes if m != longest]
        jobs.append((longest, "Piper load", True))
        folder = data_dir(root, "compressed", warm=True)
        compressed = await _with_runtime(folder, settings.scale, jobs, report)
        realtime_jobs = [
            (settings.realtime_minutes, "idle", False),
            (settings.realtime_minutes, "Piper load", True),
        ]
        realtime = await _with_runtime(
            data_dir(root, "realtime", warm=True), 1.0, realtime_jobs, report
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    by_length = {r.minutes: r for r in compressed if r.label == "idle"}
    report.sessions = [by_length[longest], compressed[-1], *realtime]
    report.drift = [by_length[m] for m in sorted(settings.drift_minutes)]
    report.seconds = time.monotonic() - started
    return report


def _session_row(result: SessionResult) -> list[str]:
    values = result.latenesses()
    publish = [c.publish_lateness for c in result.clips]
    load = (
        f"{result.load_renders} sentences, {result.load_busy:.0%} busy"
        if result.load_renders
        else "none"
    )
    return [
        f"{result.minutes} min x {result.scale:g} ({result.wall:.0f} s)",
        load,
        str(result.planned),
        str(len(values)),
        str(result.missing) + (f" (+{result.unmatched} unmatched)" if result.unmatched else ""),
        ms(result.min_gap, 0),
        ms(percentile(values, 50), 2),
        ms(percentile(values, 99), 2),
        ms(max(values, default=math.nan), 2),
        ms(max(result.latenesses("phase"), default=math.nan), 2),
        ms(max(result.latenesses("note"), default=math.nan), 2),
        ms(percentile(publish, 99), 2),
        ms(result.drift, 2),
        verdict(result.meets_targets),
    ]


def markdown(report: Report) -> str:
    """The results as Markdown."""
    header = [
        "session (plan length x scale)",
        "concurrent Piper",
        "cues",
        "clips",
        "missing",
        "min gap ms",
        "median ms",
        "p99 ms",
        "max ms",
        "max phase cue ms",
        "max note ms",
        "p99 publish ms",
        "drift ms",
        f"p99 ≤ {P99_TARGET * 1000:.0f}, max ≤ {MAX_TARGET * 1000:.0f}",
    ]
    sessions = table(header, [_session_row(r) for r in report.sessions])
    drift_header = [
        "session",
        "phase cues",
        "first 10 median ms",
        "last 10 median ms",
        "last 10 max ms",
        "drift ms",
        "trend ms",
    ]
    drift_rows = [
        [
            f"{r.minutes} min x {r.scale:g}",
            str(len(r.latenesses("phase"))),
            ms(percentile(r.edge(last=False), 50), 2),
            ms(percentile(r.edge(last=True), 50), 2),
            ms(max(r.edge(last=True), default=math.nan), 2),
            ms(r.drift, 2),
            ms(r.trend, 2),
        ]
        for r in report.drift
    ]
    grows = "no" if drift_ok(report.drift) else "**YES**"
    return "\n\n".join(
        [
            "## Cue lateness (issue #3)",
            f"Pattern `{PATTERN}` (4 s in, 6 s out), voice cues, real Piper clips (pre-rendered "
            "at startup), real scheduler, Mosquitto on 127.0.0.1. Lateness = arrival at a "
            "separate paho subscriber in the same process minus `start + offset x scale`, over "
            "every clip (phase cues, intro/safety/close sentences). *p99 publish* is the "
            "skill's own share (publish call minus deadline). *Drift* = median lateness of the "
            f"last {EDGE_CUES} phase cues minus the first {EDGE_CUES}. The runner drops a phase "
            f"cue more than STALE_AFTER = {STALE_AFTER:g} s late; it counts as *missing*.",
            sessions,
            "Before the first session each runtime waited until the skill's background "
            "rendering of every prompt had finished (CPU quiet): "
            + ", ".join(f"{w:.1f} s" for w in report.warmup)
            + ". Piper load = the real voice rendering never-seen sentences back to back "
            "through the skill's own ClipCache and executor, from 0.5 s before the session "
            "until its end.",
            "### Drift against session length (idle, compressed)",
            drift_table_intro(report),
            table(drift_header, drift_rows),
            f"Lateness grows with session length: {grows}. *Trend* = lateness gained from the "
            "first to the last phase cue on a least-squares line through all of them; it "
            f"must stay ≤ {DRIFT_TOLERANCE * 1000:.0f} ms (medians of 10 cues move by a "
            "millisecond or two from jitter alone).",
            f"Benchmark wall time: {report.seconds:.0f} s.",
        ]
    )


def drift_table_intro(report: Report) -> str:
    """One sentence on how the drift table was made."""
    lengths = ", ".join(str(r.minutes) for r in report.drift)
    return f"Sessions of {lengths} minutes, the same scale, one after another on one runtime."


def main(argv: Sequence[str] | None = None) -> None:
    """python -m benchmarks.cue_lateness [--quick]: print the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short sessions (~1.5 min)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("benchmarks").setLevel(logging.INFO)
    report = asyncio.run(run(QUICK if args.quick else Settings()))
    print(markdown(report))


if __name__ == "__main__":
    main()
