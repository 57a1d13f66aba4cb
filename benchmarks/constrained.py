"""Issue #15: the whole skill in a process of its own, on a Raspberry-Pi-sized share of the CPU.

Nothing here runs inside the skill's process. The benchmark starts Mosquitto on a free
loopback port, writes a config.yaml and starts ``python -m skill run --config …`` as a child
(for one core: prefixed by ``taskset -c 0`` and held by a cgroup v1 cpuset; for a quota:
a cgroup v1 ``cpu`` child, where the machine allows), and measures everything from outside
through the broker: a separate paho client in this process stamps ``online`` on
``aftercare/status``, every clip on the sites' playBytes topics and the sites' retained
states with ``time.monotonic()``. Memory and CPU
time of the skill's processes are read from /proc. Every loop is bounded in count and time;
every child is stopped (SIGTERM, then SIGKILL) and every folder removed.

Outside the process the skill's session start is unknown, so breathing cues are anchored
on themselves: lateness_i = (arrival_i - offset_i) - min_j (arrival_j - offset_j) over the
phase cues of one session (their offsets from the skill's own BreathingPlan). That is the
jitter relative to the session's best cue; a constant delay of every cue cannot be seen.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from benchmarks.cue_lateness import MAX_TARGET, NUMBER_WORDS, P99_TARGET, PATTERN
from benchmarks.harness import (
    PLAY_BYTES,
    PLAY_BYTES_ALL,
    SITE,
    STATUS_TOPIC,
    Arrival,
    Intents,
    Recorder,
    bench_config,
    bench_raw,
    data_dir,
    machine,
    ms,
    percentile,
    section_main,
    table,
    verdict,
)
from benchmarks.load import site_names
from skill.app import project_dir
from skill.assets import load_assets
from skill.breathing.plan import LEAD_IN, BreathingPlan
from skill.breathing.runner import STALE_AFTER
from skill.config.settings import Config
from skill.hermes.mosquitto import LOOPBACK, Mosquitto, find_mosquitto, free_port
from skill.room.homeassistant import state_topic
from skill.voice.chimes import CHIME_KINDS, CHIME_RATE, ChimeKind, chime_wav

log = logging.getLogger("benchmarks.constrained")
"""Not __name__: run with -m, that is __main__, outside the `benchmarks` logger."""

ROOT = Path(__file__).resolve().parent.parent
"""The checkout: the skill's child processes run here, so `python -m skill` is this tree's."""
STATE_TOPICS = state_topic("aftercare", "+")
"""Every site's retained state (activity, phase)."""
ONLINE_TWO_CORES = 1.5
"""Target: process start to `online` on two cores, cold as warm, seconds."""
ONLINE_ONE_CORE = 2.5
"""Target: the same on one core."""
FIRST_AUDIO_TARGET = 1.0
"""Target: "start breathing" to the first clip on an empty cache, one core."""
LOAD_P99_TARGET = 0.015
"""Target: 50 sites at once, p99 of the anchored lateness."""
MEMORY_TARGET = 250.0
"""Target: resident memory of the skill's processes together, MiB."""
START_TIMEOUT = 150.0
"""Seconds a start may take before it counts as failed (old cold starts on a slow core)."""
STOP_TIMEOUT = 20.0
"""Seconds a child has to exit on SIGTERM before it is killed."""
FIRST_AUDIO_TIMEOUT = 30.0
"""Seconds to wait for the first clip (and the first spoken one) after the intent."""
SESSION_SLACK = 60.0
"""Real seconds past the plan's end to wait for breathing sessions to end."""
QUIET_LIMIT = 600.0
"""Most seconds to wait for the skill's background renders to end."""
MATCH_EARLY = 0.05
"""A clip up to this much before its anchored deadline still belongs to the cue."""
MATCH_LATE = STALE_AFTER
"""…and up to this much after (the runner drops a phase cue later than that)."""
SAMPLE_EVERY = 0.2
"""Seconds between memory samples of the skill's processes."""
CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
"""Where a CPU quota is set up (cgroup v1 `cpu` controller)."""
CGROUP_CPUSET = Path("/sys/fs/cgroup/cpuset")
"""Where the skill is held to its cores (cgroup v1 `cpuset` controller)."""
CGROUP_PERIOD_US = 100_000
"""cpu.cfs_period_us of the quota cgroups."""
LOAD_KEEP_BYTES = 1024
"""What the many-site run keeps of each message: a WAV header, a whole state (small JSON)."""


# --- CPU configurations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cpu:
    """How much CPU the skill's process gets."""

    label: str
    """Shown in the results."""
    cpus: str | None = None
    """`taskset -c` list (None: every core)."""
    quota: float | None = None
    """cgroup CPU quota in cores (0.5: half of one core; None: none)."""

    @property
    def one_core(self) -> bool:
        """Pinned to a single core (the one-core targets apply)."""
        return self.cpus is not None and "," not in self.cpus and "-" not in self.cpus

    @property
    def online_target(self) -> float:
        """The start -> `online` target for this configuration."""
        return ONLINE_ONE_CORE if self.one_core else ONLINE_TWO_CORES


TWO_CORES = Cpu("2 cores")
ONE_CORE = Cpu("1 core", cpus="0")
HALF_CORE = Cpu("1 core at a 50 % quota", cpus="0", quota=0.5)


class Cgroups:
    """The skill's own v1 cgroups: a cpuset (its cores) and/or a CPU quota; removed on close.

    A cpuset, not only `taskset`: onnxruntime sets the affinity of each of its threads
    itself, which takes them out of a taskset mask, but never out of a cpuset.
    """

    def __init__(self, name: str, *, cpus: str | None, quota: float | None) -> None:
        self.paths: list[Path] = []
        self._quota: Path | None = None
        self.throttled = 0
        """Periods in which the quota held the processes back (cpu.stat nr_throttled)."""
        self.periods = 0
        """Periods in which they ran (cpu.stat nr_periods)."""
        try:
            if cpus is not None:
                path = self._make(CGROUP_CPUSET, name)
                mems = (CGROUP_CPUSET / "cpuset.mems").read_text().strip()
                (path / "cpuset.cpus").write_text(f"{cpus}\n")
                (path / "cpuset.mems").write_text(f"{mems}\n")
            if quota is not None:
                path = self._quota = self._make(CGROUP_CPU, name)
                (path / "cpu.cfs_period_us").write_text(f"{CGROUP_PERIOD_US}\n")
                (path / "cpu.cfs_quota_us").write_text(f"{round(quota * CGROUP_PERIOD_US)}\n")
        except OSError:
            self.close()
            raise

    def _make(self, controller: Path, name: str) -> Path:
        path = controller / f"aftercare-bench-{os.getpid()}-{name}"
        path.mkdir()
        self.paths.append(path)
        return path

    def wrap(self, command: Sequence[str]) -> list[str]:
        """The command, moved into the cgroups by a shell before it is exec'd."""
        if not self.paths:
            return list(command)
        moves = " && ".join(f"echo $$ > {shlex.quote(str(p / 'cgroup.procs'))}" for p in self.paths)
        return ["sh", "-c", f'{moves} && exec "$@"', "sh", *command]

    def read_stat(self) -> None:
        """Take nr_periods and nr_throttled from the quota's cpu.stat."""
        if self._quota is None:
            return
        with contextlib.suppress(OSError, ValueError):
            for line in (self._quota / "cpu.stat").read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == "nr_throttled":
                    self.throttled = int(value)
                elif name == "nr_periods":
                    self.periods = int(value)

    def close(self) -> None:
        """Remove the cgroups (their processes have ended; retried briefly)."""
        self.read_stat()
        for path in reversed(self.paths):
            for _ in range(20):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                log.warning("could not remove %s (a process is still in it)", path)
        self.paths.clear()


