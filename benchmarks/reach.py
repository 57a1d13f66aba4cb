"""Issues #13 and #16 from outside: a second look end to end, and a Home Assistant site.

Nothing here runs inside the skill's process. As in benchmarks/constrained.py (whose
pieces this module uses: the skill as a child process on Mosquitto, pinned to one core by
`taskset -c 0` and a cpuset cgroup, /proc for memory, a separate paho client for arrivals),
the skill is started as ``python -m skill run --config …`` and everything is measured from
this process, through the broker and over HTTP, stamped with ``time.monotonic()``:

1. *Second look* (issue #13): ``hermes/nlu/intentNotRecognized`` for a sentence the
   built-in recognizer understands only in clauses, published by this process, until the
   site's first playBytes clip; the first look after a start (the recognizer loads then),
   warm looks, and the NluIntent Rhasspy would send for "start breathing" for comparison.
   Every request starts from idle: "stop", then the site's state back to idle and the
   skill quiet.
2. *A Home Assistant site* (issue #16): a site in ``homeassistant.speakers``; this process
   plays Home Assistant and its satellite (fetches every clip it is offered and answers
   ``finished``; reads the breathing stream over HTTP in real time) and measures intent to
   ``play``, to the stream's first byte and first sound, where each phase cue's onset sits
   in the stream against the plan, the stream's pacing against the wall clock, "stop" to
   the stream's end, and the skill's memory with and without such a site.

Every loop is bounded in count and time; every child is stopped (SIGTERM, then SIGKILL)
and every folder removed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import logging
import math
import random
import shutil
import struct
import tempfile
import time
from array import array
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rhasspyhermes.nlu import NluIntentNotRecognized

from benchmarks.constrained import (
    FIRST_AUDIO_TIMEOUT,
    ONE_CORE,
    STATE_TOPICS,
    TWO_CORES,
    Bench,
    Cpu,
    Memory,
    SkillProcess,
    cgroup_problem,
    prepare_cache,
    skill_process,
    wait_arrival,
    wait_online,
)
from benchmarks.constrained import Report as ConstrainedReport
from benchmarks.constrained import Settings as ConstrainedSettings
from benchmarks.cue_lateness import NUMBER_WORDS, PATTERN
from benchmarks.harness import (
    PLAY_BYTES,
    SITE,
    STATUS_TOPIC,
    Arrival,
    CpuMeter,
    Recorder,
    clip_cache_dir,
    machine,
    ms,
    percentile,
    pid_mib,
    table,
)
from skill.app import project_dir
from skill.assets import load_assets, load_recognizer
from skill.base.errors import VoiceError
from skill.breathing.plan import LEAD_IN, BreathingPlan
from skill.breathing.runner import STALE_AFTER
from skill.config.settings import Config
from skill.hermes.mosquitto import LOOPBACK, Mosquitto, find_mosquitto, free_port
from skill.language.clauses import best
from skill.language.nlu import Recognizer
from skill.room.homeassistant import state_topic
from skill.voice.chimes import CHIME_RATE, chime_wav
from skill.voice.clips import ClipCache
from skill.voice.piper import PiperSynthesizer
from skill.voice.stream import BLOCK, LAG, samples_of

log = logging.getLogger("benchmarks.reach")
"""Not __name__: run with -m, that is __main__, outside the `benchmarks` logger."""

OUTPUT = Path(__file__).resolve().parent / "REACH.md"
"""Where the results go unless --output says otherwise."""
PREFIX = "aftercare"
"""The skill's topic prefix (mqtt.topic_prefix, the default)."""
GUEST = "guest"
"""The Home Assistant site."""
SATELLITE = "assist_satellite.guest_room"
"""The entity that plays on it."""
SENTENCES = (
    "that was a lot can you breathe with us",
    "that was a lot can you start breathing",
    "thank you can we do some breathing",
    "we're back can you breathe with us",
    "that was intense start breathing please",
)
"""Rhasspy's text (no punctuation) of requests the built-in recognizer finds only in
clauses: each means AftercareBreathe without a slot, as "start breathing" does."""
DIRECT = "start breathing"
"""The same request said so that Rhasspy recognizes it: its NluIntent goes out directly."""
STOP = "stop"
"""Said between requests."""
BREATHE = "AftercareBreathe"
"""The intent every request here means."""
SETTLE_TIMEOUT = 15.0
"""Seconds for a stopped site to be idle again."""
REPLY_WAIT = 3.0
"""Seconds to wait for the stop's spoken confirmation after the site went idle."""
STREAM_TIMEOUT = 10.0
"""Seconds for `play` to come, for a stream to start sounding, for a stopped one to end."""
SESSION_SLACK = 60.0
"""Real seconds past the plan's end for a whole session's stream to end by itself."""
HEADER = 44
"""Bytes of the stream's WAV header."""
LEVEL = 328
"""|sample| above which the stream sounds (1 % of full scale)."""
GAP_SECONDS = 0.1
"""Silence before a sound for it to count as an onset."""
MATCH_WINDOW = STALE_AFTER
"""A cue's onset is looked for this many seconds either side of where the plan puts it
(the runner drops a phase cue later than that)."""
END_SECONDS = 1.0
"""Pacing leaves out the chunks of the stream's last second: when a session ends by
itself, its tail of silence is released at once."""
BEFORE_SECONDS = 3.0
"""Seconds the machine is watched before anything starts (is it quiet?)."""
BUSY_CORES = 0.2
"""Cores used by other processes above which the machine counts as busy."""
HOLD = (2.0, 4.0)
"""Seconds a stopped stream plays before "stop" (seeded, so stops land in different
places: the opening line, the lead-in silence, the first phase)."""


# --- Pure parts: onsets, pairing, pacing, statistics --------------------------------------------


def onsets(samples: Sequence[int], level: int, gap: int) -> list[int]:
    """Indices where a sound starts: |sample| > level after at least `gap` samples that
    were not (the stream's start counts as silence)."""
    found: list[int] = []
    quiet = gap
    for index, value in enumerate(samples):
        if value > level or value < -level:
            if quiet >= gap:
                found.append(index)
            quiet = 0
        else:
            quiet += 1
    return found


