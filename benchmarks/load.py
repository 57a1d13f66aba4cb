"""Issue #7: twenty sites breathing at once in one process, cue lateness against #3's target.

One Runtime (the real Piper voice, the real scheduler, Mosquitto on 127.0.0.1) serves 20
sites, in real time. Each gets its own NluIntent ("two minutes of calm breathing"). In the
run *at once* the intents are recognized beforehand and published back to back, so the
sessions start within milliseconds of each other and every phase boundary is a burst of 20
clips: the worst case. In the run *spread* they go out at seeded random moments over one
breath (10 s), as people starting sessions by hand would. A separate paho client stamps
every clip on ``hermes/audioServer/+/playBytes/+``; per site, each clip is paired with its
cue exactly as in the cue-lateness benchmark (``start + offset x scale``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.cue_lateness import (
    MAX_TARGET,
    NUMBER_WORDS,
    P99_TARGET,
    PATTERN,
    SessionResult,
    measure,
    session_control,
)
from benchmarks.harness import (
    PLAY_BYTES_ALL,
    CpuMeter,
    Intents,
    Recorder,
    SpokenLog,
    bench_config,
    data_dir,
    ms,
    percentile,
    section_main,
    table,
    verdict,
    wait_quiet,
    warm_clip_cache,
)
from skill.app import Runtime, project_dir
from skill.language.responses import ResponseBook, response_path

log = logging.getLogger(__name__)

BURST_WINDOW = 0.005
"""Deadlines this close together (seconds) count as one burst."""
END_TIMEOUT = 60.0
"""Real seconds past the longest plan to wait for every session to end."""


@dataclass(frozen=True)
class Run:
    """One load run: how many sites, how long, how the starts are spread."""

    label: str
    """Shown in the results."""
    sites: int = 20
    """Sites breathing at once."""
    minutes: int = 2
    """Plan length of each session (a key of NUMBER_WORDS)."""
    scale: float = 1.0
    """Real seconds per plan second (1.0: real time)."""
    spread: float = 0.0
    """Seconds over which the intents are published (0: back to back, one burst)."""
    seed: int = 7
    """Seeds the start times when spread > 0."""


@dataclass(frozen=True)
class Settings:
    """Which runs to make."""

    runs: tuple[Run, ...] = (
        Run("at once", minutes=2),
        Run("starts spread over one breath", minutes=2, spread=10.0),
    )
    """One Runtime each, one after another."""


QUICK = Settings(runs=(Run("at once", minutes=1),))
"""A short run for trying it out (about a minute and a half)."""


@dataclass
class LoadResult:
    """Everything measured in one run."""

    run: Run
    """What was asked for."""
    sites: list[SessionResult] = field(default_factory=list)
    """One paired session per site."""
    starts: list[float] = field(default_factory=list)
    """Monotonic start of each site's session (BreathingControl.start)."""
    wall: float = 0.0
    """From the first intent until every session had ended, seconds."""
    warmup: float = 0.0
    """Seconds the runtime needed after `online` until its background renders were done."""
    cpu: CpuMeter = field(default_factory=CpuMeter)
    """CPU while the sessions ran."""

    def latenesses(self, kind: str | None = None) -> list[float]:
        """Lateness of every clip of every site (of one kind)."""
        return [value for site in self.sites for value in site.latenesses(kind)]

    @property
    def planned(self) -> int:
        """Clips the plans called for, all sites."""
        return sum(s.planned for s in self.sites)

    @property
    def missing(self) -> int:
        """Planned clips that never came, all sites."""
        return sum(s.missing for s in self.sites)

    @property
    def extra(self) -> int:
        """Clips that fit no planned cue, or were published and never received."""
        return sum(s.unmatched for s in self.sites)

    @property
    def spread(self) -> float:
        """Seconds between the first and the last session start."""
        return max(self.starts) - min(self.starts) if self.starts else math.nan

    @property
    def burst(self) -> int:
        """Most clips due within BURST_WINDOW of each other, over all sites."""
        due = sorted(c.deadline for s in self.sites for c in s.clips)
        most, first = 0, 0
        for last, deadline in enumerate(due):
            while deadline - due[first] > BURST_WINDOW:
                first += 1
            most = max(most, last - first + 1)
        return most

    def worst_site(self) -> SessionResult | None:
        """The site with the highest p99 lateness."""
        measured = [s for s in self.sites if s.clips]
        return max(measured, key=lambda s: percentile(s.latenesses(), 99), default=None)

    @property
    def meets_targets(self) -> bool:
        """p99 and max within #3's target over every clip of every site, nothing missing."""
        values = self.latenesses()
        return (
            bool(values)
            and len(self.sites) == self.run.sites
            and percentile(values, 99) <= P99_TARGET
            and max(values) <= MAX_TARGET
            and self.missing == 0
            and self.extra == 0
        )


