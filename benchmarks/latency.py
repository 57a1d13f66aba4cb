"""Issue #2: how quickly the skill answers, stops and starts, and how much memory it holds.

Every number is taken at a separate paho client in this process (the same monotonic clock):
intents go out as real NluIntent payloads on the embedded Mosquitto, and the time runs until
the first (or last) clip on ``hermes/audioServer/<site>/playBytes/+`` arrives. The recorder
answers every clip with ``playFinished`` at once, like an audio server that has played it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import (
    PLAY_BYTES,
    SITE,
    STATUS_TOPIC,
    Intents,
    Recorder,
    SpokenLog,
    bench_config,
    data_dir,
    ms,
    own_peak_mib,
    percentile,
    pid_mib,
    rss_mib,
    table,
    wait_quiet,
    warm_clip_cache,
)
from skill.app import Runtime, project_dir
from skill.config.settings import Config
from skill.language.responses import ResponseBook, response_path
from skill.voice.piper import Synthesizer, split_sentences
from skill.voice.worker import VoiceProcess

log = logging.getLogger(__name__)

BREATHE = "start breathing"
"""First audio: the pattern's intro (rendered ahead, after startup)."""
ROUTINE = "start aftercare"
"""First audio: the opening line of the short routine (rendered on first use)."""
STOP = "stop"
"""Stops everything on the site and confirms."""
STOP_KEY = "stop.done"
"""Response key of the stop confirmation."""
FIRST_AUDIO_TIMEOUT = 10.0
"""Seconds to wait for a clip before a run counts as failed."""
STOP_SCALE = 0.25
"""Time scale of the stop runs: cues come four times as often, so stops land among them."""
PROBE_RUNS = 5
"""Answers of each kind before the memory probe reads the resident size."""


class FreshVoice:
    """The real Piper voice under a new cache identity per run: nothing is ever cached.

    ClipCache keys clips by the synthesizer's identity, so after `forget()` every sentence
    misses the cache, in memory and on disk, and is synthesized again: the same text, voice
    and cost as in a fresh ClipCache without a disk cache. Until then it is the real voice
    with its real identity, so the warm disk cache applies.
    """

    def __init__(self, voice: VoiceProcess) -> None:
        self._voice = voice
        self._base = f"{voice.identity}#{uuid.uuid4().hex}#"  # unique: the disk cache persists
        self._generation = 0
        self.identity = voice.identity
        """Voice and settings, for cache keys; changes with every forget()."""
        self.sample_rate = voice.sample_rate
        """Sample rate of the WAV files it returns."""

    def forget(self) -> None:
        """Make every clip rendered so far unreachable."""
        self._generation += 1
        self.identity = f"{self._base}{self._generation}"

    def synthesize(self, sentence: str) -> bytes:
        """Render one sentence with the real voice."""
        return self._voice.synthesize(sentence)

    def load(self) -> None:
        """Start the voice's process and load the voice (as the skill does after online)."""
        self._voice.load()

    def close(self) -> None:
        """End the voice's process."""
        self._voice.close()

    @property
    def pid(self) -> int | None:
        """The voice process, once started."""
        return self._voice.pid


@dataclass(frozen=True)
class Startup:
    """One start of the whole skill."""

    label: str
    """warm or cold disk cache."""
    online: float
    """Seconds from creating Runtime to `online` arriving on aftercare/status."""
    internal: float
    """Runtime.startup_seconds (its own measure, up to publishing `online`)."""
    retained: bool
    """True when `online` came as a retained message (the subscriber was too late)."""


@dataclass
class StopRun:
    """One stop during breathing."""

    after_start: float
    """Seconds after the first clip of the session that the stop was published."""
    confirmation: float
    """Seconds from the stop to the confirmation clip."""
    last_other: float | None
    """Seconds from the stop to the last other clip arriving on the site (None: none came)."""
    published_after: int
    """Other clips the skill published after its confirmation (should be 0)."""


