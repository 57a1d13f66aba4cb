"""The embedded broker: both kinds round-trip, listen on loopback only, stop cleanly."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from support.mqtt_recorder import MqttRecorder, RecorderFactory

import skill.hermes.broker
import skill.hermes.mosquitto
from skill.base.errors import BrokerError
from skill.hermes.broker import EmbeddedBroker
from skill.hermes.mosquitto import find_mosquitto, free_port
from skill.voice.audio import wav_bytes

Kind = Literal["mosquitto", "amqtt"]
KINDS = [pytest.param("mosquitto", marks=pytest.mark.mosquitto), "amqtt"]


def _listening_on(port: int) -> list[str]:
    """Local addresses of the TCP sockets in LISTEN state on `port` (from /proc/net)."""
    found: list[str] = []
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():  # tcp6 is absent when IPv6 is disabled
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if fields[3] != "0A" or int(port_hex, 16) != port:
                continue
            if len(address) == 8:
                found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
            else:
                found.append(f"[ipv6 {address}]")
    return found


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 held by another listener for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _fake_mosquitto(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-mosquitto"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_through_each_kind(kind: Kind) -> None:
    wav = wav_bytes(bytes(range(256)) * 800, 16000)  # ~200 KB of binary audio
    with EmbeddedBroker(prefer=kind) as broker:
        assert (broker.kind, broker.host, broker.running) == (kind, "127.0.0.1", True)
        with (
            MqttRecorder(broker.host, broker.port, ["aftercare/test/#"]) as listener,
            MqttRecorder(broker.host, broker.port, []) as sender,
        ):
            sender.publish("aftercare/test/small", "hello")
            sender.publish("aftercare/test/wav", wav)
            assert listener.wait_for("aftercare/test/small").payload == b"hello"
            received = listener.wait_for("aftercare/test/wav")
        assert received.payload == wav
        assert not received.retain


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_async_context_manager(kind: Kind) -> None:
    async with EmbeddedBroker(prefer=kind) as broker:
        listener = MqttRecorder(broker.host, broker.port, ["a/#"])
        sender = MqttRecorder(broker.host, broker.port, [])
        # Blocking MQTT calls run on a worker thread; the broker never needs this loop.
        await asyncio.to_thread(listener.start)
        await asyncio.to_thread(sender.start)
        await asyncio.to_thread(sender.publish, "a/b", b"x")
        received = await asyncio.to_thread(listener.wait_for, "a/b")
        await asyncio.to_thread(sender.close)
        await asyncio.to_thread(listener.close)
        assert received.payload == b"x"
    assert not broker.running
    assert not _accepts(broker.port)


@pytest.mark.parametrize("kind", KINDS)
def test_listens_on_loopback_only(kind: Kind) -> None:
    with EmbeddedBroker(prefer=kind) as broker:
        assert _listening_on(broker.port) == ["127.0.0.1"]


@pytest.mark.parametrize("kind", KINDS)
def test_stop_frees_the_port_and_start_reuses_it(kind: Kind) -> None:
    broker = EmbeddedBroker(prefer=kind)
    broker.start()
    port = broker.port
    live = MqttRecorder(broker.host, broker.port, ["x/#"]).start()  # connected while stopping
    broker.stop()
    broker.stop()  # a second stop is harmless
    live.disconnect()

    assert not broker.running
    assert _listening_on(port) == []
    assert not _accepts(port)
    assert not [t for t in threading.enumerate() if t.name.startswith("aftercare-amqtt")]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))

    broker.start()
    try:
        assert broker.port == port
        with (
            MqttRecorder(broker.host, broker.port, ["x/#"]) as listener,
            MqttRecorder(broker.host, broker.port, []) as sender,
        ):
            sender.publish("x/y", b"back")
            assert listener.wait_for("x/y").payload == b"back"
    finally:
        broker.stop()
        live.close()


def test_broker_fixture_restarts_on_same_port(
    broker: EmbeddedBroker, recorder_factory: RecorderFactory
) -> None:
    listener = recorder_factory(broker, "r/#")
    sender = recorder_factory(broker)
    port = broker.port
    broker.stop()
    broker.start()
    assert broker.port == port
    listener.wait_subscribed(timeout=10)  # paho reconnects after at most ~1 s
    sender.wait_subscribed(timeout=10)
    sender.publish("r/after", b"1")
    assert listener.wait_for("r/after").payload == b"1"


@pytest.mark.parametrize("kind", KINDS)
def test_taken_port_is_a_clear_broker_error(kind: Kind, taken_port: int) -> None:
    broker = EmbeddedBroker(port=taken_port, prefer=kind)
    with pytest.raises(BrokerError, match=rf"127\.0\.0\.1:{taken_port} is already in use"):
        broker.start()
    assert not broker.running


def test_auto_port_moves_when_taken_before_first_start() -> None:
    broker = EmbeddedBroker(prefer="amqtt")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", broker.port))
        holder.listen()
        with broker:
            assert broker.port != holder.getsockname()[1]
            assert _accepts(broker.port)


def test_mosquitto_exit_reports_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_mosquitto(tmp_path, 'echo "Error: Unable to open config file" >&2\nexit 3')
    monkeypatch.setattr(skill.hermes.broker, "find_mosquitto", lambda: fake)
    broker = EmbeddedBroker(prefer="mosquitto")
    with pytest.raises(BrokerError, match=r"exit code 3") as caught:
        broker.start()
    assert "Unable to open config file" in str(caught.value)
    assert not broker.running


def test_mosquitto_start_timeout_kills_it_and_reports_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "pid"
    body = f'echo $$ > {pid_file}\necho "still loading" >&2\nexec sleep 30'
    fake = _fake_mosquitto(tmp_path, body)
    monkeypatch.setattr(skill.hermes.broker, "find_mosquitto", lambda: fake)
    broker = EmbeddedBroker(prefer="mosquitto", start_timeout=0.3)
    began = time.monotonic()
    with pytest.raises(BrokerError, match=r"within 0\.3 s") as caught:
        broker.start()
    assert time.monotonic() - began < 5
    assert "still loading" in str(caught.value)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_prefer_mosquitto_without_mosquitto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(skill.hermes.broker, "find_mosquitto", lambda: None)
    with pytest.raises(BrokerError, match="apt-get install mosquitto"):
        EmbeddedBroker(prefer="mosquitto")
    assert EmbeddedBroker().kind == "amqtt"


def test_unknown_preference() -> None:
    with pytest.raises(ValueError, match="choose one of: auto, mosquitto, amqtt"):
        EmbeddedBroker(prefer="rabbitmq")  # type: ignore[arg-type]


def test_find_mosquitto_looks_on_path_then_in_sbin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = tmp_path / "bin"
    sbin = tmp_path / "sbin"
    on_path.mkdir()
    sbin.mkdir()
    monkeypatch.setenv("PATH", str(on_path))
    monkeypatch.setattr(skill.hermes.mosquitto, "_SBIN_CANDIDATES", (sbin / "mosquitto",))
    assert find_mosquitto() is None

    (sbin / "mosquitto").write_text("#!/bin/sh\n")
    (sbin / "mosquitto").chmod(0o755)
    assert find_mosquitto() == sbin / "mosquitto"

    (on_path / "mosquitto").write_text("#!/bin/sh\n")
    (on_path / "mosquitto").chmod(0o755)
    assert find_mosquitto() == on_path / "mosquitto"


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", port))


_ORPHAN_PARENT = """
import asyncio
from skill.hermes.broker import EmbeddedBroker

async def main() -> None:
    async with EmbeddedBroker(prefer="mosquitto") as broker:  # started from a worker thread
        print(broker.port, flush=True)
        await asyncio.sleep(120)

asyncio.run(main())
"""


@pytest.mark.mosquitto
def test_mosquitto_ends_when_the_process_that_started_it_is_killed() -> None:
    """`aftercare demo` killed (or its terminal closed) leaves no broker running on its own."""
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed (apt-get install mosquitto)", pytrace=False)
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_PARENT],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert parent.stdout is not None
        port = int(parent.stdout.readline())
        assert _accepts(port), "the broker did not start"
        parent.kill()  # SIGKILL: nothing of the parent runs any more, no atexit, no finally
        parent.wait()
        deadline = time.monotonic() + 5
        while _accepts(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _accepts(port), "mosquitto outlived the process that started it"
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
