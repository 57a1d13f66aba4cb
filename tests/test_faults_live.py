"""Faults on a real Mosquitto: the broker restarts, is down at startup, or a client is stuck.

The skill runs in this process with the silent fake voice and compressed time, as in the
other live tests; the broker is a real Mosquitto that the test stops and starts on the same
port. What must hold:

- a restart in the middle of a breathing session or a routine: the skill reconnects,
  resubscribes, says `online` again (retained) and republishes its state; what was due
  while the broker was away is dropped, never sent in a burst afterwards; cues after the
  restart keep to the session's original schedule; "stop" still works;
- a broker that is down when the skill starts: one clear warning, no busy loop, and the
  skill comes online by itself once the broker appears;
- nothing hangs on a device topic nobody listens to, on a subscriber that stopped reading
  its socket, or on a speaker that never answers playFinished.

Timing is waited for on events and recorded messages; the only real waits are the outage
itself, the few seconds a down broker is watched for, and the short quiet windows that
prove nothing more arrives.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import itertools
import json
import logging
import socket
import statistics
import struct
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from support.fakes import (
    EARLY,
    SITE,
    TOLERANCE,
    TYPICAL,
    Bedside,
    Clip,
    FakeVoice,
    assert_follows,
    cue_text,
    ends,
    expected_clips,
    is_line,
    keys_of,
    labels,
    live_skill,
    make_config,
    make_intent,
)
from support.mqtt_recorder import MqttRecorder, Received, RecorderFactory

from skill import app
from skill.app import Runtime
from skill.breathing.runner import BreathingControl
from skill.hermes.broker import EmbeddedBroker
from skill.hermes.mosquitto import free_port
from skill.hermes.mqtt import MqttLink
from skill.voice.output import FINISH_MARGIN

pytestmark = pytest.mark.timeout(60)

STATUS = "aftercare/status"
STATE = f"aftercare/{SITE}/state"
PLAYBYTES = f"hermes/audioServer/{SITE}/playBytes/+"
PLAY_FINISHED = f"hermes/audioServer/{SITE}/playFinished"
INHALE = cue_text("inhale")
WATCH = ("hermes/#", "aftercare/#")
"""What the watcher started after a restart records (everything the skill sends)."""

OUTAGE = 1.5
"""Real seconds the broker stays down: after the skill's first retry (paho waits 1 s) and
well before its second (2 s later), so the test knows when it will be back (about 3 s
after the stop) and can subscribe a fresh watcher before that."""
PROMPT = 1.0
"""Real seconds within which a stop's confirmation must start (it takes a few ms)."""
QUIET = 0.5
"""Real seconds of listening that prove nothing more arrives."""
SEND_SKEW = 0.05
"""Real seconds two threads' stamps of one message may differ by (the skill's listener
stamps a clip just after publishing it; a recorder may stamp it a moment earlier or,
busy, later)."""

TCP_ESTABLISHED = 1
"""tcpi_state of an open connection in Linux's TCP_INFO."""

ROUTINE_ORDER = (
    "routine.opening",
    "routine.water",
    "routine.warmth",
    "routine.breathe_offer",
    "breathing.intro.calm",
)
"""The short routine's lines up to its breathing, in order."""


# --- helpers --------------------------------------------------------------------------------


def link_of(bs: Bedside) -> MqttLink:
    """The skill's MQTT link."""
    link = bs.runtime.link
    assert link is not None
    return link


def is_online(message: Received) -> bool:
    """The skill's `online` on aftercare/status."""
    return message.topic == STATUS and message.payload == b"online"


@dataclass(frozen=True)
class Outage:
    """One stop and start of the broker, seen from the test."""

    down: float
    """time.monotonic() just before the broker was stopped."""
    gone: float
    """time.monotonic() once it had stopped."""
    up: float
    """time.monotonic() once it accepted connections again."""
    online: Received
    """The skill's `online` after the restart (its arrival is when the skill was back)."""
    before: MqttRecorder
    """The recorder of the first connection (what arrived before the outage)."""