@dataclass
class Report:
    """Everything the benchmark measured."""

    first_audio: dict[str, list[float]] = field(default_factory=dict)
    """Row label -> seconds from publishing the intent to the first clip."""
    stops: list[StopRun] = field(default_factory=list)
    """Stops during breathing."""
    startups: list[Startup] = field(default_factory=list)
    """Starts of the skill."""
    rss_mb: float = math.nan
    """Fresh process, skill running with its voice, after cached and uncached answers: MiB."""
    peak_rss_mb: float = math.nan
    """The same process's peak (VmHWM), MiB."""
    bench_peak_mb: float = math.nan
    """Peak of the benchmark process itself (a dozen runtimes one after another), MiB."""
    prepare: float = 0.0
    """Seconds spent making sure the persistent clip cache is complete."""
    failures: list[str] = field(default_factory=list)
    """Runs that got no answer in time."""
    seconds: float = 0.0
    """Wall-clock time the benchmark took."""


@dataclass(frozen=True)
class Settings:
    """How much to run."""

    runs: int = 20
    """Runs per first-audio row."""
    stops: int = 10
    """Stops during breathing."""
    startups: int = 5
    """Starts per cache state."""


QUICK = Settings(runs=4, stops=3, startups=2)
"""A short run for trying the benchmark out."""


# --- Pieces ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def started(
    config: Config,
    label: str,
    report: Report,
    *,
    time_scale: float = 1.0,
    synthesizer: Synthesizer | None = None,
    since: float | None = None,
) -> AsyncIterator[tuple[Runtime, Recorder, SpokenLog]]:
    """A Runtime, timed from its creation to `online` at a subscriber, and that subscriber.

    `since`: when the start began, if earlier than now (the caller loaded the voice).
    """
    spoken = SpokenLog()
    created = time.monotonic() if since is None else since
    runtime = Runtime(config, time_scale=time_scale, listener=spoken, synthesizer=synthesizer)
    watcher = asyncio.create_task(_watch_online(runtime, created))
    try:
        async with runtime:
            subscriber, online, retained = await asyncio.wait_for(asyncio.shield(watcher), 30.0)
            report.startups.append(Startup(label, online, runtime.startup_seconds, retained))
            try:
                yield runtime, subscriber, spoken
            finally:
                subscriber.close()  # before the broker goes, or paho lingers in reconnects
    finally:
        if not watcher.done():
            watcher.cancel()
        with contextlib.suppress(BaseException):
            (await watcher)[0].close()


async def _watch_online(runtime: Runtime, created: float) -> tuple[Recorder, float, bool]:
    """Connect as soon as the embedded broker listens; seconds until `online` arrives."""
    while runtime.port == 0:  # noqa: ASYNC110 (Runtime sets the port and has no event for it)
        await asyncio.sleep(0.001)
    recorder = Recorder(runtime.host, runtime.port, [STATUS_TOPIC, PLAY_BYTES], answer=True)
    try:
        await asyncio.to_thread(recorder.__enter__)
        give_up = time.monotonic() + 60.0
        while True:  # short waits: a cancelled watcher leaves no thread blocked for long
            arrival = await asyncio.to_thread(
                recorder.wait_for, STATUS_TOPIC, 0.0, 0.1, lambda a: a.payload == b"online"
            )
            if arrival is not None:
                break
            if time.monotonic() > give_up:
                raise TimeoutError("no `online` on aftercare/status within 60 s")
    except BaseException:
        recorder.close()
        raise
    return recorder, arrival.t - created, arrival.retain


async def first_audio(
    runtime: Runtime, recorder: Recorder, intents: Intents, sentence: str
) -> float | None:
    """Seconds from publishing the intent for `sentence` to the first clip; then stop and settle."""
    skill = runtime.skill
    if skill is None:
        raise RuntimeError("the runtime is not started")
    topic, payload = intents.message(sentence)
    sent = recorder.publish(topic, payload)
    arrival = await asyncio.to_thread(recorder.wait_for, PLAY_BYTES, sent, FIRST_AUDIO_TIMEOUT)
    await settle(runtime, recorder, intents)
    return None if arrival is None else arrival.t - sent


async def settle(runtime: Runtime, recorder: Recorder, intents: Intents) -> None:
    """Stop whatever runs on the site and wait until everything has ended."""
    skill = runtime.skill
    if skill is None:
        raise RuntimeError("the runtime is not started")
    recorder.publish(*intents.message(STOP))
    await asyncio.sleep(0.05)  # the stop travels through the broker first
    await asyncio.wait_for(skill.idle(SITE), 15.0)
    # Renders a stopped activity had started go on (ClipCache shields them); let them end.
    await wait_quiet(limit=15.0, window=0.1, share=0.1)