def first_sound(samples: Sequence[int], level: int = 0) -> int | None:
    """The first sample with |value| > level, or None."""
    return next((i for i, v in enumerate(samples) if v > level or v < -level), None)


def cue_errors(expected: Sequence[int], found: Sequence[int], window: int) -> list[int | None]:
    """For each expected onset, the nearest found onset within `window` samples minus the
    expected sample (None: nothing near it). `found` is sorted."""
    errors: list[int | None] = []
    for at in expected:
        index = bisect.bisect_left(found, at - window)
        near = [f for f in found[index : index + 2] if abs(f - at) <= window]
        errors.append(min((f - at for f in near), key=abs) if near else None)
    return errors


def arrival_of(sample: int, chunks: Sequence[tuple[float, int]], header: int = HEADER) -> float:
    """When the chunk holding `sample` arrived; chunks are (time, bytes received so far)."""
    needed = header + 2 * (sample + 1)
    for t, received in chunks:
        if received >= needed:
            return t
    return math.nan


def leads(
    chunks: Sequence[tuple[float, int]], start: float, rate: int, header: int = HEADER
) -> list[tuple[float, float]]:
    """(time, lead) per chunk: audio received so far minus wall time since `start`, in
    seconds (positive: the stream runs ahead of real time)."""
    return [
        (t, (received - header) / 2 / rate - (t - start))
        for t, received in chunks
        if received > header
    ]


def stream_format(data: bytes) -> tuple[int, str]:
    """(sample rate, what is wrong or "") of a live stream's 44-byte WAV header."""
    if len(data) < HEADER:
        return 0, f"only {len(data)} bytes"
    riff, riff_size, wave, fmt, fmt_size = struct.unpack_from("<4sI4s4sI", data, 0)
    kind, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, 20)
    chunk, data_size = struct.unpack_from("<4sI", data, 36)
    problems = []
    if (riff, wave, fmt, chunk) != (b"RIFF", b"WAVE", b"fmt ", b"data") or fmt_size != 16:
        problems.append("not a plain RIFF/WAVE header")
    if (kind, channels, bits) != (1, 1, 16):
        problems.append(f"format {kind}, {channels} channels, {bits} bits")
    if riff_size != 0xFFFFFFFF or data_size != 0xFFFFFFFF:
        problems.append(f"sizes {riff_size:#x} / {data_size:#x}")
    return rate, "; ".join(problems)


def pcm(data: bytes, header: int = HEADER) -> array[int]:
    """The 16-bit samples after the header (a trailing odd byte left out)."""
    body = data[header:]
    samples = array("h")
    samples.frombytes(body[: len(body) - len(body) % 2])
    return samples


def spread(values: Sequence[float], digits: int = 0) -> list[str]:
    """runs, median, p95, max (ms)."""
    return [
        str(len(values)),
        ms(percentile(values, 50), digits),
        ms(percentile(values, 95), digits),
        ms(max(values, default=math.nan), digits),
    ]


def clause_only(recognizer: Recognizer, sentence: str) -> str | None:
    """The intent the built-in recognizer finds in a sentence only by its clauses (None:
    it finds none, or finds one in the sentence as a whole, as Rhasspy would)."""
    templates = recognizer.templates
    if best(templates.utterance(sentence), templates.intents) is not None:
        return None
    found = recognizer.recognize(sentence)
    return None if found is None else found.intent.intent_name


# --- Where each phase cue belongs in the stream ---------------------------------------------------


class DiskVoice:
    """The bundled voice's identity, reading only what is on disk: a miss is VoiceError,
    never a render (this process loads no model)."""

    def __init__(self, config: Config) -> None:
        probe = PiperSynthesizer(config.voice)  # reads the voice's settings, loads nothing
        self.identity = probe.identity
        self.sample_rate = probe.sample_rate

    def synthesize(self, sentence: str) -> bytes:
        """Never renders."""
        raise VoiceError(f"not in the clip cache: {sentence!r}")


@dataclass(frozen=True)
class StreamPlan:
    """A session's phase cues as samples of its stream."""

    rate: int
    """The stream's sample rate."""
    cues: tuple[tuple[int, str], ...]
    """(expected onset sample, label) per phase cue: the cue's planned sample plus its
    clip's own lead-in (a trimmed clip starts with a short fade)."""
    unmeasured: int
    """Note and cue sentences not found on disk: their lengths were estimated (the plan
    may then differ from the skill's by a constant)."""


def stream_plan(config: Config, minutes: int, folder: Path) -> StreamPlan:
    """The skill's plan of `minutes` of PATTERN, with its lines' lengths measured from the
    clip cache as the skill measures them after a start (Assets.measured)."""
    assets = load_assets(config, project_dir())
    voice = DiskVoice(config)
    clips = ClipCache(voice, folder)
    rate, gap = voice.sample_rate, round(GAP_SECONDS * voice.sample_rate)
    unmeasured = 0
    try:
        spoken: dict[tuple[str, int], float] = {}
        for prompt in assets.prompts(config.voice.max_sentence_chars):
            if prompt.cue is None and not prompt.note:
                continue
            try:
                clip = clips.render_now(prompt.text, trim=prompt.cue is not None)
            except VoiceError:
                unmeasured += 1
                continue
            assets.measured(prompt, clip, spoken)
        plan = BreathingPlan.build(
            assets.patterns[PATTERN],
            minutes=minutes,
            style=config.breathing.style,
            lead_in=LEAD_IN,
            speech_seconds=assets.speech_seconds,
        )
        texts = assets.cue_texts()
        cues: list[tuple[int, str]] = []
        for cue in plan.cues:
            if cue.kind != "phase" or cue.phase is None:
                continue
            if cue.voice_key is not None:
                sound = samples_of(clips.render_now(texts[cue.phase], trim=True).wav, rate)
                label = f"voice {cue.phase}"
            elif cue.chime is not None:
                sound = samples_of(chime_wav(cue.chime, CHIME_RATE), rate)
                label = f"chime {cue.chime}"
            else:
                continue
            lead = onsets(sound, LEVEL, gap)[:1] or [0]
            cues.append((round(cue.offset * rate) + lead[0], label))
    finally:
        clips.close()
    return StreamPlan(rate, tuple(cues), unmeasured)