async def restart_broker(
    bs: Bedside, broker: EmbeddedBroker, recorder_factory: RecorderFactory
) -> Outage:
    """Stop the broker for OUTAGE seconds, start it again and wait until the skill is back.

    The test's own recorder reconnects with a backoff of its own and could come back after
    the skill, missing what the skill sent first. So a fresh watcher is subscribed as soon
    as the broker is up, before the skill's next retry, and replaces `bs.recorder`.
    """
    link = link_of(bs)
    assert link.connects == 1
    before = bs.recorder
    down = time.monotonic()
    await asyncio.to_thread(broker.stop)
    gone = time.monotonic()
    await asyncio.sleep(OUTAGE)  # the outage itself: a real sleep is the point here
    await asyncio.to_thread(broker.start)
    up = time.monotonic()
    watcher = await asyncio.to_thread(recorder_factory, broker, *WATCH)
    subscribed = time.monotonic()
    online = await asyncio.to_thread(watcher.wait_for, is_online, 35.0)
    assert subscribed < online.t, (
        "the skill was back before the watcher had subscribed: it could have missed clips; "
        f"the skill came back {online.t - gone:.2f} s after the stop"
    )
    bs.recorder = watcher
    return Outage(down, gone, up, online, before)


async def wait_connects(link: MqttLink, count: int, timeout: float = 2.0) -> None:
    """Wait until the link has come up `count` times (it counts just after `online`)."""
    deadline = time.monotonic() + timeout
    while link.connects < count:
        assert time.monotonic() < deadline, f"link.connects is {link.connects}, not {count}"
        await asyncio.sleep(0.01)
    assert link.connects == count


def clips_of(bs: Bedside, recorder: MqttRecorder, *, before: float) -> list[Clip]:
    """The site's clips a recorder received before a moment."""
    return [bs.decode(m) for m in recorder.messages(PLAYBYTES) if m.t < before]


def before_stop(items: list[tuple[float, str]], stop_sent: float) -> int:
    """How many of (time, text) come before the stop's confirmation (its first sentence)."""
    for index, (t, text) in enumerate(items):
        if t > stop_sent and is_line(text, "stop.done"):
            return index
    return len(items)


def assert_dropped_not_bunched(
    bs: Bedside, outage: Outage, received: list[Clip], stop_sent: float
) -> list[Clip]:
    """Clips sent while the broker was away never arrive; everything sent after it did.

    The skill's listener stamps every clip as it is published. The clips that arrived after
    the restart (up to the stop's confirmation) must be exactly the last ones published,
    in order, all of them published once the broker was up again; whatever was published
    after the skill's `online` must be among them, and something published while the skill
    was cut off must be missing. Returns those clips.
    """
    sent = [(t, s.text) for t, s in bs.spoken if s.site_id == SITE and t > outage.gone]
    sent = sent[: before_stop(sent, stop_sent)]
    received = received[: before_stop([(c.t, c.text) for c in received], stop_sent)]
    after = [(t, text) for t, text in sent if t >= outage.up]
    got = [clip.text for clip in received]
    assert len(got) <= len(after), (
        f"{len(got)} clips arrived after the restart, but only {len(after)} were published "
        f"once the broker was up: clips from the outage were sent late: {got}"
    )
    assert got == [text for _, text in after[len(after) - len(got) :]], (
        "the clips after the restart are not the last ones published, in order"
    )
    missing = after[: len(after) - len(got)]
    assert all(t < outage.online.t for t, _ in missing), (
        f"published after the skill was back, never arrived: {missing}"
    )
    assert len(got) < len(sent), (
        "all that was published while the skill was cut off arrived: sent late, or the "
        "outage hit nothing"
    )
    return received


