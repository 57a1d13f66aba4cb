"""What every benchmark shares: a recording subscriber, intents, config, statistics, Markdown."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import functools
import heapq
import itertools
import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode
from rhasspyhermes.nlu import NluIntent

from skill.app import Runtime, project_dir
from skill.config.loader import parse_config
from skill.config.settings import Config
from skill.hermes.client import new_client
from skill.hermes.dialogue import SESSION_ENDED, SESSION_STARTED
from skill.hermes.mosquitto import LOOPBACK, find_mosquitto
from skill.language.nlu import Recognizer
from skill.routines.model import routine_names
from skill.routines.runner import CHECKIN_ANSWERS
from skill.voice.audio import wav_duration
from skill.voice.output import Spoken

SITE = "bench"
"""Site id every benchmark speaks on."""
PLAY_BYTES = f"hermes/audioServer/{SITE}/playBytes/+"
"""Topic filter of every clip published for the benchmark site."""
PLAY_BYTES_ALL = "hermes/audioServer/+/playBytes/+"
"""Topic filter of every clip published for any site."""
STATUS_TOPIC = "aftercare/status"
"""Where the skill publishes its retained online/offline."""
START_SESSION = "hermes/dialogueManager/startSession"
"""Where the skill opens a check-in's listening session."""


# --- Configuration, clip cache and intents ----------------------------------------------------


def clip_cache_dir() -> Path:
    """Clips kept between benchmark runs: $XDG_CACHE_HOME/aftercare-benchmarks/clips.

    The first run on a machine renders every prompt once (a few minutes of Piper); later
    runs find them on disk, as a skill that has been running for a while does.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aftercare-benchmarks" / "clips"


def data_dir(root: Path, name: str, *, warm: bool, private: bool = False) -> Path:
    """A fresh data_dir under root; with `warm`, its cache/ holds the persistent clips.

    The cache is linked in, or copied with `private` (for runs that would leave clips
    nobody needs again in the persistent cache).
    """
    folder = root / name
    folder.mkdir(mode=0o700)
    if warm:
        cache = clip_cache_dir()
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        if private:
            shutil.copytree(cache, folder / "cache")
        else:
            (folder / "cache").symlink_to(cache, target_is_directory=True)
    return folder


async def warm_clip_cache(root: Path) -> float:
    """Start the skill once on the persistent clip cache and let it render what is missing.

    Seconds it took: a few on a warm cache, a few minutes the first time on a machine.
    """
    began = time.monotonic()
    async with Runtime(bench_config(data_dir(root, "prepare", warm=True))) as runtime:
        await wait_quiet(runtime)
    return time.monotonic() - began


async def wait_quiet(
    runtime: Runtime | None = None,
    limit: float = 300.0,
    window: float = 0.5,
    share: float = 0.05,
) -> float:
    """Wait until the runtime's voice has rendered every fixed prompt (if given), then until
    this process uses under `share` of a core (nothing else is rendering).

    The skill loads its voice and renders every fixed prompt in the background after it
    goes online; measuring "idle" before that has finished would measure Piper instead.
    Returns the seconds waited.
    """
    began = time.monotonic()
    if runtime is not None:
        await asyncio.wait_for(runtime.voice_ready(), limit)
    while True:
        used = time.process_time()
        await asyncio.sleep(window)
        if time.process_time() - used < window * share:
            return time.monotonic() - began
        if time.monotonic() - began > limit:
            raise TimeoutError(f"the process was still busy after {limit:.0f} s")


def bench_raw(
    data_dir: Path, *, host: str, port: int, pattern: str = "calm", sites: Sequence[str] = ()
) -> dict[str, Any]:
    """config.yaml's content for a benchmark skill: the shipped defaults, voice cues, the
    real voice, clips cached under data_dir; `sites` the allowlist (empty: every site)."""
    raw: dict[str, Any] = {
        "mqtt": {"host": host, "port": port},
        "voice": {"engine": "piper", "model": "bundled"},
        "breathing": {"pattern": pattern, "style": "voice"},
        "data_dir": str(data_dir),
        "log_level": "WARNING",
    }
    if sites:
        raw["sites"] = list(sites)
    return raw


def section_main(
    argv: Sequence[str] | None,
    doc: str | None,
    quick_help: str,
    section: Callable[[bool], Coroutine[Any, Any, str]],
) -> None:
    """The command line of one benchmark module: [--quick], its Markdown section on stdout."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("benchmarks").setLevel(logging.INFO)
    print(asyncio.run(section(args.quick)))