# --- Results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Resident memory of a skill's processes at one moment."""

    tree: float
    """VmRSS of the skill and all its descendants (the voice process), MiB."""
    main: float
    """VmRSS of the skill's own process, MiB."""
    processes: int
    """How many processes."""


def snapshot(skill: SkillProcess) -> Snapshot:
    """Read the skill's processes now."""
    memory = Memory()
    memory.sample(skill.pid)
    return Snapshot(memory.rss, pid_mib(skill.pid, "VmRSS"), memory.processes)


@dataclass
class LookCell:
    """Second looks and direct intents on one CPU configuration."""

    cpu: Cpu
    """How much CPU the skill had."""
    first: list[float] = field(default_factory=list)
    """Per start: the first look's intentNotRecognized -> first clip, seconds."""
    looks: list[tuple[str, float]] = field(default_factory=list)
    """Warm looks: (sentence, seconds to the first clip)."""
    direct: list[float] = field(default_factory=list)
    """Direct NluIntents: seconds to the first clip."""
    chimes: int = 0
    """Requests whose first clip was a chime (the intro was not ready in time)."""
    idle: list[Snapshot] = field(default_factory=list)
    """Memory once quiet after the start, before any request."""
    after: list[Snapshot] = field(default_factory=list)
    """Memory after the requests (the recognizer loaded)."""
    peaks: list[Memory] = field(default_factory=list)
    """Sampled while each start ran."""
    failures: list[str] = field(default_factory=list)
    """What went wrong."""


@dataclass
class Stream:
    """One live stream as this process read it over HTTP."""

    play: Arrival
    """The `play` message."""
    chunks: list[tuple[float, int]] = field(default_factory=list)
    """(arrival time, bytes received so far) per chunk."""
    data: bytearray = field(default_factory=bytearray)
    """Everything received."""
    status: int = 0
    """HTTP status."""
    ended: float = math.nan
    """When the response ended."""
    error: str | None = None
    """Why reading stopped early."""
    sounding: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a sample that is not zero has arrived."""
    done: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the response has ended (or failed)."""


@dataclass
class StopRun:
    """One request on the Home Assistant site: "start breathing", heard a while, "stop"."""

    to_play: float
    """Intent -> `play` at this process, seconds."""
    to_first_byte: float
    """Intent -> the stream's first byte."""
    to_nonzero: float
    """Intent -> the chunk holding the stream's first non-zero sample."""
    to_audible: float
    """Intent -> the chunk holding its first sample above LEVEL."""
    to_end: float
    """"stop" -> the stream's HTTP response ended."""
    to_stop_message: float
    """"stop" -> `aftercare/<site>/stop` at this process."""
    speaks: int
    """`speak` messages between the intent and `play`."""


@dataclass
class SessionRun:
    """A whole session's stream, read in real time."""

    minutes: int
    """Plan length."""
    planned: int = 0
    """Phase cues in the plan."""
    errors: list[int] = field(default_factory=list)
    """Per phase cue found: onset in the stream minus where the plan puts it, samples."""
    labels: list[str] = field(default_factory=list)
    """Per phase cue found: voice or chime, and which."""
    rate: int = 0
    """The stream's sample rate."""
    header: str = ""
    """What is wrong with its header ("" = nothing)."""
    seconds: float = 0.0
    """Audio in the stream, seconds."""
    wall: float = 0.0
    """`play` -> the response's end, seconds."""
    leads: list[float] = field(default_factory=list)
    """Per chunk before the last second: audio received minus real time since `play`, s."""
    early: float = math.nan
    """Median lead over the first 10 s."""
    late: float = math.nan
    """Median lead over the 10 s before the last second."""
    final: float = math.nan
    """The lead when the response ended (the tail of silence released at once)."""
    unmeasured: int = 0
    """Lines whose length the plan had to estimate."""
    speaks: int = 0
    """`speak` messages from the intent to the state back to idle (outside the stream)."""
    error: str | None = None
    """Why it was not measured."""

    @property
    def missing(self) -> int:
        """Phase cues with no onset near their planned sample."""
        return self.planned - len(self.errors)


@dataclass
class HaCell:
    """A Home Assistant site on one CPU configuration."""

    cpu: Cpu
    """How much CPU the skill had."""
    stops: list[StopRun] = field(default_factory=list)
    """Start, hear, stop."""
    session: SessionRun | None = None
    """The whole session."""
    idle: Snapshot | None = None
    """Memory once quiet after the start."""
    peak: Memory | None = None
    """Sampled while it ran."""
    speaks: int = 0
    """`speak` messages answered with `finished`."""
    hermes_clips: int = 0
    """playBytes for the Home Assistant site (should be none)."""
    failures: list[str] = field(default_factory=list)
    """What went wrong."""


@dataclass(frozen=True)
class Settings:
    """How much to run."""

    starts: int = 3
    """Process starts per CPU configuration for the second look (one first look each)."""
    looks: int = 5
    """Warm looks per start."""
    direct: int = 4
    """Direct NluIntents per start."""
    ha_cpus: tuple[Cpu, ...] = (TWO_CORES, ONE_CORE)
    """CPU configurations of the Home Assistant site."""
    ha_stops: int = 5
    """Start-hear-stop runs per configuration."""
    session_minutes: int = 2
    """Length of the whole session read in real time."""


QUICK = Settings(starts=1, looks=10, direct=4, ha_cpus=(TWO_CORES,), ha_stops=2, session_minutes=1)
"""Under five minutes."""


@dataclass
class Report:
    """Everything measured."""

    settings: Settings
    """What was asked for."""
    quick: bool
    """--quick."""
    facts: list[tuple[str, str]] = field(default_factory=list)
    """The machine."""
    looks: list[LookCell] = field(default_factory=list)
    """Per CPU configuration."""
    ha: list[HaCell] = field(default_factory=list)
    """Per CPU configuration."""
    sentences: dict[str, str | None] = field(default_factory=dict)
    """Each sentence -> the intent found only in clauses (checked before running)."""
    prepare: float = math.nan
    """Seconds the clip cache took to be complete."""
    cpu: CpuMeter = field(default_factory=CpuMeter)
    """Who used the CPU meanwhile."""
    before: CpuMeter = field(default_factory=CpuMeter)
    """Who used it in the seconds before the benchmark started anything."""
    failures: list[str] = field(default_factory=list)
    """What went wrong outside the cells."""
    seconds: float = 0.0
    """Wall time."""