def assert_resumes(clips: list[Clip], control: BreathingControl, scale: float) -> None:
    """Cues after a restart are a run of the plan's, each at start + offset x scale.

    The run may start anywhere in the plan (what was due during the outage is gone), but
    every clip must be the plan's next one and on time, so a cue held back and sent late,
    or several sent together, cannot pass.
    """
    assert clips, "no cue arrived after the restart"
    assert all(c.kind in ("cue", "chime") for c in clips), [c.text for c in clips]
    expected = [e for e in expected_clips(control.plan) if e.kind != "speech"]
    want = [(c.kind, c.text) for c in clips]
    best: list[float] | None = None
    for first in range(len(expected) - len(clips) + 1):
        run = expected[first : first + len(clips)]
        if [(e.kind, e.text) for e in run] != want:
            continue
        late = [c.t - (control.start + e.offset * scale) for c, e in zip(clips, run, strict=True)]
        if all(-EARLY <= x <= TOLERANCE for x in late) and (best is None or max(late) < max(best)):
            best = late
    assert best is not None, (
        "the cues after the restart are not a run of the plan's, each on time: "
        f"{[(c.text, round((c.t - control.start) / scale, 2)) for c in clips]}"
    )
    typical = statistics.median(best)
    assert typical <= TYPICAL, f"cues after the restart typically {typical * 1000:.0f} ms late"


def finished_at(recorder: MqttRecorder) -> dict[str, float]:
    """requestId -> arrival of its playFinished."""
    return {json.loads(m.payload)["id"]: m.t for m in recorder.messages(PLAY_FINISHED)}


def published(bs: Bedside, clips: list[Clip], since: float) -> list[float]:
    """When the skill published each clip (its listener's stamp, after `since`), in order.

    Arrival stamps can lag by tens of milliseconds when the machine is busy; the skill's
    own waits are measured from the moment it published.
    """
    sent = iter([(t, s) for t, s in bs.spoken if s.site_id == SITE and t > since])
    stamps = []
    for clip in clips:
        stamp = next((t for t, s in sent if (s.kind, s.text) == (clip.kind, clip.text)), None)
        assert stamp is not None, f"{clip.text!r} arrived but was never published"
        assert stamp <= clip.t + SEND_SKEW, f"{clip.text!r} arrived before it was published"
        stamps.append(stamp)
    return stamps


def assert_paced(
    bs: Bedside,
    clips: list[Clip],
    finished: dict[str, float],
    scale: float,
    *,
    since: float = 0.0,
    most: float | None = None,
) -> None:
    """Each spoken sentence waited for the one before: its playFinished, or its time-out.

    The time-out is the clip's length x scale + FINISH_MARGIN from when it was published.
    With `most`, no sentence was published more than `most` real seconds after the
    time-out of the one before. `since`: the clips were published after this moment.
    """
    stamps = published(bs, clips, since)
    for (sent, before), (next_sent, after) in itertools.pairwise(zip(stamps, clips, strict=True)):
        if before.kind != "speech" or after.kind != "speech" or _timed_note(before, after):
            continue
        timeout = sent + before.seconds * scale + FINISH_MARGIN
        answered = finished.get(before.request_id)
        if answered is not None and answered < timeout:
            assert next_sent >= answered - SEND_SKEW, (
                f"{after.text!r} went out before {before.text!r} had played"
            )
        else:
            assert next_sent >= timeout - EARLY, (
                f"{after.text!r} went out {timeout - next_sent:.2f} s before the time-out of "
                f"{before.text!r}"
            )
        if most is not None:
            assert next_sent <= timeout + most, (
                f"{after.text!r} went out {next_sent - timeout:.2f} s after the time-out of "
                f"{before.text!r}"
            )


def _timed_note(before: Clip, after: Clip) -> bool:
    """True for the later sentences of a breathing note (sent on a schedule, no waiting)."""
    shared = keys_of(before.text) & keys_of(after.text)
    return any(key.startswith("breathing.") for key in shared)