def bench_config(
    data_dir: Path,
    *,
    pattern: str = "calm",
    sites: Sequence[str] = (),
    devices: Sequence[dict[str, Any]] = (),
    broker: tuple[str, int] | None = None,
) -> Config:
    """The shipped defaults on an embedded loopback broker, caching clips under data_dir.

    `sites` become the allowlist (empty: every site), `devices` the `devices:` section, and
    `broker` (host, port) an already running broker instead of the embedded one.
    """
    host, port = broker if broker is not None else ("embedded", 0)
    raw = bench_raw(data_dir, host=host, port=port, pattern=pattern, sites=sites)
    if devices:
        raw["devices"] = [dict(device) for device in devices]
    return parse_config(raw, path="<benchmark>")


class Intents:
    """Real NluIntent payloads, as rhasspy-nlu-hermes would publish them, from sentences."""

    def __init__(self, config: Config) -> None:
        self._recognizer = Recognizer.load(
            project_dir() / "intents",
            language=config.language,
            playlists=(config.cooldown.playlist, *config.cooldown.playlists),
            safewords=config.safewords,
            caution_words=config.caution_words,
            routines=routine_names(config.routines),
        )

    def message(self, sentence: str, site_id: str = SITE) -> tuple[str, bytes]:
        """(topic, payload) of the intent the recognizer finds for a sentence."""
        intent = self.intent(sentence, site_id)
        topic = str(intent.topic(intent_name=intent.intent.intent_name))
        return topic, str(intent.payload()).encode("utf-8")

    def intent(
        self,
        sentence: str,
        site_id: str = SITE,
        *,
        session_id: str | None = None,
        intent_filter: Sequence[str] | None = None,
    ) -> NluIntent:
        """The NluIntent for a sentence (within a session's intent filter, if given)."""
        intent = self._recognizer.recognize(
            sentence, site_id=site_id, session_id=session_id, intent_filter=intent_filter
        )
        if intent is None:
            raise ValueError(f"no intent matches {sentence!r}; pick a sentence from intents/en/")
        return intent


# --- A recording subscriber --------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """One message as the recording subscriber received it."""

    t: float
    """time.monotonic() in paho's network thread when the whole message had arrived."""
    topic: str
    """Its topic."""
    payload: bytes
    """Its payload."""
    retain: bool
    """True when the broker replayed a retained message."""


@functools.lru_cache(maxsize=64)
def _filter_pattern(topic_filter: str) -> re.Pattern[str]:
    parts: list[str] = []
    for level in topic_filter.split("/"):
        if level == "#":  # the rest, the parent level included ("a/#" matches "a")
            return re.compile("/".join(parts) + ("(?:/.*)?" if parts else ".*"))
        parts.append("[^/]*" if level == "+" else re.escape(level))
    return re.compile("/".join(parts))


def matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic matching (as paho's topic_matches_sub, without its per-call set-up cost)."""
    return _filter_pattern(topic_filter).fullmatch(topic) is not None


Respond = Callable[[Arrival], Iterable[tuple[str, bytes]]]
"""Told every arrival (in paho's network thread); returns messages to publish at once."""


class Recorder:
    """A separate paho client in this process: records arrivals, publishes intents.

    With `answer`, it also plays the audio server for every site it receives clips of: each
    clip is acknowledged with playFinished, at once (`play_scale` 0), or, like a speaker that
    plays one clip after another, when the clip would have finished playing at `play_scale`
    real seconds per second of audio. `respond` may answer any other message (a stand-in for
    Rhasspy's dialogue manager, say). `keep_bytes` keeps only the first bytes of each payload
    (a WAV header is 44: enough for its length), so long runs do not hold every clip.
    """

    def __init__(
        self,
        host: str,
        port: int,
        topic_filters: Sequence[str],
        *,
        answer: bool = False,
        play_scale: float = 0.0,
        respond: Respond | None = None,
        keep_bytes: int | None = None,
    ) -> None:
        self._filters = tuple(topic_filters)
        self._keep_bytes = keep_bytes
        self._answer = answer
        self._play_scale = play_scale
        self._respond = respond
        self._host, self._port = host, port
        self._lock = threading.Condition()
        self._arrivals: list[Arrival] = []
        self._subscribed = threading.Event()
        self._playing = threading.Condition()
        self._finishes: list[tuple[float, int, str, bytes]] = []  # heap of (due, n, topic, body)
        self._busy_until: dict[str, float] = {}
        self._order = itertools.count()  # ties in the heap: first come, first answered
        self._player: threading.Thread | None = None
        self._closing = False
        self._client = new_client("bench")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._started = False

    def __enter__(self) -> Self:
        if self._answer and self._play_scale > 0:
            self._player = threading.Thread(target=self._play, name="bench-player", daemon=True)
            self._player.start()
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        self._started = True
        if not self._subscribed.wait(5.0):
            self.close()
            raise TimeoutError(f"not subscribed to {self._filters} within 5 s")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect and stop the network and player threads (idempotent)."""
        if self._started:
            self._started = False
            self._client.disconnect()
            self._client.loop_stop()
        if self._player is not None:
            with self._playing:
                self._closing = True
                self._playing.notify_all()
            self._player.join()
            self._player = None

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if not reason.is_failure:
            client.subscribe([(topic, 0) for topic in self._filters])

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        if not any(code.is_failure for code in reason_codes):
            self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        # The timestamp first: everything else is bookkeeping.
        arrival = Arrival(time.monotonic(), message.topic, bytes(message.payload), message.retain)
        kept = arrival
        if self._keep_bytes is not None:
            kept = dataclasses.replace(arrival, payload=arrival.payload[: self._keep_bytes])
        with self._lock:
            self._arrivals.append(kept)
            self._lock.notify_all()
        if self._answer and matches(PLAY_BYTES_ALL, message.topic):
            self._finish(arrival)
        if self._respond is not None:
            for topic, payload in self._respond(arrival):
                client.publish(topic, payload, qos=0)

    def _finish(self, clip: Arrival) -> None:
        """playFinished for a clip: now, or once it (and the clips ahead of it) has played."""
        _, _, site, _, request_id = clip.topic.split("/")
        topic = f"hermes/audioServer/{site}/playFinished"
        finished = json.dumps({"id": request_id, "siteId": site}).encode("utf-8")
        if self._play_scale <= 0:
            self._client.publish(topic, finished, qos=0)
            return
        try:
            seconds = wav_duration(clip.payload) * self._play_scale
        except (EOFError, ValueError):
            seconds = 0.0  # not a WAV: answered at once, as Rhasspy's audio server does
        with self._playing:
            start = max(clip.t, self._busy_until.get(site, 0.0))
            done = start + seconds
            self._busy_until[site] = done
            heapq.heappush(self._finishes, (done, next(self._order), topic, finished))
            self._playing.notify_all()

    def _play(self) -> None:
        """The player thread: publishes each playFinished when its clip has played."""
        with self._playing:
            while not self._closing:
                if not self._finishes:
                    self._playing.wait()
                    continue
                due, _, topic, finished = self._finishes[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._playing.wait(wait)
                    continue
                heapq.heappop(self._finishes)
                self._client.publish(topic, finished, qos=0)

    def publish(self, topic: str, payload: bytes) -> float:
        """Publish at QoS 0 (as Rhasspy does); the monotonic time just before handing it over."""
        sent = time.monotonic()
        self._client.publish(topic, payload, qos=0)
        return sent

    def arrivals(self, topic_filter: str = "#", since: float = 0.0) -> list[Arrival]:
        """What arrived on matching topics at or after `since`, oldest first."""
        with self._lock:
            return [a for a in self._arrivals if a.t >= since and matches(topic_filter, a.topic)]

    def wait_for(
        self,
        topic_filter: str,
        since: float,
        timeout: float,
        test: Callable[[Arrival], bool] | None = None,
    ) -> Arrival | None:
        """The first matching arrival at or after `since`, waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._lock:
            checked = 0
            while True:
                for arrival in self._arrivals[checked:]:
                    if (
                        arrival.t >= since
                        and matches(topic_filter, arrival.topic)
                        and (test is None or test(arrival))
                    ):
                        return arrival
                checked = len(self._arrivals)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(remaining)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._arrivals.clear()

    def forget(self, topic_filter: str, until: float) -> None:
        """Forget arrivals on matching topics up to `until` (long runs stay small)."""
        with self._lock:
            self._arrivals = [
                a for a in self._arrivals if a.t > until or not matches(topic_filter, a.topic)
            ]


class CheckinStandIn:
    """Rhasspy's dialogue manager as far as check-ins see it: a Recorder's `respond`.

    Every startSession (subscribe the recorder to START_SESSION) gets sessionStarted with
    its siteId and customData at once, then the site's next answer, in turn: the NluIntent
    of the words (recognized within the check-in's intent filter) with the sessionId and
    customData, or for None sessionEnded with reason `timeout`. Runs in paho's thread.
    """

    def __init__(
        self, intents: Intents, sites: Sequence[str], answers: Sequence[str | None]
    ) -> None:
        self._turns = tuple(answers)
        self._intents: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        for site in sites:
            for text in {a for a in answers if a is not None}:
                intent = intents.intent(
                    text, site, session_id="-", intent_filter=list(CHECKIN_ANSWERS)
                )
                topic = str(intent.topic(intent_name=intent.intent.intent_name))
                self._intents[site, text] = (topic, json.loads(str(intent.payload())))
        self._lock = threading.Lock()
        self._count: dict[str, int] = {}
        self._given: list[tuple[float, str, str | None]] = []

    def __call__(self, arrival: Arrival) -> list[tuple[str, bytes]]:
        """sessionStarted and the answer for a startSession; nothing for anything else."""
        if arrival.topic != START_SESSION:
            return []
        body = json.loads(arrival.payload)
        site, token = str(body["siteId"]), body.get("customData")
        with self._lock:
            turn = self._count.get(site, 0)
            self._count[site] = turn + 1
            answer = self._turns[turn % len(self._turns)]
            self._given.append((arrival.t, site, answer))
        opened = {"sessionId": f"dm-{uuid.uuid4().hex[:12]}", "siteId": site, "customData": token}
        out = [(SESSION_STARTED, json.dumps(opened).encode("utf-8"))]
        if answer is None:
            ended = {**opened, "termination": {"reason": "timeout"}}
            out.append((SESSION_ENDED, json.dumps(ended).encode("utf-8")))
        else:
            topic, payload = self._intents[site, answer]
            out.append((topic, json.dumps({**payload, **opened}).encode("utf-8")))
        return out

    def given(self, site_id: str, since: float, until: float) -> list[str | None]:
        """The answers given on a site between two moments, in order."""
        with self._lock:
            return [a for t, s, a in self._given if s == site_id and since <= t <= until]

    def forget(self, site_id: str, until: float) -> None:
        """Forget the answers given on a site up to `until`."""
        with self._lock:
            self._given = [(t, s, a) for t, s, a in self._given if s != site_id or t > until]


class SpokenLog:
    """The Runtime listener: what the skill published, stamped when it was handed to paho."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[tuple[float, Spoken]] = []
        """(time.monotonic() right after the publish call, what was published), in order."""

    def __call__(self, spoken: Spoken) -> None:
        """Record one clip (called by Output right after publishing it)."""
        now = time.monotonic()
        with self._lock:
            self.items.append((now, spoken))

    def for_site(self, site_id: str = SITE, since: float = 0.0) -> list[tuple[float, Spoken]]:
        """What was published for a site at or after `since`."""
        with self._lock:
            return [(t, s) for t, s in self.items if s.site_id == site_id and t >= since]

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self.items.clear()

    def forget(self, site_id: str, until: float) -> None:
        """Forget what was published for a site up to `until` (long runs stay small)."""
        with self._lock:
            self.items = [(t, s) for t, s in self.items if s.site_id != site_id or t > until]


# --- Memory ---------------------------------------------------------------------------------


def _status_mib(field_name: str) -> float:
    """One memory line of /proc/self/status (e.g. VmRSS), in MiB; NaN when unreadable."""
    return pid_mib("self", field_name)


def pid_mib(pid: int | str, field_name: str) -> float:
    """One memory line of /proc/<pid>/status (e.g. VmRSS), in MiB; NaN when unreadable."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1]) / 1024
    return math.nan


def rss_mib() -> float:
    """Resident memory of this process now (VmRSS), MiB."""
    return _status_mib("VmRSS")


def own_peak_mib() -> float:
    """Peak resident memory since this program started (VmHWM), MiB.

    Not ru_maxrss: a child started with fork keeps its parent's peak across exec.
    """
    return _status_mib("VmHWM")


# --- Statistics and Markdown ---------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float, digits: int = 1) -> str:
    """Seconds as milliseconds text; an em dash for NaN."""
    return "—" if math.isnan(seconds) else f"{seconds * 1000:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    """A table cell for a target check."""
    return "yes" if ok else "**NO**"


# --- The machine ---------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mosquitto_version() -> str:
    binary = find_mosquitto()
    if binary is None:
        return "not installed"
    try:
        done = subprocess.run(
            [str(binary), "-h"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].strip() if first else "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> list[tuple[str, str]]:
    """Facts about the machine and software the numbers were measured on."""
    return [
        ("Date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", _cpu_model()),
        ("Cores", str(os.cpu_count() or "?")),
        ("Kernel", platform.release()),
        ("Python", platform.python_version()),
        ("paho-mqtt", _version("paho-mqtt")),
        ("piper-tts", _version("piper-tts")),
        ("onnxruntime", _version("onnxruntime")),
        ("Broker", _mosquitto_version()),
        ("Network", f"loopback only ({LOOPBACK})"),
    ]


def _system_cpu() -> tuple[float, float]:
    """(busy, steal) CPU-seconds of the whole machine since boot, from /proc/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:]
        values = [int(v) for v in fields]
        idle = values[3] + values[4]  # idle + iowait
        steal = values[7] if len(values) > 7 else 0
        return (sum(values[:8]) - idle - steal) / ticks, steal / ticks
    return math.nan, math.nan