# --- Part 1: the second look ---------------------------------------------------------------------


def session_sentence(minutes: int) -> str:
    """How a session of `minutes` of PATTERN is asked for."""
    unit = "minute" if minutes == 1 else "minutes"
    return f"{NUMBER_WORDS[minutes]} {unit} of {PATTERN} breathing"


def not_recognized(sentence: str, site_id: str = SITE) -> tuple[str, bytes]:
    """(topic, payload) of what Rhasspy publishes when it cannot match a sentence."""
    message = NluIntentNotRecognized(input=sentence, site_id=site_id)
    return str(NluIntentNotRecognized.topic()), str(message.payload()).encode("utf-8")


def is_idle(arrival: Arrival) -> bool:
    """A site state that says idle."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return bool(json.loads(arrival.payload).get("activity") == "idle")
    return False


async def settle(
    bench: Bench, recorder: Recorder, skill: SkillProcess, site: str, reply: str | None
) -> None:
    """Say "stop" on the site; wait until its state is idle, the confirmation has come on
    `reply` (if given, at most REPLY_WAIT) and the skill is quiet."""
    sent = recorder.publish(*bench.intents.message(STOP, site))
    await wait_arrival(recorder, skill, state_topic(PREFIX, site), sent, SETTLE_TIMEOUT, is_idle)
    if reply is not None:
        with contextlib.suppress(TimeoutError):
            await wait_arrival(recorder, skill, reply, sent, REPLY_WAIT)
    await skill.wait_quiet(window=0.5, share=0.1)


async def first_clip(
    bench: Bench,
    recorder: Recorder,
    skill: SkillProcess,
    cell: LookCell,
    message: tuple[str, bytes],
) -> float:
    """Publish one request; seconds to the site's first clip; then back to idle."""
    sent = recorder.publish(*message)
    try:
        arrival = await wait_arrival(recorder, skill, PLAY_BYTES, sent, FIRST_AUDIO_TIMEOUT)
    finally:
        await settle(bench, recorder, skill, SITE, PLAY_BYTES)
    if arrival.payload in bench.chimes:
        cell.chimes += 1
    return arrival.t - sent


async def look_start(
    bench: Bench, recorder: Recorder, cell: LookCell, settings: Settings, index: int
) -> None:
    """One start: quiet, the first look, then warm looks and direct intents in turn."""
    async with skill_process(
        bench.root, bench.name("look"), bench.port, cell.cpu, warm=True, cpuset=bench.cpuset
    ) as skill:
        cell.peaks.append(skill.memory)
        await wait_online(recorder, skill)
        await skill.wait_quiet()
        cell.idle.append(snapshot(skill))
        first = SENTENCES[index % len(SENTENCES)]
        cell.first.append(await first_clip(bench, recorder, skill, cell, not_recognized(first)))
        direct = bench.intents.message(DIRECT)
        for turn in range(max(settings.looks, settings.direct)):
            if turn < settings.looks:
                sentence = SENTENCES[(index + 1 + turn) % len(SENTENCES)]
                seconds = await first_clip(bench, recorder, skill, cell, not_recognized(sentence))
                cell.looks.append((sentence, seconds))
            if turn < settings.direct:
                cell.direct.append(await first_clip(bench, recorder, skill, cell, direct))
        cell.after.append(snapshot(skill))


async def look_cell(bench: Bench, cpu: Cpu, settings: Settings) -> LookCell:
    """`settings.starts` starts of a Hermes-only skill on `cpu`."""
    cell = LookCell(cpu)
    topics = [STATUS_TOPIC, PLAY_BYTES, STATE_TOPICS]
    with Recorder(LOOPBACK, bench.port, topics, answer=True, keep_bytes=bench.keep) as recorder:
        for index in range(settings.starts):
            log.info(
                "reach: second look, %s, start %d of %d", cpu.label, index + 1, settings.starts
            )
            recorder.clear()
            try:
                await look_start(bench, recorder, cell, settings, index)
            except (TimeoutError, RuntimeError, OSError) as err:
                cell.failures.append(f"start {index + 1}: {type(err).__name__}: {err}")
    return cell


# --- Part 2: a Home Assistant site --------------------------------------------------------------