@dataclass
class Report:
    """The benchmark's results."""

    runs: list[LoadResult] = field(default_factory=list)
    """One per Run, in order."""
    prepare: float = 0.0
    """Seconds spent making sure the persistent clip cache is complete."""
    seconds: float = 0.0
    """Wall-clock time the benchmark took."""

    @property
    def ok(self) -> bool:
        """Every run meets the targets."""
        return bool(self.runs) and all(r.meets_targets for r in self.runs)


def site_names(count: int) -> list[str]:
    """load-01, load-02, ...: the configured sites."""
    return [f"load-{index + 1:02d}" for index in range(count)]


async def run_load(root: Path, spec: Run, name: str) -> LoadResult:
    """One Runtime, `spec.sites` sessions started together, each paired with its plan."""
    sites = site_names(spec.sites)
    config = bench_config(data_dir(root, name, warm=True), pattern=PATTERN, sites=sites)
    texts = ResponseBook.load(response_path(project_dir() / "responses", config.language))
    intents = Intents(config)
    sentence = f"{NUMBER_WORDS[spec.minutes]} minutes of {PATTERN} breathing"
    messages = [intents.message(sentence, site) for site in sites]  # recognized beforehand
    rng = random.Random(spec.seed)
    offsets = sorted(rng.uniform(0, spec.spread) for _ in sites) if spec.spread > 0 else []
    spoken = SpokenLog()
    result = LoadResult(spec)
    async with Runtime(config, time_scale=spec.scale, listener=spoken) as runtime:
        skill = runtime.skill
        assert skill is not None
        log.info("load: waiting for the skill's background renders")
        result.warmup = await wait_quiet(runtime)
        with Recorder(runtime.host, runtime.port, [PLAY_BYTES_ALL]) as recorder:
            spoken.clear()
            result.cpu.start()
            began = time.monotonic()
            log.info(
                "load: %s: %d sites, %d min at scale %g",
                spec.label,
                len(sites),
                spec.minutes,
                spec.scale,
            )
            if offsets:
                await _publish_spread(recorder, messages, offsets, began)
                controls = [await session_control(runtime, None, site) for site in sites]
            else:
                for topic, payload in messages:
                    recorder.publish(topic, payload)
                controls = list(
                    await asyncio.gather(*(session_control(runtime, None, s) for s in sites))
                )
            longest = max((c.plan.end_offset or 0.0) for c in controls) * spec.scale
            ended = asyncio.gather(*(skill.idle(site) for site in sites))
            await asyncio.wait_for(ended, longest + spec.spread + END_TIMEOUT)
            result.wall = time.monotonic() - began
            result.cpu.stop()
            await asyncio.sleep(0.3)  # the last clips are still on their way
            for site, control in zip(sites, controls, strict=True):
                session = SessionResult(site, spec.minutes, spec.scale, wall=result.wall)
                published = spoken.for_site(site)
                topic = f"hermes/audioServer/{site}/playBytes/+"
                arrivals = [(a.t, a.payload) for a in recorder.arrivals(topic)]
                result.sites.append(measure(session, control, published, arrivals, texts))
                result.starts.append(control.start)
    return result


async def _publish_spread(
    recorder: Recorder,
    messages: Sequence[tuple[str, bytes]],
    offsets: Sequence[float],
    began: float,
) -> None:
    for (topic, payload), offset in zip(messages, offsets, strict=True):
        await asyncio.sleep(max(0.0, began + offset - time.monotonic()))
        recorder.publish(topic, payload)