@dataclass
class CpuMeter:
    """Who used the CPU while a benchmark ran: this process, other processes, the hypervisor.

    Other programs on the machine (a test run, a build) make every number here worse; the
    results say how busy the machine was so that a bad number can be told from a busy box.
    """

    began: float = 0.0
    """Monotonic time of start()."""
    own: float = 0.0
    """This process's CPU-seconds at start(), then used since."""
    busy: float = 0.0
    """The machine's busy CPU-seconds at start(), then used since."""
    steal: float = 0.0
    """CPU-seconds the hypervisor took at start(), then taken since."""
    seconds: float = 0.0
    """Wall-clock seconds between start() and stop()."""

    def start(self) -> Self:
        """Take the first reading."""
        self.began = time.monotonic()
        self.own = time.process_time()
        self.busy, self.steal = _system_cpu()
        return self

    def stop(self) -> Self:
        """Take the second reading; the fields become differences."""
        self.seconds = time.monotonic() - self.began
        self.own = time.process_time() - self.own
        busy, steal = _system_cpu()
        self.busy, self.steal = busy - self.busy, steal - self.steal
        return self

    @property
    def others(self) -> float:
        """Average cores used by other processes (mosquitto included) while measuring."""
        if self.seconds <= 0 or math.isnan(self.busy):
            return math.nan
        return max(0.0, self.busy - self.own) / self.seconds

    def describe(self) -> str:
        """One line for the results."""
        if self.seconds <= 0:
            return "not measured"
        return (
            f"this process {self.own / self.seconds:.2f} cores, other processes "
            f"{self.others:.2f} cores, hypervisor steal {self.steal / self.seconds:.2f} cores "
            f"(averages over {self.seconds:.0f} s)"
        )
