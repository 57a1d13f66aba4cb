"""What every benchmark shares: a recording subscriber, intents, config, statistics, Markdown."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from skill.app import Runtime, project_dir
from skill.broker import LOOPBACK, find_mosquitto
from skill.config import Config, parse_config
from skill.nlu import Recognizer
from skill.output import Spoken

SITE = "bench"
"""Site id every benchmark speaks on."""
PLAY_BYTES = f"hermes/audioServer/{SITE}/playBytes/+"
"""Topic filter of every clip published for the benchmark site."""
STATUS_TOPIC = "aftercare/status"
"""Where the skill publishes its retained online/offline."""


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
    async with Runtime(bench_config(data_dir(root, "prepare", warm=True))):
        await wait_quiet()
    return time.monotonic() - began


async def wait_quiet(limit: float = 300.0, window: float = 0.5, share: float = 0.05) -> float:
    """Wait until this process uses under `share` of a core (background renders are done).

    The skill renders every fixed prompt in the background after it goes online; measuring
    "idle" before that has finished would measure Piper instead. Returns the seconds waited.
    """
    began = time.monotonic()
    while True:
        used = time.process_time()
        await asyncio.sleep(window)
        if time.process_time() - used < window * share:
            return time.monotonic() - began
        if time.monotonic() - began > limit:
            raise TimeoutError(f"the process was still busy after {limit:.0f} s")


def bench_config(data_dir: Path, *, pattern: str = "calm") -> Config:
    """The shipped defaults on an embedded loopback broker, caching clips under data_dir."""
    raw: dict[str, Any] = {
        "mqtt": {"host": "embedded", "port": 0},
        "voice": {"engine": "piper", "model": "bundled"},
        "breathing": {"pattern": pattern, "style": "voice"},
        "data_dir": str(data_dir),
        "log_level": "WARNING",
    }
    return parse_config(raw, path="<benchmark>")


class Intents:
    """Real NluIntent payloads, as rhasspy-nlu-hermes would publish them, from sentences."""

    def __init__(self, config: Config) -> None:
        self._recognizer = Recognizer.load(
            project_dir() / "intents",
            language=config.language,
            playlists=(config.cooldown.playlist, *config.cooldown.playlists),
            safewords=config.safewords,
        )

    def message(self, sentence: str, site_id: str = SITE) -> tuple[str, bytes]:
        """(topic, payload) of the intent the recognizer finds for a sentence."""
        intent = self._recognizer.recognize(sentence, site_id=site_id, session_id=None)
        if intent is None:
            raise ValueError(f"no intent matches {sentence!r}; pick a sentence from intents/en/")
        topic = str(intent.topic(intent_name=intent.intent.intent_name))
        return topic, str(intent.payload()).encode("utf-8")


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


class Recorder:
    """A separate paho client in this process: records arrivals, publishes intents.

    With `answer`, it also plays the audio server: every clip on the benchmark site is
    acknowledged with playFinished at once, so replies that wait for it go on immediately.
    """

    def __init__(
        self, host: str, port: int, topic_filters: Sequence[str], *, answer: bool = False
    ) -> None:
        self._filters = tuple(topic_filters)
        self._answer = answer
        self._host, self._port = host, port
        self._lock = threading.Condition()
        self._arrivals: list[Arrival] = []
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv311,
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._started = False

    def __enter__(self) -> Self:
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
        """Disconnect and stop the network thread (idempotent)."""
        if self._started:
            self._started = False
            self._client.disconnect()
            self._client.loop_stop()

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
        with self._lock:
            self._arrivals.append(arrival)
            self._lock.notify_all()
        if self._answer and paho.topic_matches_sub(PLAY_BYTES, message.topic):
            request_id = message.topic.rsplit("/", 1)[1]
            finished = json.dumps({"id": request_id, "siteId": SITE}).encode("utf-8")
            client.publish(f"hermes/audioServer/{SITE}/playFinished", finished, qos=0)

    def publish(self, topic: str, payload: bytes) -> float:
        """Publish at QoS 0 (as Rhasspy does); the monotonic time just before handing it over."""
        sent = time.monotonic()
        self._client.publish(topic, payload, qos=0)
        return sent

    def arrivals(self, topic_filter: str = "#", since: float = 0.0) -> list[Arrival]:
        """What arrived on matching topics at or after `since`, oldest first."""
        with self._lock:
            return [
                a
                for a in self._arrivals
                if a.t >= since and paho.topic_matches_sub(topic_filter, a.topic)
            ]

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
                        and paho.topic_matches_sub(topic_filter, arrival.topic)
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