async def measure_first_audio(
    runtime: Runtime,
    recorder: Recorder,
    intents: Intents,
    report: Report,
    label: str,
    sentence: str,
    runs: int,
    before_each: FreshVoice | None = None,
) -> None:
    """`runs` timed answers to one sentence (each uncached when `before_each` is given)."""
    values = report.first_audio.setdefault(label, [])
    for _ in range(runs):
        if before_each is not None:
            before_each.forget()
        seconds = await first_audio(runtime, recorder, intents, sentence)
        if seconds is None:
            report.failures.append(f"{label}: no clip within {FIRST_AUDIO_TIMEOUT:.0f} s")
        else:
            values.append(seconds)


async def warm_routine(
    runtime: Runtime, recorder: Recorder, spoken: SpokenLog, intents: Intents
) -> None:
    """Say the routine's opening until every variant has been rendered once (bounded)."""
    book = ResponseBook.load(response_path(project_dir() / "responses", runtime.config.language))
    wanted = {split_sentences(v)[0] for v in book.variants("routine.opening")}
    for _ in range(40):
        heard = {said.text for _, said in spoken.for_site()}
        if wanted <= heard:
            return
        await first_audio(runtime, recorder, intents, ROUTINE)
    log.warning("not every routine opening was heard while warming up")


async def measure_stops(
    runtime: Runtime,
    recorder: Recorder,
    spoken: SpokenLog,
    intents: Intents,
    report: Report,
    count: int,
) -> None:
    """Stop breathing at seeded random moments of its first seconds; time what follows."""
    skill = runtime.skill
    if skill is None:
        raise RuntimeError("the runtime is not started")
    book = ResponseBook.load(response_path(project_dir() / "responses", runtime.config.language))
    confirmations = {s for v in book.variants(STOP_KEY) for s in split_sentences(v)}
    chooser = random.Random(2)  # the same stop moments on every run of the benchmark
    for _ in range(count):
        spoken.clear()
        topic, payload = intents.message(BREATHE)
        sent = recorder.publish(topic, payload)
        first = await asyncio.to_thread(recorder.wait_for, PLAY_BYTES, sent, FIRST_AUDIO_TIMEOUT)
        if first is None:
            report.failures.append(f"stop: breathing did not start within {FIRST_AUDIO_TIMEOUT} s")
            await settle(runtime, recorder, intents)
            continue
        wait = chooser.uniform(0.0, 4.0)
        await asyncio.sleep(first.t + wait - time.monotonic())
        stop_at = recorder.publish(*intents.message(STOP))
        await asyncio.wait_for(skill.idle(SITE), 15.0)
        await asyncio.sleep(0.3)  # anything still in flight lands
        published = spoken.for_site()
        arrivals = recorder.arrivals(PLAY_BYTES, since=sent)
        if len(arrivals) != len(published):
            report.failures.append(
                f"stop: {len(published)} clips published but {len(arrivals)} arrived"
            )
            continue
        confirmation: float | None = None
        last_other: float | None = None
        published_after = 0
        for (_, said), arrival in zip(published, arrivals, strict=True):
            if arrival.t < stop_at:
                continue
            if said.text in confirmations:
                if confirmation is None:
                    confirmation = arrival.t - stop_at
            else:
                last_other = arrival.t - stop_at
                published_after += confirmation is not None
        if confirmation is None:
            report.failures.append("stop: no confirmation clip")
            continue
        report.stops.append(StopRun(stop_at - first.t, confirmation, last_other, published_after))