def cgroup_problem(*, cpus: str | None = None, quota: float | None = None) -> str | None:
    """Why such a cgroup cannot be made here (None: it can)."""
    controller = CGROUP_CPUSET if cpus is not None else CGROUP_CPU
    if not (controller / "cgroup.procs").is_file():
        return f"no cgroup v1 controller at {controller}"
    try:
        Cgroups("probe", cpus=cpus, quota=quota).close()
    except OSError as err:
        return f"cannot create a cgroup under {controller}: {err.strerror or err}"
    return None


# --- The skill's processes, seen from /proc ----------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (by /proc/*/stat ppid)."""
    parents: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = _stat(int(entry.name))
                if fields is not None:
                    parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _status_mib(pid: int, name: str) -> float:
    """One line of /proc/<pid>/status (VmRSS, VmHWM), MiB; 0 when the process is gone."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Memory:
    """Resident memory of one skill's processes, sampled while it ran."""

    rss: float = 0.0
    """Highest sampled sum of VmRSS over the processes, MiB."""
    hwm: dict[int, float] = field(default_factory=dict)
    """Each process's own peak (VmHWM) as last read, MiB."""
    processes: int = 0
    """Most processes seen at once."""

    @property
    def hwm_sum(self) -> float:
        """Sum of every process's own peak: an upper bound of their peak together."""
        return sum(self.hwm.values())

    def sample(self, pid: int) -> None:
        """Read the tree once."""
        tree = process_tree(pid)
        rss = 0.0
        for member in tree:
            rss += _status_mib(member, "VmRSS")
            peak = _status_mib(member, "VmHWM")
            if peak > 0:
                self.hwm[member] = max(peak, self.hwm.get(member, 0.0))
        self.rss = max(self.rss, rss)
        self.processes = max(self.processes, len(tree))


# --- One skill process -------------------------------------------------------------------------


def skill_config(folder: Path, port: int, sites: Sequence[str] = ()) -> dict[str, Any]:
    """The config.yaml of a benchmark skill: the fields of harness.bench_config, on Mosquitto.

    `sites` become the allowlist: without one the skill serves only the first 32 site ids
    it hears (skill.service.OPEN_SITES_MAX).
    """
    return bench_raw(folder, host=LOOPBACK, port=port, pattern=PATTERN, sites=sites)


def chime_names() -> dict[bytes, str]:
    """Every chime WAV the skill can publish -> its kind (they are deterministic)."""
    kinds = cast(tuple[ChimeKind, ...], CHIME_KINDS)
    return {chime_wav(kind, CHIME_RATE): kind for kind in kinds}


class SkillProcess:
    """`python -m skill run` as a child: started, watched from /proc, stopped, cleaned up."""

    def __init__(
        self,
        root: Path,
        name: str,
        port: int,
        cpu: Cpu,
        *,
        warm: bool,
        cgroups: Cgroups,
        sites: Sequence[str] = (),
    ) -> None:
        self.folder = data_dir(root, name, warm=warm)
        self.config = root / f"{name}.yaml"
        raw = skill_config(self.folder, port, sites)
        self.config.write_text(yaml.safe_dump(raw), encoding="utf-8")
        self.stderr = root / f"{name}.log"
        self.cpu = cpu
        self.cgroups = cgroups
        self.memory = Memory()
        self.began = 0.0
        """time.monotonic() just before the child was started."""
        self.proc: asyncio.subprocess.Process | None = None
        self._sampler: asyncio.Task[None] | None = None

    @property
    def command(self) -> list[str]:
        """The command line, with taskset and the cgroup moves in front when asked for."""
        return pinned(
            [sys.executable, "-m", "skill", "run", "--config", str(self.config)],
            self.cpu,
            self.cgroups,
        )

    @property
    def pid(self) -> int:
        """The child's pid (the skill's own: sh and taskset exec into it)."""
        if self.proc is None:
            raise RuntimeError("not started")
        return self.proc.pid

    @property
    def alive(self) -> bool:
        """The child has not exited."""
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        """Start the child and the memory sampler."""
        with self.stderr.open("wb") as errors:
            self.began = time.monotonic()
            self.proc = await asyncio.create_subprocess_exec(
                *self.command,
                cwd=ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=errors,
            )
        self._sampler = asyncio.create_task(self._sample(), name="memory-sampler")

    async def _sample(self) -> None:
        while self.alive:
            self.memory.sample(self.pid)
            await asyncio.sleep(SAMPLE_EVERY)

    def cpu_seconds(self) -> float:
        """CPU seconds the skill's processes have used so far."""
        return cpu_seconds(process_tree(self.pid)) if self.alive else math.nan

    async def wait_quiet(self, window: float = 1.0, share: float = 0.05) -> float:
        """Wait until the skill uses under `share` of a core for `window` s; seconds waited."""
        began = time.monotonic()
        while self.alive and time.monotonic() - began < QUIET_LIMIT:
            used = self.cpu_seconds()
            await asyncio.sleep(window)
            if self.cpu_seconds() - used < window * share:
                return time.monotonic() - began
        raise TimeoutError(f"the skill was still busy (or gone) after {QUIET_LIMIT:.0f} s")

    def log_tail(self) -> str:
        """The end of what the child wrote to stderr."""
        with contextlib.suppress(OSError):
            text = self.stderr.read_text(encoding="utf-8", errors="replace").strip()
            return text[-600:] or "(nothing on stderr)"
        return "(no log)"

    async def stop(self) -> int | None:
        """SIGTERM, wait, SIGKILL after STOP_TIMEOUT; the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            self.memory.sample(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                log.warning("the skill ignored SIGTERM for %.0f s; killing it", STOP_TIMEOUT)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        return proc.returncode


def pinned(command: Sequence[str], cpu: Cpu, cgroups: Cgroups) -> list[str]:
    """`taskset -c` in front (when cores are given), then the moves into the cgroups."""
    inner = list(command)
    if cpu.cpus is not None:
        inner = ["taskset", "-c", cpu.cpus, *inner]
    return cgroups.wrap(inner)


def cgroups_for(cpu: Cpu, name: str, *, cpuset: bool) -> Cgroups:
    """The cgroups a configuration needs (a cpuset only where the machine allows one)."""
    return Cgroups(name, cpus=cpu.cpus if cpuset else None, quota=cpu.quota)


@contextlib.asynccontextmanager
async def skill_process(
    root: Path,
    name: str,
    port: int,
    cpu: Cpu,
    *,
    warm: bool,
    cpuset: bool,
    sites: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> AsyncIterator[SkillProcess]:
    """A started skill child (in its cgroups, if any); always stopped and removed.
    `extra`: more top-level sections for its config.yaml."""
    cgroups = cgroups_for(cpu, name, cpuset=cpuset)
    skill: SkillProcess | None = None
    try:
        skill = SkillProcess(root, name, port, cpu, warm=warm, cgroups=cgroups, sites=sites)
        if extra:
            raw = yaml.safe_load(skill.config.read_text(encoding="utf-8"))
            skill.config.write_text(yaml.safe_dump({**raw, **extra}), encoding="utf-8")
        await skill.start()
        yield skill
    finally:
        if skill is not None:
            await skill.stop()
            shutil.rmtree(skill.folder, ignore_errors=True)
        cgroups.close()


async def wait_arrival(
    recorder: Recorder,
    skill: SkillProcess,
    topic_filter: str,
    since: float,
    within: float,
    test: Callable[[Arrival], bool] | None = None,
) -> Arrival:
    """The first matching arrival after `since`; short waits, so a dead child is noticed."""
    give_up = time.monotonic() + within
    while True:
        arrival = await asyncio.to_thread(recorder.wait_for, topic_filter, since, 0.1, test)
        if arrival is not None:
            return arrival
        if not skill.alive:
            raise RuntimeError(f"the skill exited ({skill.log_tail()})")
        if time.monotonic() > give_up:
            raise TimeoutError(f"nothing on {topic_filter} within {within:.0f} s")


async def wait_online(recorder: Recorder, skill: SkillProcess) -> float:
    """Seconds from starting the child to `online` on aftercare/status at the subscriber."""
    arrival = await wait_arrival(
        recorder, skill, STATUS_TOPIC, skill.began, START_TIMEOUT, lambda a: a.payload == b"online"
    )
    return arrival.t - skill.began


def _activity(arrival: Arrival) -> str:
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return str(json.loads(arrival.payload).get("activity"))
    return "?"


async def wait_sessions_end(
    recorder: Recorder, skill: SkillProcess, sites: Sequence[str], since: float, within: float
) -> bool:
    """Wait until every site's state went to breathing and back to idle; False on time-out."""
    give_up = time.monotonic() + within
    waiting = set(sites)
    while waiting and skill.alive and time.monotonic() < give_up:
        await asyncio.sleep(0.5)
        for site in list(waiting):
            states = [
                _activity(a) for a in recorder.arrivals(state_topic("aftercare", site), since)
            ]
            if "breathing" in states and "idle" in states[states.index("breathing") :]:
                waiting.discard(site)
    return not waiting