class HomeAssistant:
    """Home Assistant and its satellite on one site, as the skill's topics see them.

    `heard` is a Recorder's `respond` (paho's thread): `speak`, `play` and `stop` go to
    the event loop. Each `speak` is fetched and answered with `finished` at once; each
    `play` is read in real time, every chunk stamped, until the response ends.
    """

    def __init__(self, site: str, session: aiohttp.ClientSession, stream_limit: float) -> None:
        self._site = site
        self._session = session
        self._limit = stream_limit
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Arrival] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._recorder: Recorder | None = None
        self.streams: list[Stream] = []
        """Every stream, in order of its `play`."""
        self.speaks: list[Arrival] = []
        """Every `speak` message."""
        self.stops: list[Arrival] = []
        """Every `stop` message."""
        self.failures: list[str] = []
        """Clips that could not be fetched."""

    def heard(self, arrival: Arrival) -> list[tuple[str, bytes]]:
        """Hand the skill's messages for the site to the event loop; publish nothing here."""
        if arrival.topic.rsplit("/", 1)[-1] in ("speak", "play", "stop") and (
            arrival.topic.startswith(f"{PREFIX}/{self._site}/")
        ):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, arrival)
        return []

    @contextlib.asynccontextmanager
    async def serving(self, recorder: Recorder) -> AsyncIterator[HomeAssistant]:
        """Answer and read while inside; every task ends on the way out."""
        self._recorder = recorder
        self._spawn(self._serve())
        try:
            yield self
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self) -> None:
        while True:
            arrival = await self._queue.get()
            kind = arrival.topic.rsplit("/", 1)[-1]
            if kind == "stop":
                self.stops.append(arrival)
                continue
            try:
                body = json.loads(arrival.payload)
            except ValueError:
                self.failures.append(f"{kind}: not JSON")
                continue
            if kind == "speak":
                self.speaks.append(arrival)
                self._spawn(self._announce(str(body["id"]), str(body["url"])))
            else:
                stream = Stream(arrival)
                self.streams.append(stream)
                self._spawn(self._read(stream, str(body["url"])))

    async def _announce(self, request_id: str, url: str) -> None:
        """Fetch the clip, then say it has played (at once: nothing waits for a speaker)."""
        try:
            async with self._session.get(url) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as err:
            self.failures.append(f"clip: {type(err).__name__}")
        if self._recorder is not None:
            finished = json.dumps({"id": request_id}).encode("utf-8")
            self._recorder.publish(f"{PREFIX}/{self._site}/finished", finished)

    async def _read(self, stream: Stream, url: str) -> None:
        timeout = aiohttp.ClientTimeout(total=self._limit)
        try:
            async with self._session.get(url, timeout=timeout) as response:
                stream.status = response.status
                async for chunk in response.content.iter_any():
                    now = time.monotonic()
                    before = len(stream.data)
                    stream.data += chunk
                    stream.chunks.append((now, len(stream.data)))
                    if not stream.sounding.is_set() and any(stream.data[max(before, HEADER) :]):
                        stream.sounding.set()
        except (aiohttp.ClientError, TimeoutError) as err:
            stream.error = f"{type(err).__name__}: {err}"
        finally:
            stream.ended = time.monotonic()
            stream.done.set()

    async def stream_after(self, since: float, within: float = STREAM_TIMEOUT) -> Stream:
        """The first stream whose `play` came at or after `since`."""
        give_up = time.monotonic() + within
        while time.monotonic() < give_up:
            for stream in self.streams:
                if stream.play.t >= since:
                    return stream
            await asyncio.sleep(0.005)
        raise TimeoutError(f"no `play` within {within:.0f} s")


def ha_settings(http_port: int) -> dict[str, Any]:
    """config.yaml's sections for one site that speaks through Home Assistant."""
    return {
        "homeassistant": {"speakers": {GUEST: SATELLITE}},
        "http": {"host": LOOPBACK, "port": http_port},
    }


async def stop_run(
    bench: Bench, recorder: Recorder, ha: HomeAssistant, skill: SkillProcess, hold: float
) -> StopRun:
    """Say "start breathing", hear the stream for `hold` s, say "stop"; back to idle."""
    sent = recorder.publish(*bench.intents.message(DIRECT, GUEST))
    stream = await ha.stream_after(sent)
    await asyncio.wait_for(stream.sounding.wait(), STREAM_TIMEOUT)
    await asyncio.sleep(max(0.0, stream.play.t + hold - time.monotonic()))
    stopped = recorder.publish(*bench.intents.message(STOP, GUEST))
    await asyncio.wait_for(stream.done.wait(), STREAM_TIMEOUT)
    await wait_arrival(
        recorder, skill, state_topic(PREFIX, GUEST), stopped, SETTLE_TIMEOUT, is_idle
    )
    message = next((a.t for a in ha.stops if a.t >= stopped), math.nan)
    await skill.wait_quiet(window=0.5, share=0.1)
    samples = pcm(bytes(stream.data))
    nonzero, audible = first_sound(samples), first_sound(samples, LEVEL)
    if stream.error is not None:
        raise RuntimeError(f"the stream failed: {stream.error}")
    return StopRun(
        to_play=stream.play.t - sent,
        to_first_byte=stream.chunks[0][0] - sent if stream.chunks else math.nan,
        to_nonzero=arrival_of(nonzero, stream.chunks) - sent if nonzero is not None else math.nan,
        to_audible=arrival_of(audible, stream.chunks) - sent if audible is not None else math.nan,
        to_end=stream.ended - stopped,
        to_stop_message=message - stopped,
        speaks=sum(1 for a in ha.speaks if sent <= a.t <= stream.play.t),
    )


async def session_run(
    bench: Bench, recorder: Recorder, ha: HomeAssistant, skill: SkillProcess, minutes: int
) -> SessionRun:
    """A whole session on the site, its stream read to its end and held against the plan."""
    run = SessionRun(minutes)
    plan = await asyncio.to_thread(stream_plan, bench.config, minutes, clip_cache_dir())
    run.planned, run.unmeasured = len(plan.cues), plan.unmeasured
    sentence = session_sentence(minutes)
    sent = recorder.publish(*bench.intents.message(sentence, GUEST))
    stream = await ha.stream_after(sent)
    last = plan.cues[-1][0] / plan.rate if plan.cues else 0.0
    await asyncio.wait_for(stream.done.wait(), last + SESSION_SLACK)
    if stream.error is not None:
        run.error = f"the stream failed: {stream.error}"
    idle = await wait_arrival(
        recorder, skill, state_topic(PREFIX, GUEST), sent, SETTLE_TIMEOUT, is_idle
    )
    run.speaks = sum(1 for a in ha.speaks if sent <= a.t <= idle.t)
    data = bytes(stream.data)
    run.rate, run.header = stream_format(data)
    rate = run.rate or plan.rate
    samples = pcm(data)
    run.seconds = len(samples) / rate
    run.wall = stream.ended - stream.play.t
    found = onsets(samples, LEVEL, round(GAP_SECONDS * rate))
    window = round(MATCH_WINDOW * rate)
    errors = cue_errors([at for at, _ in plan.cues], found, window)
    for (_, label), error in zip(plan.cues, errors, strict=True):
        if error is not None:
            run.errors.append(error)
            run.labels.append(label)
    paced = leads(stream.chunks, stream.play.t, rate)
    body = [(t, lead) for t, lead in paced if t <= stream.ended - END_SECONDS]
    run.leads = [lead for _, lead in body]
    if body:
        run.early = percentile([v for t, v in body if t <= body[0][0] + 10.0], 50)
        run.late = percentile([v for t, v in body if t >= body[-1][0] - 10.0], 50)
    run.final = paced[-1][1] if paced else math.nan
    return run