def _peak_mb() -> float:
    """Peak resident memory of this process (ru_maxrss), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def probe_memory(runs: int = PROBE_RUNS) -> dict[str, float]:
    """In a fresh process: the skill with its voice, after cached and uncached answers."""
    root = Path(tempfile.mkdtemp(prefix="aftercare-bench-memory-"))
    try:
        config = bench_config(data_dir(root, "probe", warm=True, private=True), pattern="settle")
        intents = Intents(config)
        voice = FreshVoice(await asyncio.to_thread(VoiceProcess, config.voice))
        spoken = SpokenLog()
        async with Runtime(config, listener=spoken, synthesizer=voice) as runtime:
            await wait_quiet(runtime)
            with Recorder(runtime.host, runtime.port, [PLAY_BYTES], answer=True) as recorder:
                for sentence in (BREATHE, ROUTINE):
                    for _ in range(runs):
                        await first_audio(runtime, recorder, intents, sentence)
                for _ in range(runs):
                    voice.forget()
                    await first_audio(runtime, recorder, intents, ROUTINE)
                child = voice.pid
                return {
                    "rss": rss_mib() + (pid_mib(child, "VmRSS") if child else 0.0),
                    "peak": own_peak_mib() + (pid_mib(child, "VmHWM") if child else 0.0),
                }
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def memory(report: Report) -> None:
    """Memory of a skill in a process of its own (this one has run a dozen runtimes)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.latency",
        "--probe-memory",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(child.communicate(), 180.0)
        values = json.loads(out.decode("utf-8").strip().splitlines()[-1])
        report.rss_mb, report.peak_rss_mb = float(values["rss"]), float(values["peak"])
    except (TimeoutError, ValueError, IndexError, KeyError) as err:
        report.failures.append(f"memory probe: {type(err).__name__}")
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()
    report.bench_peak_mb = _peak_mb()


# --- The benchmark ---------------------------------------------------------------------------


async def run(settings: Settings = Settings()) -> Report:
    """Every measurement of issue #2 (about three minutes, two of them cold starts)."""
    began = time.monotonic()
    report = Report()
    root = Path(tempfile.mkdtemp(prefix="aftercare-bench-latency-"))
    try:
        log.info("latency: preparing the clip cache")
        report.prepare = await warm_clip_cache(root)
        for index in range(settings.startups):
            log.info("latency: cold start %d of %d", index + 1, settings.startups)
            cold = bench_config(data_dir(root, f"cold{index}", warm=False), pattern="settle")
            async with started(cold, "cold", report):
                pass
        for index in range(settings.startups):
            log.info("latency: warm start %d of %d", index + 1, settings.startups)
            # The uncached runs leave clips behind: they get a copy of the persistent cache.
            folder = data_dir(root, f"warm{index}", warm=True, private=index == 0)
            config = bench_config(folder, pattern="settle")
            intents = Intents(config)
            if index == 0:
                since = time.monotonic()  # the voice load counts, as when Runtime loads it
                voice = FreshVoice(await asyncio.to_thread(VoiceProcess, config.voice))
                runtime = started(config, "warm", report, synthesizer=voice, since=since)
                async with runtime as (rt, rec, spoken):
                    await wait_quiet(rt)
                    await _first_audio_rows(rt, rec, spoken, intents, report, settings, voice)
            elif index == 1:
                runtime = started(config, "warm", report, time_scale=STOP_SCALE)
                async with runtime as (rt, rec, spoken):
                    await wait_quiet(rt)
                    log.info("latency: stop during breathing")
                    await measure_stops(rt, rec, spoken, intents, report, settings.stops)
            else:
                async with started(config, "warm", report):
                    pass
        log.info("latency: memory of a skill in a fresh process")
        await memory(report)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report.seconds = time.monotonic() - began
    return report


async def _first_audio_rows(
    runtime: Runtime,
    recorder: Recorder,
    spoken: SpokenLog,
    intents: Intents,
    report: Report,
    settings: Settings,
    voice: FreshVoice,
) -> None:
    """Cached rows first (clips in memory), then uncached ones (a new voice identity per run)."""
    log.info("latency: first audio, cached")
    await first_audio(runtime, recorder, intents, BREATHE)  # not timed: plans and imports
    await measure_first_audio(
        runtime, recorder, intents, report, "start breathing", BREATHE, settings.runs
    )
    await warm_routine(runtime, recorder, spoken, intents)
    await measure_first_audio(
        runtime, recorder, intents, report, "routine line", ROUTINE, settings.runs
    )
    log.info("latency: first audio, uncached")
    for label, sentence in (("start breathing", BREATHE), ("routine line", ROUTINE)):
        await measure_first_audio(
            runtime,
            recorder,
            intents,
            report,
            f"{label}, uncached",
            sentence,
            settings.runs,
            voice,
        )