# --- Anchoring cues from outside -----------------------------------------------------------------


def phase_offsets(config: Config, minutes: int) -> list[float]:
    """Plan offsets of every phase cue of `minutes` of PATTERN, as the skill plans them."""
    assets = load_assets(config, project_dir())
    plan = BreathingPlan.build(
        assets.patterns[PATTERN],
        minutes=minutes,
        style=config.breathing.style,
        lead_in=LEAD_IN,
        speech_seconds=assets.speech_seconds,
    )
    return [cue.offset for cue in plan.cues if cue.kind == "phase"]


@dataclass
class Anchored:
    """One session's phase cues, paired with arrivals and anchored on the best one."""

    site: str
    """Site id."""
    planned: int
    """Phase cues in the plan."""
    latenesses: list[float] = field(default_factory=list)
    """Per heard phase cue: (arrival - offset) - the smallest such value, seconds."""
    chimes: int = 0
    """Heard phase cues that were chimes."""
    voices: int = 0
    """Heard phase cues that were speech."""
    others: int = 0
    """Clips paired with no phase cue (opening line, closing line, a soft chime)."""

    @property
    def heard(self) -> int:
        """Phase cues with a clip."""
        return len(self.latenesses)

    @property
    def missing(self) -> int:
        """Phase cues without a clip."""
        return self.planned - self.heard


def _pairs(offsets: Sequence[float], times: Sequence[float], shift: float) -> list[tuple[int, int]]:
    """(cue, arrival) pairs: each cue's nearest arrival within the window around offset + shift."""
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    for cue, offset in enumerate(offsets):
        due = offset + shift
        at = bisect.bisect_left(times, due - MATCH_EARLY)
        best: int | None = None
        for index in range(at, len(times)):
            if times[index] > due + MATCH_LATE:
                break
            if index not in used and (
                best is None or abs(times[index] - due) < abs(times[best] - due)
            ):
                best = index
        if best is not None:
            used.add(best)
            pairs.append((cue, best))
    return pairs


def anchor(
    site: str,
    offsets: Sequence[float],
    arrivals: Sequence[Arrival],
    chimes: Mapping[bytes, str],
) -> Anchored:
    """Pair the phase cues with arrivals by nearest deadline and anchor them on the best cue.

    The shift (the skill's unknown session start on this clock) is the one under which
    the most cues find a clip, the earliest of those; then lateness_i = (arrival_i -
    offset_i) - min_j (arrival_j - offset_j) over the paired cues.
    """
    ordered = sorted(arrivals, key=lambda a: a.t)
    times = [a.t for a in ordered]
    result = Anchored(site, len(offsets))
    best: tuple[int, float] | None = None
    for t in times:
        for offset in offsets:
            shift = t - offset
            count = len(_pairs(offsets, times, shift))
            if best is None or count > best[0] or (count == best[0] and shift < best[1]):
                best = (count, shift)
    if best is None:
        result.others = len(ordered)
        return result
    pairs = _pairs(offsets, times, best[1])
    raw = [times[i] - offsets[cue] for cue, i in pairs]
    base = min(raw)
    result.latenesses = [value - base for value in raw]
    for _, index in pairs:
        if ordered[index].payload in chimes:
            result.chimes += 1
        else:
            result.voices += 1
    result.others = len(ordered) - len(pairs)
    return result


# --- Results ---------------------------------------------------------------------------------


@dataclass
class Start:
    """One start of the skill's process."""

    online: float
    """Process start to `online` at the subscriber, seconds."""
    first_audio: float | None = None
    """Cold starts: "start breathing" (published at `online`) to the first clip, seconds."""
    first_voice: float | None = None
    """…to the first clip that is not a chime."""
    first_chime: str | None = None
    """The first clip's chime kind, when it was a chime."""


@dataclass
class Cell:
    """Every start on one CPU configuration and one cache state."""

    cpu: Cpu
    """How much CPU."""
    warm: bool
    """Every clip on disk (True) or an empty data_dir."""
    starts: list[Start] = field(default_factory=list)
    """The runs that came online."""
    failures: list[str] = field(default_factory=list)
    """Runs that did not."""
    audio_failures: list[str] = field(default_factory=list)
    """Cold runs that came online but played nothing (or nothing spoken) in time."""
    skipped: str | None = None
    """Why the cell was not run at all."""
    throttled: str = ""
    """Quota cells: how often the quota held the skill back."""
    memory: list[Memory] = field(default_factory=list)
    """Per run."""
    seconds: float = 0.0
    """Wall-clock time of the cell."""

    @property
    def label(self) -> str:
        """CPU and cache."""
        return f"{self.cpu.label}, {'warm' if self.warm else 'cold'}"

    def online(self) -> list[float]:
        """Start -> `online` of every run, seconds."""
        return [s.online for s in self.starts]

    @property
    def ok(self) -> bool:
        """Every run came online within the target (a quota has none: False)."""
        return (
            self.cpu.quota is None
            and bool(self.starts)
            and not self.failures
            and max(self.online()) <= self.cpu.online_target
        )