async def ha_cell(bench: Bench, cpu: Cpu, settings: Settings) -> HaCell:
    """A skill with one Home Assistant site on `cpu`: stops, a whole session, memory."""
    cell = HaCell(cpu)
    chooser = random.Random(16)
    limit = settings.session_minutes * 60 + SESSION_SLACK + 60
    async with aiohttp.ClientSession() as session:
        ha = HomeAssistant(GUEST, session, limit)
        topics = [STATUS_TOPIC, f"{PREFIX}/{GUEST}/+", f"hermes/audioServer/{GUEST}/playBytes/+"]
        with Recorder(
            LOOPBACK, bench.port, topics, respond=ha.heard, keep_bytes=bench.keep
        ) as recorder:
            async with (
                ha.serving(recorder),
                skill_process(
                    bench.root,
                    bench.name("ha"),
                    bench.port,
                    cpu,
                    warm=True,
                    cpuset=bench.cpuset,
                    extra=ha_settings(free_port()),
                ) as skill,
            ):
                cell.peak = skill.memory
                try:
                    await wait_online(recorder, skill)
                    await skill.wait_quiet()
                    cell.idle = snapshot(skill)
                    for index in range(settings.ha_stops):
                        log.info("reach: Home Assistant, %s, stop %d", cpu.label, index + 1)
                        hold = chooser.uniform(*HOLD)
                        try:
                            cell.stops.append(await stop_run(bench, recorder, ha, skill, hold))
                        except (TimeoutError, RuntimeError) as err:
                            cell.failures.append(f"stop run {index + 1}: {err}")
                    log.info("reach: Home Assistant, %s, whole session", cpu.label)
                    cell.session = await session_run(
                        bench, recorder, ha, skill, settings.session_minutes
                    )
                except (TimeoutError, RuntimeError, OSError) as err:
                    cell.failures.append(f"{type(err).__name__}: {err}")
            cell.speaks = len(ha.speaks)
            cell.failures += ha.failures
            cell.hermes_clips = len(recorder.arrivals(f"hermes/audioServer/{GUEST}/playBytes/+"))
    return cell


# --- The benchmark -------------------------------------------------------------------------------


async def run(settings: Settings, *, quick: bool) -> Report:
    """Both measurements (bounded: a few minutes quick, under fifteen in full)."""
    began = time.monotonic()
    report = Report(settings, quick)
    report.before.start()
    await asyncio.sleep(BEFORE_SECONDS)
    report.before.stop()
    if report.before.others > BUSY_CORES:
        log.warning(
            "reach: other processes use %.2f cores; numbers will suffer", report.before.others
        )
    report.cpu.start()
    binary = find_mosquitto()
    if binary is None:
        raise RuntimeError("this benchmark needs mosquitto (apt install mosquitto)")
    pin_problem = cgroup_problem(cpus=ONE_CORE.cpus)
    report.facts = [
        *machine(),
        (
            "One core",
            f"cgroup v1 cpuset.cpus = {ONE_CORE.cpus} and taskset -c {ONE_CORE.cpus}"
            if pin_problem is None
            else f"taskset -c {ONE_CORE.cpus} only ({pin_problem})",
        ),
    ]
    root = Path(tempfile.mkdtemp(prefix="aftercare-bench-reach-"))
    broker: Mosquitto | None = None
    try:
        port = free_port()
        broker = Mosquitto(binary, port)
        broker.wait_ready(10.0)
        bench = Bench(
            root, port, ConstrainedReport(ConstrainedSettings()), cpuset=pin_problem is None
        )
        recognizer = load_recognizer(bench.config, project_dir())
        report.sentences = {s: clause_only(recognizer, s) for s in SENTENCES}
        wrong = [s for s, found in report.sentences.items() if found != BREATHE]
        if wrong:
            raise RuntimeError(f"not {BREATHE} by clauses alone: {wrong}")
        log.info("reach: preparing the clip cache")
        try:
            await prepare_cache(bench)
            report.prepare = bench.report.prepare
        except (TimeoutError, RuntimeError) as err:
            report.failures.append(f"preparing the clip cache: {err}")
        for cpu in (TWO_CORES, ONE_CORE):
            report.looks.append(await look_cell(bench, cpu, settings))
        for cpu in settings.ha_cpus:
            report.ha.append(await ha_cell(bench, cpu, settings))
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(root, ignore_errors=True)
    report.cpu.stop()
    report.seconds = time.monotonic() - began
    return report


# --- Markdown ------------------------------------------------------------------------------------


def _mib(values: Iterator[float]) -> str:
    found = list(values)
    if not found:
        return "—"
    return f"{percentile(found, 50):.0f} ({min(found):.0f} to {max(found):.0f})"


def _look_table(report: Report) -> str:
    rows: list[list[str]] = []
    for cell in report.looks:
        warm = [seconds for _, seconds in cell.looks]
        rows += [
            [cell.cpu.label, "first look after start (recognizer loads)", *spread(cell.first)],
            [cell.cpu.label, "warm look (clauses)", *spread(warm)],
            [cell.cpu.label, f'direct NluIntent ("{DIRECT}")', *spread(cell.direct)],
        ]
    return table(["CPU", "request → first clip", "runs", "median ms", "p95 ms", "max ms"], rows)


def _sentence_table(report: Report) -> str:
    rows = []
    for sentence in SENTENCES:
        cells = []
        for cell in report.looks:
            values = [s for said, s in cell.looks if said == sentence]
            cells.append(f"{ms(percentile(values, 50), 0)} ({len(values)})")
        rows.append([f'"{sentence}"', *cells])
    header = ["warm look: sentence", *(f"{c.cpu.label}: median ms (runs)" for c in report.looks)]
    return table(header, rows)