async def stop_promptly(bs: Bedside, site: str = SITE) -> tuple[float, Received]:
    """Say "stop": (when it was sent, its endSession); the confirmation starts promptly."""
    topic, payload, session = await asyncio.to_thread(bs.intent, "stop", site=site)
    sent = time.monotonic()
    await bs.publish(topic, payload)
    ended = await bs.ended(session)
    assert ended.t - sent < PROMPT, f"endSession {ended.t - sent:.2f} s after the stop"
    done = await bs.wait_clip(lambda c: c.t > ended.t and is_line(c.text, "stop.done"), site=site)
    assert done.t - ended.t < PROMPT, f"confirmation {done.t - ended.t:.2f} s after the stop"
    return sent, ended


async def assert_silent_after(bs: Bedside, ended: Received, site: str = SITE) -> None:
    """After the stop: nothing but its confirmation on the site, for a while."""
    await bs.quiet_for(QUIET)
    later = [c.text for c in bs.clips(site, after=ended.t)]
    assert later, "not even the confirmation"
    assert all(is_line(text, "stop.done") for text in later), later
    assert bs.skill.activity(site) == ""


async def retained(factory: RecorderFactory, broker: EmbeddedBroker, topic: str) -> Received:
    """The retained message on a topic, as a client connecting now gets it.

    The client starts and waits on a worker thread: the skill's cues share this event loop.
    """
    late = await asyncio.to_thread(factory, broker, topic)
    try:
        return await asyncio.to_thread(late.wait_for, lambda m: m.topic == topic and m.retain, 2.0)
    except AssertionError:
        raise AssertionError(f"nothing retained on {topic}") from None


def no_errors(caplog: pytest.LogCaptureFixture) -> None:
    """The skill logged no error (an unexpected exception is logged as one)."""
    errors = [
        r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("skill")
    ]
    assert errors == [], [r.getMessage() for r in errors]


# --- 1 and 2: the broker restarts mid-activity ------------------------------------------------