@dataclass
class CueRun:
    """The cold one-core session while the background renders run."""

    minutes: int
    """Plan length."""
    online: float = math.nan
    """Its start -> `online`, seconds."""
    result: Anchored | None = None
    """The paired phase cues."""
    wall: float = 0.0
    """Intent to the session's end, seconds."""
    skill_cpu: float = math.nan
    """The skill's CPU use over the session, in cores."""
    ended: bool = False
    """The state went back to idle in time."""
    error: str | None = None
    """Why it was not measured."""
    memory: Memory = field(default_factory=Memory)
    """The skill's memory."""

    @property
    def ok(self) -> bool:
        """p99 and max within target, nothing missing."""
        result = self.result
        return (
            result is not None
            and result.heard > 0
            and result.missing == 0
            and percentile(result.latenesses, 99) <= P99_TARGET
            and max(result.latenesses) <= MAX_TARGET
        )


@dataclass
class LoadRun:
    """Many sites breathing at once in one skill process."""

    sites: int
    """Sites asked for."""
    minutes: int
    """Plan length of each session."""
    warmup: float = math.nan
    """Seconds after `online` until the skill was quiet."""
    results: list[Anchored] = field(default_factory=list)
    """One per site that was measured."""
    wall: float = 0.0
    """First intent to every session's end, seconds."""
    skill_cpu: float = math.nan
    """The skill's CPU use over the sessions, in cores."""
    ended: bool = False
    """Every site's state went back to idle in time."""
    error: str | None = None
    """Why it was not measured."""
    memory: Memory = field(default_factory=Memory)
    """The skill's memory."""
    c_results: list[Anchored] = field(default_factory=list)
    """The same clips stamped by a C subscriber (mosquitto_sub), when it is installed."""

    def latenesses(self) -> list[float]:
        """Every anchored phase cue of every site."""
        return [value for r in self.results for value in r.latenesses]

    def c_latenesses(self) -> list[float]:
        """The same, as the C subscriber stamped them."""
        return [value for r in self.c_results for value in r.latenesses]

    @property
    def missing(self) -> int:
        """Phase cues without a clip, all sites (sites never measured count whole)."""
        return sum(r.missing for r in self.results)

    @property
    def ok(self) -> bool:
        """p99 within target, nothing missing, every site measured."""
        values = self.latenesses()
        return (
            bool(values)
            and len(self.results) == self.sites
            and self.missing == 0
            and percentile(values, 99) <= LOAD_P99_TARGET
        )


@dataclass
class Imports:
    """Import time of the entry point and the voice's load, each in fresh processes."""

    importtime: list[float] = field(default_factory=list)
    """`-X importtime` cumulative time of skill.cli, seconds."""
    wall: list[float] = field(default_factory=list)
    """Wall time of `python -c "import skill.cli"`, seconds."""
    bare: list[float] = field(default_factory=list)
    """Wall time of `python -c pass` (the interpreter alone), seconds."""
    voice: list[dict[str, float]] = field(default_factory=list)
    """Per fresh process: import, construct, first_sentence, ready (construct + first), wall."""


@dataclass(frozen=True)
class Settings:
    """How much to run."""

    runs: int = 5
    """Starts per CPU configuration and cache state."""
    cell_budget: float = 30.0
    """Seconds after which a cell starts no further run (slow cold starts)."""
    cpus: tuple[Cpu, ...] = (TWO_CORES, ONE_CORE, HALF_CORE)
    """CPU configurations of the startup table."""
    cue_minutes: int = 2
    """Length of the cold one-core breathing session."""
    load_sites: int = 50
    """Sites breathing at once."""
    load_minutes: int = 2
    """Length of each of their sessions."""
    import_runs: int = 5
    """Fresh processes for the import times."""
    voice_runs: int = 3
    """Fresh processes for the voice load."""


QUICK = Settings(
    runs=2,
    cell_budget=25.0,
    cue_minutes=1,
    load_sites=20,
    load_minutes=1,
    import_runs=3,
    voice_runs=2,
)
"""A short run for trying it out (a few minutes)."""


@dataclass
class Report:
    """The benchmark's results."""

    settings: Settings
    """What was asked for."""
    facts: list[tuple[str, str]] = field(default_factory=list)
    """CPU model, cores, quota availability."""
    cells: list[Cell] = field(default_factory=list)
    """Startup cells, in order."""
    cue: CueRun | None = None
    """The cold one-core session."""
    load: LoadRun | None = None
    """Many sites at once."""
    imports: Imports = field(default_factory=Imports)
    """Import and voice load times."""
    prepare: float = math.nan
    """Seconds spent making sure the persistent clip cache is complete."""
    prepare_memory: Memory = field(default_factory=Memory)
    """The preparing skill's memory (it renders what is missing)."""
    failures: list[str] = field(default_factory=list)
    """What went wrong outside the cells."""
    seconds: float = 0.0
    """Wall-clock time of the benchmark."""

    def memories(self) -> list[tuple[str, list[Memory]]]:
        """Memory samples by where they were taken."""
        rows = [(c.label, c.memory) for c in self.cells if c.memory]
        rows.append(("warming the clip cache (renders what is missing)", [self.prepare_memory]))
        if self.cue is not None:
            rows.append(("cold one-core session", [self.cue.memory]))
        if self.load is not None:
            rows.append((f"{self.load.sites} sites at once", [self.load.memory]))
        return [(label, found) for label, found in rows if any(m.rss > 0 for m in found)]

    @property
    def peak_memory(self) -> float:
        """Highest sampled resident memory of any skill's processes together, MiB."""
        return max((m.rss for _, found in self.memories() for m in found), default=math.nan)

    def cold_one_core_first_audio(self) -> list[float]:
        """First clips after "start breathing" on cold one-core starts (no quota)."""
        return [
            s.first_audio
            for c in self.cells
            if not c.warm and c.cpu.one_core and c.cpu.quota is None
            for s in c.starts
            if s.first_audio is not None
        ]

    def targets(self) -> list[list[str]]:
        """Rows of the Targets table: target, holds, where."""
        rows: list[list[str]] = []
        for cpu_target, one_core in ((ONLINE_TWO_CORES, False), (ONLINE_ONE_CORE, True)):
            cells = [
                c
                for c in self.cells
                if c.cpu.one_core == one_core and c.cpu.quota is None and c.skipped is None
            ]
            rows.append(
                [
                    f"whole process: start → `online` ≤ {cpu_target:g} s on "
                    f"{'one core' if one_core else 'two cores'}, cold as warm",
                    verdict(bool(cells) and all(c.ok for c in cells)),
                    "; ".join(
                        f"{c.label}: max {ms(max(c.online(), default=math.nan), 0)} ms"
                        + (f" ({len(c.failures)} failed)" if c.failures else "")
                        for c in cells
                    )
                    or "not run",
                ]
            )
        first = self.cold_one_core_first_audio()
        silent = sum(
            len(c.audio_failures)
            for c in self.cells
            if not c.warm and c.cpu.one_core and c.cpu.quota is None
        )
        rows.append(
            [
                f'"start breathing" → first audio ≤ {FIRST_AUDIO_TARGET:g} s, empty cache, '
                "one core",
                verdict(bool(first) and max(first) <= FIRST_AUDIO_TARGET and not silent),
                f"{len(first)} runs, max {ms(max(first, default=math.nan), 0)} ms",
            ]
        )
        cue = self.cue
        cue_result = cue.result if cue is not None else None
        cue_values = cue_result.latenesses if cue_result is not None else []
        rows.append(
            [
                "cold one-core session during background renders: cue p99 ≤ 10 ms, max ≤ 25 ms "
                "(anchored), none missing",
                verdict(cue is not None and cue.ok),
                f"p99 {ms(percentile(cue_values, 99), 1)} ms, max "
                f"{ms(max(cue_values, default=math.nan), 1)} ms, "
                f"{cue_result.missing if cue_result is not None else '?'} missing",
            ]
        )
        load = self.load
        values = load.latenesses() if load is not None else []
        rows.append(
            [
                f"{self.settings.load_sites} sites at once, one core, separate process: p99 ≤ "
                f"{LOAD_P99_TARGET * 1000:.0f} ms (anchored), none missing",
                verdict(load is not None and load.ok),
                f"p99 {ms(percentile(values, 99), 1)} ms, "
                f"{load.missing if load is not None else '?'} missing",
            ]
        )
        peak = self.peak_memory
        rows.append(
            [
                f"skill's processes together ≤ {MEMORY_TARGET:.0f} MiB resident",
                verdict(not math.isnan(peak) and peak <= MEMORY_TARGET),
                f"peak {peak:.0f} MiB",
            ]
        )
        return rows

    @property
    def ok(self) -> bool:
        """Every target holds."""
        return all(row[1] == "yes" for row in self.targets())