def _stop_table(report: Report) -> str:
    rows: list[list[str]] = []
    for cell in report.ha:
        measures = [
            ('"start breathing" → `play` message', [r.to_play for r in cell.stops]),
            ("… → stream's first byte (HTTP)", [r.to_first_byte for r in cell.stops]),
            ("… → first non-zero sample", [r.to_nonzero for r in cell.stops]),
            (f"… → first sample above {LEVEL} (1 % FS)", [r.to_audible for r in cell.stops]),
            ('"stop" → stream\'s HTTP response ended', [r.to_end for r in cell.stops]),
            ('"stop" → `stop` message', [r.to_stop_message for r in cell.stops]),
        ]
        for label, values in measures:
            finite = [v for v in values if not math.isnan(v)]
            rows.append([cell.cpu.label, label, *spread(finite)])
    return table(["CPU", "measure", "runs", "median ms", "p95 ms", "max ms"], rows)


def _onset_table(report: Report) -> str:
    rows: list[list[str]] = []
    for cell in report.ha:
        run = cell.session
        if run is None or not run.rate:
            rows.append([cell.cpu.label, "—", "—", "—", "—", "—", "—", "—"])
            continue
        size = [abs(e) for e in run.errors]
        to_ms = 1000 / run.rate
        beyond = sum(1 for e in size if e > BLOCK)
        rows.append(
            [
                f"{cell.cpu.label}, {run.minutes} min",
                f"{len(run.errors)} of {run.planned}",
                f"{percentile(run.errors, 50):+.0f} ({percentile(run.errors, 50) * to_ms:+.2f})"
                if run.errors
                else "—",
                f"{percentile(size, 99):.0f} ({percentile(size, 99) * to_ms:.2f})" if size else "—",
                f"{max(size):.0f} ({max(size) * to_ms:.2f})" if size else "—",
                f"{min(run.errors, default=0):+d} / {max(run.errors, default=0):+d}",
                str(beyond),
                str(run.missing),
            ]
        )
    header = [
        "session",
        "cues found",
        "median error samples (ms)",
        "p99 |error| samples (ms)",
        "max |error| samples (ms)",
        "min / max signed",
        f"> 1 block ({BLOCK})",
        "missing",
    ]
    return table(header, rows)


def _pacing_table(report: Report) -> str:
    rows: list[list[str]] = []
    for cell in report.ha:
        run = cell.session
        if run is None or not run.leads:
            continue
        rows.append(
            [
                cell.cpu.label,
                f"{run.seconds:.2f} s / {run.wall:.2f} s",
                str(len(run.leads)),
                ms(max(run.leads), 1),
                ms(percentile(run.leads, 50), 1),
                ms(min(run.leads), 1),
                f"{ms(run.early, 1)} → {ms(run.late, 1)}",
                ms(run.final, 0),
                "yes" if max(run.leads) <= 0.2 and min(run.leads) >= -(LAG + 0.2) else "**NO**",
            ]
        )
    header = [
        "CPU",
        "audio / play → end",
        "chunks",
        "max lead ms",
        "median lead ms",
        "min lead ms",
        "first 10 s → last 10 s (median ms)",
        "at the end ms",
        "ahead at most 0.2 s, behind at most LAG + 0.2 s",
    ]
    return table(header, rows)


def _memory_table(report: Report) -> str:
    rows: list[list[str]] = []
    for cell in report.looks:
        rows += [
            [
                f"Hermes only, {cell.cpu.label}: quiet after start",
                str(len(cell.idle)),
                _mib(s.tree for s in cell.idle),
                _mib(s.main for s in cell.idle),
                str(max((s.processes for s in cell.idle), default=0)),
            ],
            [
                f"Hermes only, {cell.cpu.label}: after the looks (recognizer loaded)",
                str(len(cell.after)),
                _mib(s.tree for s in cell.after),
                _mib(s.main for s in cell.after),
                str(max((s.processes for s in cell.after), default=0)),
            ],
            [
                f"Hermes only, {cell.cpu.label}: peak while running",
                str(len(cell.peaks)),
                _mib(m.rss for m in cell.peaks),
                "—",
                str(max((m.processes for m in cell.peaks), default=0)),
            ],
        ]
    for ha in report.ha:
        if ha.idle is not None:
            rows.append(
                [
                    f"Home Assistant site, {ha.cpu.label}: quiet after start (aiohttp and "
                    "recognizer loaded)",
                    "1",
                    f"{ha.idle.tree:.0f}",
                    f"{ha.idle.main:.0f}",
                    str(ha.idle.processes),
                ]
            )
        if ha.peak is not None:
            rows.append(
                [
                    f"Home Assistant site, {ha.cpu.label}: peak while running (stream read)",
                    "1",
                    f"{ha.peak.rss:.0f}",
                    "—",
                    str(ha.peak.processes),
                ]
            )
    header = [
        "skill's processes",
        "runs",
        "all processes VmRSS MiB median (min to max)",
        "skill's own process MiB",
        "processes",
    ]
    return table(header, rows)