async def run(settings: Settings = Settings()) -> Report:
    """Every run of the benchmark (bounded by the plan lengths: about 2.5 min per run)."""
    began = time.monotonic()
    report = Report()
    root = Path(tempfile.mkdtemp(prefix="aftercare-bench-load-"))
    try:
        log.info("load: preparing the clip cache")
        report.prepare = await warm_clip_cache(root)
        for index, spec in enumerate(settings.runs):
            report.runs.append(await run_load(root, spec, f"load{index}"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report.seconds = time.monotonic() - began
    return report


# --- Markdown --------------------------------------------------------------------------------


def _row(result: LoadResult) -> list[str]:
    spec = result.run
    values = result.latenesses()
    publish = [c.publish_lateness for s in result.sites for c in s.clips]
    worst = result.worst_site()
    worst_text = (
        f"{worst.label}: {ms(percentile(worst.latenesses(), 99), 1)} / "
        f"{ms(max(worst.latenesses()), 1)}"
        if worst is not None
        else "—"
    )
    compressed = "real time" if spec.scale == 1 else f"**compressed x{spec.scale:g}**"
    return [
        spec.label,
        str(len(result.sites)),
        f"{spec.minutes} min, {compressed} ({result.wall:.0f} s)",
        ms(result.spread, 0),
        str(result.burst),
        str(result.planned),
        str(len(values)),
        str(result.missing),
        str(result.extra),
        ms(percentile(values, 50), 2),
        ms(percentile(values, 99), 2),
        ms(max(values, default=math.nan), 2),
        ms(max(result.latenesses("phase"), default=math.nan), 2),
        ms(percentile(publish, 99), 2),
        worst_text,
        f"{result.cpu.own / result.cpu.seconds:.1%} / {result.cpu.others:.1%}"
        if result.cpu.seconds > 0
        else "—",
        verdict(result.meets_targets),
    ]


def markdown(report: Report) -> str:
    """The results as Markdown."""
    header = [
        "run",
        "sites",
        "session (plan length, time)",
        "starts within ms",
        "largest burst",
        "cues",
        "clips",
        "missing",
        "extra",
        "median ms",
        "p99 ms",
        "max ms",
        "max phase cue ms",
        "p99 publish ms",
        "worst site p99 / max ms",
        "CPU this process / others (% of a core)",
        f"p99 ≤ {P99_TARGET * 1000:.0f}, max ≤ {MAX_TARGET * 1000:.0f}, none missing",
    ]
    warmups = ", ".join(f"{r.warmup:.1f} s" for r in report.runs)
    return "\n\n".join(
        [
            "## 20 sites at once (issue #7)",
            f"One Runtime, one Mosquitto on 127.0.0.1, the real Piper voice; pattern `{PATTERN}` "
            "(4 s in, 6 s out), voice cues, every site its own NluIntent. *At once*: the "
            "intents are recognized beforehand and published back to back, so every phase "
            "boundary is a burst of clips for all sites (*largest burst*: most clips due within "
            f"{BURST_WINDOW * 1000:.0f} ms of each other). *Spread*: the intents go out at "
            "seeded random moments over one breath, as people starting by hand would. "
            "Lateness = arrival at a separate paho subscriber minus `start + offset x scale`, "
            "per site, over every clip of every site (the pairing of the cue-lateness "
            "benchmark). *Missing*: planned clips that never came (the runner drops a phase "
            "cue more than 0.5 s late); *extra*: clips that fit no planned cue or never "
            "arrived. CPU: averages over the sessions.",
            table(header, [_row(r) for r in report.runs]),
            f"Each runtime waited until its background renders were done before the run: "
            f"{warmups}. Benchmark wall time: {report.seconds:.0f} s.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    """python -m benchmarks.load [--quick]: print the Markdown section."""

    async def section(quick: bool) -> str:
        return markdown(await run(QUICK if quick else Settings()))

    section_main(argv, __doc__, "one 1-minute run (~1.5 min)", section)


if __name__ == "__main__":
    main()