# --- Measurements ----------------------------------------------------------------------------


class Bench:
    """What the measurements share: the folder, the broker, intents, chimes, the report."""

    def __init__(self, root: Path, port: int, report: Report, *, cpuset: bool) -> None:
        self.root = root
        self.cpuset = cpuset
        """One core is held by a cpuset cgroup (not only by taskset)."""
        self.port = port
        self.report = report
        self.config = bench_config(root / "intents", pattern=PATTERN, broker=(LOOPBACK, port))
        self.intents = Intents(self.config)
        self.chimes = chime_names()
        self.keep = max(len(wav) for wav in self.chimes) + 1  # enough to tell a chime apart
        self._count = 0

    def name(self, what: str) -> str:
        """A unique folder name."""
        self._count += 1
        return f"{what}-{self._count:02d}"

    def recorder(self, topics: Sequence[str], keep: int | None = None) -> Recorder:
        """A subscriber on this benchmark's Mosquitto."""
        return Recorder(LOOPBACK, self.port, topics, keep_bytes=keep or self.keep)

    def is_chime(self, arrival: Arrival) -> bool:
        """The clip is one of the skill's chimes."""
        return arrival.payload in self.chimes


async def prepare_cache(bench: Bench) -> None:
    """Run the skill once on the persistent clip cache until quiet (renders what is missing)."""
    began = time.monotonic()
    with bench.recorder([STATUS_TOPIC]) as recorder:
        async with skill_process(
            bench.root, "prepare", bench.port, TWO_CORES, warm=True, cpuset=False
        ) as skill:
            await wait_online(recorder, skill)
            await skill.wait_quiet()
            bench.report.prepare_memory = skill.memory
    bench.report.prepare = time.monotonic() - began


async def startup_cell(bench: Bench, cpu: Cpu, *, warm: bool, runs: int, budget: float) -> Cell:
    """Up to `runs` starts (fewer once `budget` seconds have gone), each stopped at once.

    Cold starts also publish "start breathing" the moment `online` arrives and wait for
    the first clip and the first spoken clip before stopping.
    """
    cell = Cell(cpu, warm)
    began = time.monotonic()
    with bench.recorder([STATUS_TOPIC, PLAY_BYTES]) as recorder:
        for index in range(runs):
            if index > 0 and time.monotonic() - began > budget:
                log.info("constrained: %s: budget spent after %d runs", cell.label, index)
                break
            log.info("constrained: %s, run %d of %d", cell.label, index + 1, runs)
            recorder.clear()
            name = bench.name("warm" if warm else "cold")
            try:
                async with skill_process(
                    bench.root, name, bench.port, cpu, warm=warm, cpuset=bench.cpuset
                ) as skill:
                    cell.memory.append(skill.memory)  # filled in while it runs
                    start = Start(await wait_online(recorder, skill))
                    cell.starts.append(start)
                    if not warm:
                        try:
                            await _first_audio(bench, recorder, skill, start)
                        except (TimeoutError, RuntimeError) as err:
                            cell.audio_failures.append(str(err))
                    if cpu.quota is not None:
                        skill.cgroups.read_stat()
                        groups = skill.cgroups
                        cell.throttled = f"{groups.throttled} of {groups.periods} periods"
            except (TimeoutError, RuntimeError, OSError) as err:
                cell.failures.append(f"{type(err).__name__}: {err}")
    cell.seconds = time.monotonic() - began
    return cell


async def _first_audio(bench: Bench, recorder: Recorder, skill: SkillProcess, start: Start) -> None:
    sent = recorder.publish(*bench.intents.message("start breathing"))
    first = await wait_arrival(recorder, skill, PLAY_BYTES, sent, FIRST_AUDIO_TIMEOUT)
    start.first_audio = first.t - sent
    start.first_chime = bench.chimes.get(first.payload)
    voice = await wait_arrival(
        recorder,
        skill,
        PLAY_BYTES,
        sent,
        FIRST_AUDIO_TIMEOUT - (first.t - sent),
        lambda a: not bench.is_chime(a),
    )
    start.first_voice = voice.t - sent


async def cue_run(bench: Bench, minutes: int) -> CueRun:
    """A cold one-core start, a session asked for at `online`, anchored cue lateness."""
    run = CueRun(minutes)
    offsets = phase_offsets(bench.config, minutes)
    sentence = f"{NUMBER_WORDS[minutes]} minutes of {PATTERN} breathing"
    with bench.recorder([STATUS_TOPIC, PLAY_BYTES, STATE_TOPICS]) as recorder:
        async with skill_process(
            bench.root, "cue", bench.port, ONE_CORE, warm=False, cpuset=bench.cpuset
        ) as skill:
            try:
                run.online = await wait_online(recorder, skill)
                sent = recorder.publish(*bench.intents.message(sentence))
                used = skill.cpu_seconds()
                log.info("constrained: cold one-core session of %d min", minutes)
                run.ended = await wait_sessions_end(
                    recorder, skill, [SITE], sent, offsets[-1] + SESSION_SLACK
                )
                run.wall = time.monotonic() - sent
                run.skill_cpu = (skill.cpu_seconds() - used) / run.wall
                await asyncio.sleep(0.3)  # the last clips are on their way
                clips = recorder.arrivals(PLAY_BYTES, since=sent)
                run.result = anchor(SITE, offsets, clips, bench.chimes)
            except (TimeoutError, RuntimeError) as err:
                run.error = str(err)
            run.memory = skill.memory
    return run