def _row(label: str, values: Sequence[float], note: str) -> list[str]:
    return [
        label,
        str(len(values)),
        ms(percentile(values, 50)),
        ms(percentile(values, 99)),
        ms(max(values, default=math.nan)),
        note,
    ]


def markdown(report: Report) -> str:
    """The results as Markdown."""
    notes = {
        "start breathing": "the intro clip was rendered after startup, before the run",
        "routine line": "second and later time: clip in memory",
        "start breathing, uncached": "nothing cached (new voice identity): the intro "
        "synthesized on demand; the skill renders intros ahead, after it goes online",
        "routine line, uncached": "nothing cached (new voice identity): synthesized on demand",
    }
    first = table(
        ["intent → first clip", "runs", "p50 ms", "p99 ms", "max ms", "what"],
        [_row(k, v, notes.get(k, "")) for k, v in report.first_audio.items()],
    )
    confirmations = [s.confirmation for s in report.stops]
    others = [s.last_other for s in report.stops if s.last_other is not None]
    stop = table(
        ["stop during breathing", "runs", "p50 ms", "p99 ms", "max ms", "what"],
        [
            _row(
                "stop → confirmation clip",
                confirmations,
                "first clip of the stop reply",
            ),
            [
                "stop → last other clip",
                f"{len(others)} of {len(report.stops)}",
                ms(percentile(others, 50)),
                ms(percentile(others, 99)),
                ms(max(others, default=math.nan)),
                "runs where a clip published before the stop still arrived after it",
            ],
        ],
    )
    startups = table(
        [
            "start → `online` at a subscriber",
            "runs",
            "median ms",
            "min ms",
            "max ms",
            "Runtime.startup_seconds median ms",
            "what",
        ],
        [
            [
                label,
                str(len(runs)),
                ms(percentile([s.online for s in runs], 50), 0),
                ms(min(s.online for s in runs), 0),
                ms(max(s.online for s in runs), 0),
                ms(percentile([s.internal for s in runs], 50), 0),
                what,
            ]
            for label, what in (
                ("warm", "every clip on disk; in-process, to `online` (voice after)"),
                ("cold", "empty disk cache; in-process, to `online` (voice after)"),
            )
            if (runs := [s for s in report.startups if s.label == label])
        ],
    )
    memory_table = table(
        ["memory (resident, the skill's process and its voice process together)", "MiB"],
        [
            [
                f"skill in a fresh process with its voice process, after {3 * PROBE_RUNS} answers "
                f"({PROBE_RUNS} of them synthesized): RSS",
                f"{report.rss_mb:.0f}",
            ],
            ["the same two: each one's peak (VmHWM), added", f"{report.peak_rss_mb:.0f}"],
            [
                "this benchmark process after its dozen runtimes: peak (ru_maxrss)",
                f"{report.bench_peak_mb:.0f}",
            ],
        ],
    )
    retained = sum(s.retained for s in report.startups)
    parts = [
        "## Latency, startup and memory (issue #2)",
        "Times from publishing on 127.0.0.1 to a clip (or `online`) arriving at a separate paho "
        "client in the same process. The shipped defaults (pattern `settle`, real Piper voice).",
        first,
        f"Stop runs: breathing at time scale {STOP_SCALE:g}, stop published 0-4 s after the "
        "first clip (seeded), so it lands in the intro, the lead-in or among the cues.",
        stop,
        "Clips the skill published after its stop confirmation: "
        f"{sum(s.published_after for s in report.stops)} in {len(report.stops)} runs "
        "(0 = once the stop was handled, nothing else came).",
        startups,
        memory_table,
    ]
    if retained:
        parts.append(f"{retained} start(s) saw `online` only as a retained message.")
    if report.failures:
        parts.append("Failures: " + "; ".join(report.failures))
    parts.append(f"Benchmark wall time: {report.seconds:.0f} s.")
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    """python -m benchmarks.latency [--quick]: print the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--probe-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe_memory:  # the child process of memory(): one JSON line on stdout
        logging.basicConfig(level=logging.ERROR)
        print(json.dumps(asyncio.run(probe_memory())))
        return
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("benchmarks").setLevel(logging.INFO)
    print(markdown(asyncio.run(run(QUICK if args.quick else Settings()))))


if __name__ == "__main__":
    main()