def markdown(report: Report) -> str:
    """The results as Markdown."""
    settings = report.settings
    mode = "--quick" if report.quick else "full"
    command = ".venv/bin/python -m benchmarks.reach" + (" --quick" if report.quick else "")
    look_runs = (
        f"{settings.starts} start(s) per CPU configuration; per start one first look, then "
        f"{settings.looks} warm looks and {settings.direct} direct intents in turn"
    )
    parts = [
        "# Reach: a second look end to end, and a Home Assistant site (issues #13, #16)",
        f"Measured {mode} with `{command}` (benchmarks/reach.py; `--quick` for a short run). "
        "The skill runs as `python -m skill run --config …`, a child process on Mosquitto on "
        "127.0.0.1, with a warm clip cache (the persistent benchmark cache, completed first by "
        "one skill run, as benchmarks/constrained.py does). Everything is measured from this "
        "separate process: through the broker (a paho subscriber stamping `time.monotonic()`), "
        "over HTTP (an aiohttp client) and from /proc. *1 core*: `taskset -c 0` and a cgroup "
        "v1 cpuset of core 0; Mosquitto and this process are not pinned.",
        table(["", ""], [[k, v] for k, v in report.facts]),
        "## Second look, end to end (issue #13)",
        "`hermes/nlu/intentNotRecognized` (`{input, siteId, id, customData, sessionId}`, "
        "from rhasspy-hermes' NluIntentNotRecognized) published for a sentence Rhasspy's "
        "templates cannot match as a whole, until the site's first `playBytes` clip (the "
        "breathing session's opening line). *First look*: the first request after the "
        "skill's start, once the skill is quiet (voice loaded, every prompt in): the "
        "recognizer loads then (hassil, in a thread). *Warm look*: later ones. *Direct*: the "
        f'NluIntent of "{DIRECT}" on `hermes/intent/{BREATHE}`, as Rhasspy sends when it '
        'does recognize it. Before every request the site is idle: "stop", its state back '
        "to idle, the stop's clip arrived, the skill's processes under 10 % of a core for "
        f"0.5 s. This process answers every clip with playFinished at once. {look_runs}.",
        _look_table(report),
        "The sentences (each checked before the run: no template matches it whole, and the "
        f"built-in recognizer finds {BREATHE} in its clauses). The first looks take them in "
        "turn, one per start.",
        _sentence_table(report),
        "First looks, each: "
        + "; ".join(
            f"{c.cpu.label}: " + ", ".join(f"{ms(v, 0)} ms" for v in c.first) for c in report.looks
        )
        + ".",
        "First clips that were a chime instead of speech: "
        + ", ".join(f"{c.cpu.label} {c.chimes}" for c in report.looks)
        + ".",
        "## A Home Assistant site (issue #16)",
        f"`homeassistant.speakers: {{{GUEST}: {SATELLITE}}}` and `http: {{host: 127.0.0.1, "
        "port: <free>}`. This process plays Home Assistant: every `speak` is fetched and "
        "answered with `finished` at once; every `play` URL is read at once, each chunk "
        "stamped on arrival. Once the skill is quiet (the recognizer and aiohttp load after "
        "`online` for such a site):",
        f"### Start, hear, stop ({settings.ha_stops} runs per CPU configuration)",
        f'The NluIntent of "{DIRECT}" for site `{GUEST}`; the stream is heard for '
        f'{HOLD[0]:g} to {HOLD[1]:g} s (seeded) after `play`, then "stop". Times of a sample '
        "are the arrival of the HTTP chunk that held it.",
        _stop_table(report),
        "`speak` messages before `play`: "
        + ", ".join(f"{c.cpu.label} {sum(r.speaks for r in c.stops)}" for c in report.ha)
        + "; `speak` answered in all: "
        + ", ".join(f"{c.cpu.label} {c.speaks}" for c in report.ha)
        + "; `speak` during the whole session: "
        + ", ".join(f"{c.cpu.label} {c.session.speaks}" for c in report.ha if c.session)
        + "; Hermes playBytes for the site (should be 0): "
        + ", ".join(f"{c.cpu.label} {c.hermes_clips}" for c in report.ha)
        + ".",
        f"### Cue onsets in a whole session ({settings.session_minutes} min of {PATTERN})",
        f'"{session_sentence(settings.session_minutes)}" for the '
        "site; the stream read to its end in real time. Sample 0 is the session's start. "
        "The plan is the skill's own (`load_assets`, `BreathingPlan.build`), with each line's "
        "length measured from the clip cache as the skill measures it after a start; a phase "
        "cue's expected onset is its planned sample plus its clip's own lead-in (the trimmed "
        "cue starts with a 20 ms fade; the same detector on the clip alone). Onset: the first "
        f"sample above {LEVEL} (1 % of full scale) after {GAP_SECONDS * 1000:.0f} ms below it; "
        f"each cue takes the nearest onset within ±{MATCH_WINDOW:g} s. Error = onset - "
        f"expected (negative: early). A block is {BLOCK} samples.",
        _onset_table(report),
        "### Pacing",
        "Lead = audio received so far - wall time since `play` arrived (sample 0 is a little "
        f"before that). The skill releases a block {LAG:g} s (LAG) after its last sample, so "
        f"a stream in step leads by about -{LAG:g} s to -{LAG + BLOCK / 22050:.2f} s. Chunks "
        f"of the last {END_SECONDS:g} s are left out (a session that ends by itself releases "
        "its tail of silence at once); *at the end* is the lead when the response ended.",
        _pacing_table(report),
        "## Memory of the skill's processes",
        "VmRSS from /proc: the skill and its descendants (the voice process), and the skill's "
        "own process alone (aiohttp is imported only when a Home Assistant site is "
        "configured; the recognizer loads on the first second look, or after `online` when a "
        "Home Assistant site is configured). Peaks are sampled every 0.2 s.",
        _memory_table(report),
    ]
    notes = []
    if not math.isnan(report.prepare):
        notes.append(f"Clip cache prepared in {report.prepare:.0f} s.")
    for cell in report.ha:
        run = cell.session
        if run is not None:
            if run.header:
                notes.append(f"{cell.cpu.label}: stream header: {run.header}.")
            if run.unmeasured:
                notes.append(f"{cell.cpu.label}: {run.unmeasured} lines not on disk (estimated).")
            if run.error:
                notes.append(f"{cell.cpu.label}: session: {run.error}.")
    failures = [
        *report.failures,
        *(f"{c.cpu.label}: {f}" for c in report.looks for f in c.failures),
        *(f"{c.cpu.label} (Home Assistant): {f}" for c in report.ha for f in c.failures),
    ]
    notes.append("Failures: " + ("; ".join(failures) if failures else "none") + ".")
    notes.append(f"CPU before the benchmark: {report.before.describe()}.")
    notes.append(
        f"CPU meanwhile (the skill counts among other processes): {report.cpu.describe()}."
    )
    notes.append(f"Benchmark wall time: {report.seconds:.0f} s.")
    parts.append(" ".join(notes))
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """python -m benchmarks.reach [--quick] [--output FILE]: writes REACH.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs (< 5 min)")
    parser.add_argument(
        "--output", default=str(OUTPUT), help="where to write the Markdown ('-': stdout)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("benchmarks").setLevel(logging.INFO)
    quick = bool(args.quick)
    text = markdown(asyncio.run(run(QUICK if quick else Settings(), quick=quick)))
    if args.output == "-":
        print(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