@pytest.mark.asyncio
async def test_breathing_goes_on_schedule_across_a_broker_restart(
    mosquitto: EmbeddedBroker,
    tmp_path: Path,
    recorder_factory: RecorderFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mosquitto stops for a few breaths and starts again on the same port.

    The skill reconnects (connection 2), says `online` again (retained) and republishes the
    site's state; cues due during the outage are dropped, the ones after it keep to the
    original plan, "stop" is served and nothing follows it.
    """
    scale = 0.05  # one calm breath (10 plan seconds) is half a real second
    async with live_skill(mosquitto, tmp_path, scale=scale) as bs:
        await bs.ended(await bs.say("calm breathing for five minutes"))
        control = await bs.breathing()
        await bs.wait_clips(lambda c: c.kind == "cue", 3)
        outage = await restart_broker(bs, mosquitto, recorder_factory)
        await bs.wait_clips(lambda c: c.kind == "cue", 4, timeout=5)
        await wait_connects(link_of(bs), 2)
        assert bs.skill.activity(SITE) == "breathing"
        status = await retained(recorder_factory, mosquitto, STATUS)
        assert status.payload == b"online"
        state = json.loads((await retained(recorder_factory, mosquitto, STATE)).payload)
        assert (state["activity"], state["detail"], state["paused"]) == ("breathing", "calm", False)
        assert state["phase"] in ("inhale", "exhale")
        stop_sent, ended = await stop_promptly(bs)  # served: the skill subscribed again
        await assert_silent_after(bs, ended)
        final = await retained(recorder_factory, mosquitto, STATE)
        assert json.loads(final.payload)["activity"] == "idle"

    before = clips_of(bs, outage.before, before=outage.down)
    assert_follows(before, control.start, control.plan, scale, until=outage.down)
    after = assert_dropped_not_bunched(bs, outage, bs.clips(), stop_sent)
    assert_resumes(after, control, scale)
    due = [control.start + e.offset * scale for e in expected_clips(control.plan)]
    missed = [d for d in due if outage.gone + TOLERANCE < d < outage.up]
    assert len(missed) >= 2, "hardly a cue was due while the broker was down"
    no_errors(caplog)


@pytest.mark.asyncio
async def test_a_routine_goes_on_in_order_across_a_broker_restart(
    mosquitto: EmbeddedBroker,
    tmp_path: Path,
    recorder_factory: RecorderFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ "Start aftercare", then Mosquitto restarts during the opening line.

    Sentences sent while the broker was away are lost; the routine goes on from where it
    is: the lines after the restart come in routine order, none twice, each sentence after
    the one before has played (or timed out), and "stop" ends it.
    """
    scale = 0.02
    # The speaker takes a tenth of each clip's length to play it: long enough that a
    # sentence sent without waiting for the one before would show.
    async with live_skill(
        mosquitto, tmp_path, scale=scale, speakers=[SITE], speaker_scale=0.1
    ) as bs:
        await bs.ended(await bs.say("start aftercare"))
        await bs.wait_clip(lambda c: is_line(c.text, "routine.opening"))
        outage = await restart_broker(bs, mosquitto, recorder_factory)
        # The restarted broker kept nothing, and no line of a routine changes the state:
        # only the skill announcing its states again on reconnect puts it back.
        state = json.loads((await retained(recorder_factory, mosquitto, STATE)).payload)
        assert state == {"activity": "routine", "detail": "short", "phase": None, "paused": False}
        await bs.wait_clip(lambda c: c.kind == "cue", timeout=15)  # on to its breathing
        await wait_connects(link_of(bs), 2)
        assert bs.skill.activity(SITE) == "routine"
        stop_sent, ended = await stop_promptly(bs)
        await assert_silent_after(bs, ended)
        finished = finished_at(bs.recorder)

    before = clips_of(bs, outage.before, before=outage.down)
    after = assert_dropped_not_bunched(bs, outage, bs.clips(), stop_sent)
    heard = [label for kind, label in labels(before + after, ROUTINE_ORDER) if kind == "speech"]
    where = [ROUTINE_ORDER.index(label) for label in heard]
    assert where == sorted(set(where)), f"lines out of order or twice: {heard}"
    assert len(where) >= 3, f"the routine did not go on: {heard}"
    ids = [c.request_id for c in before + after]
    assert len(ids) == len(set(ids)), "a clip arrived twice"
    spoken = [c.text for c in before + after if c.kind == "speech"]
    assert len(spoken) == len(set(spoken)), f"a sentence was said twice: {spoken}"
    assert_paced(bs, after, finished, scale, since=outage.gone)
    no_errors(caplog)


# --- 3: the broker is down at startup -------------------------------------------------------


@contextmanager
def ready_timeout(seconds: float) -> Iterator[None]:
    """Runtime's own wait for the link, shortened so its retry loop runs several times."""
    with mock.patch.object(app, "READY_TIMEOUT", seconds):
        yield


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_a_broker_down_at_startup_is_waited_for_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens on the port: one warning, no busy loop, online once a broker appears.

    For about 6 s the Runtime keeps trying without returning, crashing or spinning (CPU
    time under 10% of the wall time); the "Cannot reach the MQTT broker at host:port"
    warning comes once, however many attempts; Runtime's own retry loop (shortened to 1 s
    here) warns once and then only at DEBUG. Then Mosquitto starts on that port and the
    skill comes online within paho's backoff (at most 30 s) and serves an intent.
    """
    caplog.set_level(logging.DEBUG, logger="skill")
    port = free_port()
    address = f"127.0.0.1:{port}"
    settings = make_config("127.0.0.1", port, tmp_path / "data")
    runtime = Runtime(settings, time_scale=0.05, synthesizer=FakeVoice(), cache=False)
    ready = asyncio.Event()
    leave = asyncio.Event()

    async def serve() -> None:
        async with runtime:
            ready.set()
            await leave.wait()

    with ready_timeout(1.0):
        task = asyncio.get_running_loop().create_task(serve())
        try:
            deadline = time.monotonic() + 10
            while runtime.link is None:  # voice and assets first, then the link
                assert not task.done(), task
                assert time.monotonic() < deadline, "the Runtime never started its link"
                await asyncio.sleep(0.01)
            wall, cpu = time.monotonic(), time.process_time()
            await asyncio.wait({task}, timeout=5.5)
            used, waited = time.process_time() - cpu, time.monotonic() - wall
            assert not task.done(), "the Runtime returned or crashed while the broker was down"
            assert not ready.is_set()
            assert used < 0.5, f"{used:.2f} s of CPU in {waited:.1f} s: a busy loop"
            async with EmbeddedBroker(prefer="mosquitto", port=port) as broker:
                appeared = time.monotonic()
                await asyncio.wait_for(ready.wait(), 35)
                assert time.monotonic() - appeared <= 31, "not online within paho's backoff"
                assert runtime.link is not None
                assert runtime.link.connects == 1
                client = MqttRecorder(broker.host, broker.port, ["hermes/#"])
                await asyncio.to_thread(client.start)
                try:
                    topic, payload, session = make_intent("start breathing")
                    await asyncio.to_thread(client.publish, topic, payload)
                    await asyncio.to_thread(client.wait_for, lambda m: ends(m, session))
                    await asyncio.to_thread(client.wait_for, PLAYBYTES)
                finally:
                    await asyncio.to_thread(client.close)
                leave.set()
                await asyncio.wait_for(task, 10)
        finally:
            leave.set()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    cannot = [r for r in warnings if f"Cannot reach the MQTT broker at {address}" in r.getMessage()]
    assert len(cannot) == 1, [r.getMessage() for r in warnings]
    assert cannot[0].levelno == logging.WARNING
    assert "refused" in cannot[0].getMessage().lower(), "the warning gives no reason"
    again = [
        r
        for r in caplog.records
        if address in r.getMessage()
        and "cannot reach" in r.getMessage().lower()
        and r is not cannot[0]
    ]
    # paho tries at 0, 3 and 7 s (its 1 s wait comes before its own first retry loop).
    assert again, "one attempt only while the broker was down: the test proves nothing"
    assert {r.levelno for r in again} == {logging.DEBUG}, "repeated failures above DEBUG"
    trying = [r.levelno for r in caplog.records if "still trying" in r.getMessage()]
    assert len(trying) >= 3, "Runtime's retry loop did not run"
    assert trying == [logging.WARNING] + [logging.DEBUG] * (len(trying) - 1), trying
    about = [r.getMessage() for r in warnings if address in r.getMessage()]
    assert len(about) == 2, about  # "Cannot reach ..." and Runtime's first "still trying"
    no_errors(caplog)


# --- 4: nothing hangs --------------------------------------------------------------------------

NOBODY_PLAYER = {
    "name": "unheard-player",
    "kind": "generic",
    "play": {"topic": "nobody/player/set", "payload": '{"action": "play", "list": "{playlist}"}'},
    "stop": {"topic": "nobody/player/set", "payload": '{"action": "stop"}'},
    "volume": {"topic": "nobody/player/set", "payload": '{"volume": {volume}}'},
}
"""A generic player whose topic no client subscribes to."""


@pytest.mark.asyncio
async def test_a_device_nobody_listens_to_holds_nothing_up(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """ "Play cool-down" to a player topic without a subscriber, then "stop": prompt, and on."""
    async with live_skill(
        mosquitto, tmp_path, scale=0.05, topics=WATCH, devices=[NOBODY_PLAYER]
    ) as bs:
        await bs.ended(await bs.say("play cool down"))
        await bs.wait_clip(lambda c: is_line(c.text, "cooldown.start"))
        assert bs.skill.activity(SITE) == "cooldown"
        _, ended = await stop_promptly(bs)
        assert bs.skill.activity(SITE) == ""
        topic, payload, session = await asyncio.to_thread(bs.intent, "start breathing")
        sent = time.monotonic()
        await bs.publish(topic, payload)
        await bs.ended(session)
        cue = await bs.wait_clip(lambda c: c.t > ended.t and c.text == INHALE)
        assert cue.t - sent < 5, "the next intent was not served"
        assert bs.skill.activity(SITE) == "breathing"
        assert bs.recorder.messages("nobody/#") == []  # really nobody listening


def _mqtt_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def _packet(kind: int, body: bytes) -> bytes:
    """An MQTT packet: fixed header (type, remaining length varint) and body."""
    length, header = len(body), bytearray([kind])
    while True:
        byte, length = length % 128, length // 128
        header.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(header) + body


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "the broker closed the connection"
        data += chunk
    return data


def stuck_subscriber(broker: EmbeddedBroker, topic_filter: str) -> socket.socket:
    """A client that subscribes (QoS 0) and then never reads its socket again.

    CONNECT and SUBSCRIBE are written by hand on a plain socket with a small receive
    buffer and no keepalive, so the broker keeps it connected while its backlog grows.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect((broker.host, broker.port))
    connect = _mqtt_string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0)
    sock.sendall(_packet(0x10, connect + _mqtt_string("stuck-subscriber")))
    assert _read_exactly(sock, 4) == b"\x20\x02\x00\x00", "CONNACK"
    subscribe = struct.pack("!H", 1) + _mqtt_string(topic_filter) + b"\x00"
    sock.sendall(_packet(0x82, subscribe))
    assert _read_exactly(sock, 5) == b"\x90\x03\x00\x01\x00", "SUBACK"
    return sock