class CStamps:
    """mosquitto_sub beside the Python recorder, stamping every clip's arrival itself.

    Every phase boundary of 50 sites is a burst of about 2 MB; the recorder (paho, in this
    process, on the same two cores) takes its own time over each message, which shows as
    lateness that is not the skill's. A subscriber in C sees the same clips with less of
    its own: both are reported. Its stamps are wall-clock seconds; anchoring (per session,
    on its best cue) removes the clock's offset. Nothing happens without mosquitto_sub
    (Debian: mosquitto-clients)."""

    def __init__(self, port: int, path: Path) -> None:
        self._port = port
        self._path = path
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> CStamps:
        binary = shutil.which("mosquitto_sub")
        if binary is not None:
            command = [binary, "-h", LOOPBACK, "-p", str(self._port), "-t", PLAY_BYTES_ALL]
            with self._path.open("wb") as out:
                self._process = subprocess.Popen([*command, "-F", "@s.@N %t"], stdout=out)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(5.0)

    def read(self) -> dict[str, float]:
        """Topic -> arrival (seconds) of every clip so far; {} without mosquitto_sub."""
        if self._process is None or not self._path.exists():
            return {}
        stamps: dict[str, float] = {}
        for line in self._path.read_text(encoding="utf-8").splitlines():
            stamp, _, topic = line.partition(" ")
            with contextlib.suppress(ValueError):
                stamps[topic.strip()] = float(stamp)
        return stamps


async def load_run(bench: Bench, sites: int, minutes: int) -> LoadRun:
    """One warm one-core skill, quiet first, then `sites` sessions asked for back to back."""
    run = LoadRun(sites, minutes)
    offsets = phase_offsets(bench.config, minutes)
    names = site_names(sites)
    sentence = f"{NUMBER_WORDS[minutes]} minutes of {PATTERN} breathing"
    messages = [bench.intents.message(sentence, site) for site in names]  # recognized beforehand
    topics = [STATUS_TOPIC, PLAY_BYTES_ALL, STATE_TOPICS]
    with (
        bench.recorder(topics, keep=LOAD_KEEP_BYTES) as recorder,
        CStamps(bench.port, bench.root / "c-stamps.txt") as c_stamps,
    ):
        async with skill_process(
            bench.root, "load", bench.port, ONE_CORE, warm=True, cpuset=bench.cpuset, sites=names
        ) as skill:
            try:
                await wait_online(recorder, skill)
                log.info("constrained: waiting until the skill is quiet")
                run.warmup = await skill.wait_quiet()
                used = skill.cpu_seconds()
                log.info("constrained: %d sites at once, %d min", sites, minutes)
                sent = time.monotonic()
                for topic, payload in messages:
                    recorder.publish(topic, payload)
                run.ended = await wait_sessions_end(
                    recorder, skill, names, sent, offsets[-1] + SESSION_SLACK
                )
                run.wall = time.monotonic() - sent
                run.skill_cpu = (skill.cpu_seconds() - used) / run.wall
                await asyncio.sleep(0.3)
                stamped = c_stamps.read()
                for site in names:
                    clips = recorder.arrivals(f"hermes/audioServer/{site}/playBytes/+", since=sent)
                    run.results.append(anchor(site, offsets, clips, {}))
                    if stamped:
                        c_clips = [
                            dataclasses.replace(clip, t=stamped[clip.topic])
                            for clip in clips
                            if clip.topic in stamped
                        ]
                        run.c_results.append(anchor(site, offsets, c_clips, {}))
            except (TimeoutError, RuntimeError) as err:
                run.error = str(err)
            run.memory = skill.memory
    return run


_VOICE_PROBE = """
import json, time
began = time.perf_counter()
from skill.config.settings import VoiceSettings
from skill.voice.piper import PiperSynthesizer
imported = time.perf_counter()
voice = PiperSynthesizer(VoiceSettings())
built = time.perf_counter()
voice.synthesize("Breathe in.")
rendered = time.perf_counter()
print(json.dumps({"import": imported - began, "construct": built - imported,
                  "first_sentence": rendered - built, "ready": rendered - imported}))
"""
"""Runs in a fresh process: the voice's load, until its first sentence is rendered."""