def unread_bytes(sock: socket.socket) -> int:
    """Bytes waiting in the socket's receive buffer."""
    buffer = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, buffer)
    return buffer[0]


def still_connected(sock: socket.socket) -> bool:
    """True while the TCP connection is established (the broker has not closed its end)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    return info[0] == TCP_ESTABLISHED


@pytest.mark.asyncio
async def test_a_subscriber_that_stopped_reading_delays_nobody(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """A client on hermes/audioServer/# that never reads, with megabytes queued for it.

    Meanwhile a breathing session on the bedroom follows its plan at a normal recorder,
    and "stop" there is prompt.
    """
    scale = 0.05
    async with live_skill(mosquitto, tmp_path, scale=scale) as bs:
        stuck = await asyncio.to_thread(stuck_subscriber, mosquitto, "hermes/audioServer/#")
        try:
            junk = bytes(128 * 1024)
            for number in range(32):  # 4 MB of "audio" for a guest room nobody plays
                await bs.publish(f"hermes/audioServer/guest/playBytes/junk-{number}", junk)
            assert unread_bytes(stuck) > 1024, "nothing is waiting unread at the stuck subscriber"
            await bs.ended(await bs.say("calm breathing for five minutes"))
            control = await bs.breathing()
            await bs.wait_clips(lambda c: c.kind == "cue", 8)
            _, ended = await stop_promptly(bs)
            await assert_silent_after(bs, ended)
            clips = [c for c in bs.clips() if c.t < ended.t]
            assert_follows(clips, control.start, control.plan, scale, until=ended.t)
            assert still_connected(stuck), "the broker dropped the stuck client: proves nothing"
        finally:
            stuck.close()


@pytest.mark.asyncio
async def test_a_routine_goes_on_when_no_speaker_answers(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """No bedside speaker, so no playFinished ever: each sentence waits out its time-out.

    The time-out is the clip's length x scale + FINISH_MARGIN: the opening's sentences and
    then the water line follow one another at that pace (never sooner, never much later),
    and "stop" while a sentence waits is prompt.
    """
    scale = 0.02
    async with live_skill(mosquitto, tmp_path, scale=scale) as bs:
        await bs.ended(await bs.say("start aftercare"))
        await bs.wait_clip(lambda c: is_line(c.text, "routine.water"), timeout=15)
        _, ended = await stop_promptly(bs)
        await assert_silent_after(bs, ended)
        clips = [c for c in bs.clips() if c.t < ended.t]
        assert bs.recorder.messages(PLAY_FINISHED) == []
    heard = [label for kind, label in labels(clips, ROUTINE_ORDER) if kind == "speech"]
    assert heard == ["routine.opening", "routine.water"]
    # Between two lines the routine also keeps its 20 plan seconds of silence.
    assert_paced(bs, clips, {}, scale, most=20 * scale + TOLERANCE)