async def _python(
    bench: Bench, code: str, flags: Sequence[str] = (), within: float = 120.0
) -> tuple[float, str, str]:
    """`python [flags] -c code` in the checkout on one core: wall s, stdout, stderr."""
    cgroups = cgroups_for(ONE_CORE, bench.name("probe"), cpuset=bench.cpuset)
    try:
        began = time.monotonic()
        child = await asyncio.create_subprocess_exec(
            *pinned([sys.executable, *flags, "-c", code], ONE_CORE, cgroups),
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(child.communicate(), within)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()
            raise
        wall = time.monotonic() - began
    finally:
        cgroups.close()
    if child.returncode != 0:
        raise RuntimeError(f"python -c failed ({child.returncode}): {err.decode()[-300:]}")
    return wall, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


_IMPORTTIME = re.compile(r"import time:\s*\d+\s*\|\s*(\d+)\s*\|\s*skill\.cli\s*$", re.MULTILINE)


async def measure_imports(bench: Bench, settings: Settings) -> None:
    """Import time of skill.cli and the voice's load, each in fresh one-core processes."""
    found = bench.report.imports
    try:
        for _ in range(settings.import_runs):
            found.bare.append((await _python(bench, "pass"))[0])
            found.wall.append((await _python(bench, "import skill.cli"))[0])
            _, _, err = await _python(bench, "import skill.cli", ("-X", "importtime"))
            match = _IMPORTTIME.search(err)
            if match is not None:
                found.importtime.append(int(match.group(1)) / 1e6)
        for _ in range(settings.voice_runs):
            wall, out, _ = await _python(bench, _VOICE_PROBE)
            values = json.loads(out.strip().splitlines()[-1])
            found.voice.append({**{k: float(v) for k, v in values.items()}, "wall": wall})
    except (TimeoutError, RuntimeError, ValueError, IndexError) as err:
        bench.report.failures.append(f"imports: {err}")


# --- The benchmark ---------------------------------------------------------------------------


async def run(settings: Settings = Settings()) -> Report:
    """Every measurement of issue #15 (bounded: a few minutes quick, under ten in full)."""
    began = time.monotonic()
    report = Report(settings)
    binary = find_mosquitto()
    if binary is None:
        raise RuntimeError("this benchmark needs mosquitto (apt install mosquitto)")
    problem = cgroup_problem(quota=HALF_CORE.quota)
    pin_problem = cgroup_problem(cpus=ONE_CORE.cpus)
    facts = dict(machine())
    report.facts = [
        ("CPU", facts.get("CPU", "?")),
        ("Cores on the machine", facts.get("Cores", "?")),
        (
            "One core",
            f"cgroup v1 cpuset.cpus = {ONE_CORE.cpus} and taskset -c {ONE_CORE.cpus}"
            if pin_problem is None
            else f"taskset -c {ONE_CORE.cpus} only ({pin_problem}): onnxruntime's threads "
            "set their own affinity and may run on other cores",
        ),
        (
            "CPU quota",
            "cgroup v1 cpu.cfs_quota_us" if problem is None else f"not possible: {problem}",
        ),
        ("Broker", facts.get("Broker", "?")),
    ]
    root = Path(tempfile.mkdtemp(prefix="aftercare-bench-constrained-"))
    broker: Mosquitto | None = None
    try:
        port = free_port()
        broker = Mosquitto(binary, port)
        broker.wait_ready(10.0)
        bench = Bench(root, port, report, cpuset=pin_problem is None)
        log.info("constrained: import and voice load times")
        await measure_imports(bench, settings)
        log.info("constrained: preparing the clip cache")
        try:
            await prepare_cache(bench)
        except (TimeoutError, RuntimeError) as err:
            report.failures.append(f"preparing the clip cache: {err}")
        for cpu in settings.cpus:
            for warm in (True, False):
                if cpu.quota is not None and problem is not None:
                    report.cells.append(Cell(cpu, warm, skipped=problem))
                    continue
                report.cells.append(
                    await startup_cell(
                        bench, cpu, warm=warm, runs=settings.runs, budget=settings.cell_budget
                    )
                )
        report.cue = await cue_run(bench, settings.cue_minutes)
        report.load = await load_run(bench, settings.load_sites, settings.load_minutes)
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(root, ignore_errors=True)
    report.seconds = time.monotonic() - began
    return report


# --- Markdown --------------------------------------------------------------------------------


def _spread(values: Sequence[float], digits: int = 0) -> list[str]:
    """runs, median, min, max (ms)."""
    return [
        str(len(values)),
        ms(percentile(values, 50), digits),
        ms(min(values, default=math.nan), digits),
        ms(max(values, default=math.nan), digits),
    ]


def _seconds(values: Sequence[float], digits: int = 2) -> list[str]:
    """runs, median, min, max (s)."""
    if not values:
        return ["0", "—", "—", "—"]
    return [str(len(values))] + [
        f"{v:.{digits}f}" for v in (percentile(values, 50), min(values), max(values))
    ]


def _startup_table(report: Report) -> str:
    rows: list[list[str]] = []
    for cell in report.cells:
        target = (
            f"≤ {cell.cpu.online_target * 1000:.0f}" if cell.cpu.quota is None else "— (stress)"
        )
        if cell.skipped is not None:
            cache = "warm" if cell.warm else "cold"
            rows.append([cell.cpu.label, cache, "0", "—", "—", "—", target, cell.skipped])
            continue
        note = f"{len(cell.failures)} failed" if cell.failures else ""
        if cell.throttled:
            note = ", ".join(filter(None, [note, f"throttled in {cell.throttled}"]))
        holds = verdict(cell.ok) if cell.cpu.quota is None else "—"
        rows.append(
            [
                cell.cpu.label,
                "warm" if cell.warm else "cold",
                *_spread(cell.online()),
                target,
                holds + (f" ({note})" if note else ""),
            ]
        )
    header = ["CPU", "cache", "runs", "median ms", "min ms", "max ms", "target ms", "holds"]
    return table(header, rows)


def _first_audio_table(report: Report) -> str:
    rows: list[list[str]] = []
    for cell in report.cells:
        if cell.warm or not cell.starts:
            continue
        first = [s.first_audio for s in cell.starts if s.first_audio is not None]
        voice = [s.first_voice for s in cell.starts if s.first_voice is not None]
        chimes = [s.first_chime for s in cell.starts if s.first_chime is not None]
        applies = cell.cpu.one_core and cell.cpu.quota is None
        silent = f" ({len(cell.audio_failures)} failed)" if cell.audio_failures else ""
        rows.append(
            [
                cell.cpu.label,
                f"{len(first)}{silent}",
                *_spread(first)[1:],
                f"{len(chimes)}" + (f" ({', '.join(sorted(set(chimes)))})" if chimes else ""),
                *_spread(voice)[1:],
                verdict(bool(first) and max(first) <= FIRST_AUDIO_TARGET and not silent)
                if applies
                else "—",
            ]
        )
    header = [
        "CPU (cold)",
        "runs",
        "first clip median ms",
        "min ms",
        "max ms",
        "first clip a chime",
        "first voice clip median ms",
        "min ms",
        "max ms",
        f"≤ {FIRST_AUDIO_TARGET * 1000:.0f} ms (one core)",
    ]
    return table(header, rows)


def _anchored_cells(result: Anchored | None) -> list[str]:
    if result is None:
        return ["—"] * 8
    values = result.latenesses
    return [
        str(result.planned),
        str(result.heard),
        f"{result.chimes} / {result.voices}",
        str(result.missing),
        str(result.others),
        ms(percentile(values, 50), 2),
        ms(percentile(values, 99), 2),
        ms(max(values, default=math.nan), 2),
    ]


def _cue_table(cue: CueRun) -> str:
    header = [
        "session",
        "online ms",
        "phase cues",
        "heard",
        "chimes / voice",
        "missing",
        "other clips",
        "median ms",
        "p99 ms",
        "max ms",
        "skill CPU",
        f"p99 ≤ {P99_TARGET * 1000:.0f}, max ≤ {MAX_TARGET * 1000:.0f}, none missing",
    ]
    row = [
        f"{cue.minutes} min, cold, {ONE_CORE.label} ({cue.wall:.0f} s)",
        ms(cue.online, 0),
        *_anchored_cells(cue.result),
        f"{cue.skill_cpu:.1%}" if not math.isnan(cue.skill_cpu) else "—",
        verdict(cue.ok),
    ]
    return table(header, [row])


def _load_table(load: LoadRun) -> str:
    values = load.latenesses()
    worst = max(
        (r for r in load.results if r.latenesses),
        key=lambda r: percentile(r.latenesses, 99),
        default=None,
    )
    header = [
        "sites",
        "session",
        "quiet after ms",
        "phase cues",
        "heard",
        "missing",
        "other clips",
        "median ms",
        "p99 ms",
        "max ms",
        "worst site p99 / max ms",
        "skill CPU",
        f"p99 ≤ {LOAD_P99_TARGET * 1000:.0f}, none missing",
    ]
    row = [
        f"{len(load.results)} of {load.sites}",
        f"{load.minutes} min, warm, {ONE_CORE.label} ({load.wall:.0f} s)",
        ms(load.warmup, 0),
        str(sum(r.planned for r in load.results)),
        str(len(values)),
        str(load.missing),
        str(sum(r.others for r in load.results)),
        ms(percentile(values, 50), 2),
        ms(percentile(values, 99), 2),
        ms(max(values, default=math.nan), 2),
        f"{worst.site}: {ms(percentile(worst.latenesses, 99), 1)} / {ms(max(worst.latenesses), 1)}"
        if worst is not None
        else "—",
        f"{load.skill_cpu:.1%}" if not math.isnan(load.skill_cpu) else "—",
        verdict(load.ok),
    ]
    rows = [row]
    c_values = load.c_latenesses()
    if c_values:
        c_ok = (
            len(load.c_results) == load.sites
            and sum(r.missing for r in load.c_results) == 0
            and percentile(c_values, 99) <= LOAD_P99_TARGET
        )
        c_row = ["the same clips, stamped by mosquitto_sub (C)", *["" for _ in row[1:]]]
        c_row[4] = str(len(c_values))
        c_row[5] = str(sum(r.missing for r in load.c_results))
        c_row[7:10] = [
            ms(percentile(c_values, 50), 2),
            ms(percentile(c_values, 99), 2),
            ms(max(c_values), 2),
        ]
        c_row[-1] = verdict(c_ok)
        rows.append(c_row)
    return table(header, rows)


def _memory_table(report: Report) -> str:
    rows = [
        [
            label,
            str(len(found)),
            f"{max(m.rss for m in found):.0f}",
            f"{max(m.hwm_sum for m in found):.0f}",
            str(max(m.processes for m in found)),
        ]
        for label, found in report.memories()
    ]
    header = ["skill process(es) during", "runs", "peak RSS MiB", "peak VmHWM MiB", "processes"]
    return table(header, rows)


def _imports_table(imports: Imports) -> str:
    voice = imports.voice
    rows = [
        ["`python -c pass` (the interpreter alone), wall", *_seconds(imports.bare)],
        ['`python -c "import skill.cli"`, wall', *_seconds(imports.wall)],
        ["`-X importtime`: skill.cli cumulative", *_seconds(imports.importtime)],
        ["voice: import skill.voice.piper", *_seconds([v["import"] for v in voice])],
        ["voice: PiperSynthesizer(VoiceSettings())", *_seconds([v["construct"] for v in voice])],
        ['voice: first sentence ("Breathe in.")', *_seconds([v["first_sentence"] for v in voice])],
        [
            "voice: constructed until first sentence rendered",
            *_seconds([v["ready"] for v in voice]),
        ],
        ["voice probe process, wall", *_seconds([v["wall"] for v in voice])],
    ]
    return table(["fresh process, core 0", "runs", "median s", "min s", "max s"], rows)


def markdown(report: Report) -> str:
    """The results as Markdown."""
    settings = report.settings
    parts = [
        "## Whole process on a small CPU (issue #15)",
        "The skill runs as `python -m skill run --config …` in a process of its own, on "
        "Mosquitto on 127.0.0.1; everything is measured from this separate process through "
        "the broker (a paho subscriber, `time.monotonic()`) and from /proc. *1 core*: "
        "`taskset -c 0` and a cgroup v1 cpuset holding only core 0 (onnxruntime sets its "
        "threads' affinity itself, which escapes taskset alone); Mosquitto and this process "
        "are not pinned. *Quota*: also a cgroup v1 `cpu` child with `cpu.cfs_quota_us` / "
        f"`cpu.cfs_period_us` = {HALF_CORE.quota:g} of {CGROUP_PERIOD_US} µs. *Warm*: the "
        "data_dir's cache/ holds every clip (the persistent benchmark cache); *cold*: an "
        "empty data_dir.",
        table(["", ""], [[k, v] for k, v in report.facts]),
        "### Process start → `online`",
        "From just before the child is started to the retained `online` on "
        f"`{STATUS_TOPIC}` arriving at the subscriber (connected beforehand). Up to "
        f"{settings.runs} runs per row; a row starts no further run once "
        f"{settings.cell_budget:.0f} s have gone (slow cold starts).",
        _startup_table(report),
        '### "start breathing" → first audio, empty cache',
        'Every cold start above publishes the NluIntent of "start breathing" the moment '
        "`online` arrives; first clip = the first playBytes on the site, whatever it is; "
        "first voice clip = the first that is not a chime (chimes are told apart by their "
        "bytes: the skill's chime WAVs are deterministic). The target applies to one core.",
        _first_audio_table(report),
    ]
    cue = report.cue
    if cue is not None:
        parts += [
            "### Cue lateness during the background renders, one core",
            f'A cold start on one core; "{NUMBER_WORDS[cue.minutes]} minutes of {PATTERN} '
            'breathing" published the moment `online` arrives, so the session runs while the '
            "skill still renders in the background. Every clip on the site is stamped; the "
            "phase cues of the plan (the skill's own `BreathingPlan`, computed here) are paired "
            "with clips by nearest deadline under the shift that pairs the most of them, and "
            "anchored on the best one: lateness = (arrival - offset) - min over the session's "
            "cues of (arrival - offset). **This is jitter relative to the best cue; a constant "
            "delay of every cue cannot be seen from outside.** A cue counts as heard whether "
            f"its clip is a chime or speech; *missing* = no clip within {MATCH_LATE:g} s of its "
            "anchored deadline; *other clips* = the opening and closing lines (and any soft "
            "chime). Skill CPU: its processes' CPU time over the session, in cores.",
            _cue_table(cue),
        ]
        if cue.error:
            parts.append(f"Not measured: {cue.error}")
        elif not cue.ended:
            parts.append("The session's state did not return to idle in time.")
    load = report.load
    if load is not None:
        parts += [
            f"### {load.sites} sites at once, one core",
            "A warm start on one core; once the skill is quiet (its processes under 5 % of a "
            "core for a second, read from /proc/<pid>/stat), every site's NluIntent "
            "(recognized beforehand) is published back to back. Per site, the phase cues are "
            "paired and anchored as above; the columns are over every site.",
            _load_table(load),
        ]
        if load.error:
            parts.append(f"Not measured: {load.error}")
        elif not load.ended:
            parts.append("Not every site's state returned to idle in time.")
    parts += [
        "### Memory of the skill's processes",
        f"Every {SAMPLE_EVERY:g} s during every run: the skill and all its descendants "
        "(/proc/*/stat), VmRSS summed (*peak RSS*: the highest sum), and each process's own "
        "VmHWM summed (an upper bound of their peak together; it catches a peak between "
        f"samples). Target: ≤ {MEMORY_TARGET:.0f} MiB.",
        _memory_table(report),
        "### Import and voice load",
        "Fresh processes on core 0 (as *1 core*), in the checkout. The voice probe times the "
        "import of the voice module, `PiperSynthesizer(VoiceSettings())` and its first sentence "
        "(the constructor may become lazy: *constructed until first sentence rendered* is "
        "the number that stays comparable).",
        _imports_table(report.imports),
    ]
    notes = (
        [f"Clip cache prepared in {report.prepare:.0f} s."]
        if not math.isnan(report.prepare)
        else []
    )
    failures = [*report.failures] + [
        f"{c.label}: {f}" for c in report.cells for f in (*c.failures, *c.audio_failures)
    ]
    if failures:
        notes.append("Failures: " + "; ".join(failures))
    notes.append(f"Benchmark wall time: {report.seconds:.0f} s.")
    parts.append(" ".join(notes))
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    """python -m benchmarks.constrained [--quick]: print the Markdown section."""

    async def section(quick: bool) -> str:
        return markdown(await run(QUICK if quick else Settings()))

    section_main(argv, __doc__, "fewer, shorter runs (a few minutes)", section)


if __name__ == "__main__":
    main()
