"""The zero-setup MQTT broker behind `aftercare demo` and `mqtt.host: embedded`.

Mosquitto when it is installed (a child process listening on loopback only); otherwise
amqtt, in-process but on its own thread and event loop, so a caller that blocks its own
loop (or a test waiting synchronously for a message) never stalls the broker.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self

from skill.base.errors import BrokerError

_LOGGER = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
"""The only address the embedded broker ever listens on."""

_SBIN_CANDIDATES = (Path("/usr/sbin/mosquitto"), Path("/usr/local/sbin/mosquitto"))
_STOP_TIMEOUT = 3.0
_ANONYMOUS_AUTH = "amqtt.plugins.authentication.AnonymousAuthPlugin"
_POLL_INTERVAL = 0.005
_WATCH = 'read -r _; kill -TERM "$1" 2>/dev/null'
"""Waits for the end of its stdin (the skill's end), then stops mosquitto ($1: its pid)."""

# Quiet by design: mosquitto's log goes to a file in the private temp dir and is only
# shown when it fails to start. No persistence: the demo broker forgets everything.
_MOSQUITTO_CONF = """\
listener {port} {host}
allow_anonymous true
persistence false
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
log_type notice
"""


def find_mosquitto() -> Path | None:
    """The mosquitto binary on PATH, or in /usr/sbin or /usr/local/sbin; None if absent."""
    found = shutil.which("mosquitto")
    if found:
        return Path(found)
    for candidate in _SBIN_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _port_taken(port: int) -> bool:
    """True if a broker could not bind 127.0.0.1:port (another program listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Same option the brokers use, so a port left in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def _accepts(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.25):
            return True
    except OSError:
        return False


class _Mosquitto:
    """One mosquitto child process with a generated config in a private temp dir."""

    def __init__(self, binary: Path, port: int) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="aftercare-mosquitto-"))
        config = self._dir / "mosquitto.conf"
        config.write_text(_MOSQUITTO_CONF.format(port=port, host=LOOPBACK), encoding="utf-8")
        self._log_path = self._dir / "mosquitto.log"
        # A file, not a pipe: nobody reads a pipe while mosquitto runs, and a full pipe
        # would block the broker.
        self._log: IO[bytes] = self._log_path.open("wb")
        self._proc = subprocess.Popen(
            [str(binary), "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            # Own session: Ctrl-C in the terminal reaches the skill, which then stops
            # mosquitto in order, instead of killing the broker under a running skill.
            start_new_session=True,
        )
        # When the skill dies without stopping it (killed, its terminal closed), nothing of
        # the skill runs any more; a watcher ends mosquitto then. It waits on a pipe only
        # this process holds open, so the pipe's end is the skill's death, however it
        # comes. (A parent-death signal would not do: mosquitto started as root changes
        # to its own user, and the kernel clears the signal on that change.)
        self._watcher = subprocess.Popen(
            [
                "sh",
                "-c",
                'read -r _; kill -TERM "$1" 2>/dev/null',
                "aftercare-watch",
                str(self._proc.pid),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._port = port

    def wait_ready(self, timeout: float) -> None:
        """Block until mosquitto accepts connections; BrokerError with its log if it can't."""
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                log = self.log_text()
                self.stop()
                raise BrokerError(
                    f"mosquitto could not start on {LOOPBACK}:{self._port} "
                    f"(exit code {code}); its log:\n{log}"
                )
            if _accepts(self._port):
                return
            if time.monotonic() > deadline:
                log = self.log_text()
                self.stop()
                raise BrokerError(
                    f"mosquitto did not open {LOOPBACK}:{self._port} within {timeout:g} s "
                    f"and was stopped; its log:\n{log or '(empty)'}"
                )
            time.sleep(_POLL_INTERVAL)

    def log_text(self) -> str:
        """What mosquitto wrote to stderr so far (the tail, if it is long)."""
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""
        return text[-4000:]

    def stop(self) -> None:
        """Terminate mosquitto (kill it if it ignores SIGTERM) and remove the temp dir."""
        # The watcher first, while mosquitto's pid is still its own: it must never signal
        # a pid the system has since given to another process.
        self._watcher.terminate()
        self._watcher.wait()
        if self._watcher.stdin is not None:
            self._watcher.stdin.close()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _LOGGER.warning("mosquitto ignored SIGTERM for %g s; killing it", _STOP_TIMEOUT)
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def _loopback_broker_class() -> Any:
    """amqtt's Broker plus the connection bookkeeping its 0.12.1 release lacks."""
    from amqtt.broker import Broker

    class LoopbackBroker(Broker):  # type: ignore[misc]  # amqtt ships no type hints
        def __init__(self, config: dict[str, Any]) -> None:
            super().__init__(config)
            self.client_writers: set[asyncio.StreamWriter] = set()

        async def stream_connected(
            self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
        ) -> None:
            self.client_writers.add(writer)
            try:
                await super().stream_connected(reader, writer, listener_name)
            finally:
                self.client_writers.discard(writer)
                # amqtt leaves the socket open when a client never sends CONNECT (a port
                # probe): it would leak until garbage collection (a ResourceWarning).
                writer.close()

        async def close_client_connections(self) -> None:
            """Close every client socket, so shutdown finds no reader left to cancel.

            amqtt stops a session by cancelling its reader task and waiting for it; on
            Python 3.11 the cancellation is lost when a packet (a PUBACK, say) arrives at
            that moment (asyncio.wait_for swallows it) and shutdown hangs until the client
            leaves. Closed sockets end every reader by EOF instead, as mosquitto does.
            """
            writers = list(self.client_writers)
            for writer in writers:
                writer.close()
            closing = asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
            try:
                await asyncio.wait_for(closing, 1.0)
            except TimeoutError:  # a client that stopped reading: drop its buffered data
                for writer in writers:
                    writer.transport.abort()
            await asyncio.sleep(0)  # let the readers see EOF and end their sessions

    return LoopbackBroker


class _Amqtt:
    """An amqtt broker running on its own thread and event loop."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_error: BaseException | None = None
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, name=f"aftercare-amqtt-{port}", daemon=True
        )

    def start(self, timeout: float) -> None:
        """Start the broker thread and block until amqtt listens (BrokerError otherwise)."""
        # amqtt 0.12.1 emits no warnings on import or start with the explicit plugin
        # config below (checked with -W error); a newer release that does will fail the
        # test suite (filterwarnings = error) rather than hide here.
        import amqtt.broker  # noqa: F401  (import here so the mosquitto path never pays for it)

        self._thread.start()
        try:
            self._ready.result(timeout)
        except TimeoutError as err:
            self.stop()
            raise BrokerError(
                f"amqtt did not open {LOOPBACK}:{self._port} within {timeout:g} s"
            ) from err
        except Exception as err:
            self._thread.join(_STOP_TIMEOUT)
            raise BrokerError(f"amqtt could not start on {LOOPBACK}:{self._port}: {err}") from err

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        config: dict[str, Any] = {
            # amqtt binds 0.0.0.0:1883 unless told otherwise.
            "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{self._port}"}},
            # Explicit plugins: the defaults add a $SYS publisher (with a deprecation
            # warning about psutil) and two chatty logging plugins.
            "plugins": {_ANONYMOUS_AUTH: {"allow_anonymous": True}},
        }
        try:
            broker = _loopback_broker_class()(config)
            await broker.start()
        except Exception as err:
            self._ready.set_exception(err)
            return
        self._ready.set_result(None)
        try:
            await self._stop_event.wait()
        finally:
            try:
                await broker.close_client_connections()
                await asyncio.wait_for(broker.shutdown(), _STOP_TIMEOUT)
            except Exception as err:  # reported to the thread that called stop()
                self._stop_error = err

    def stop(self) -> None:
        """Shut amqtt down and join its thread; BrokerError if the shutdown failed."""
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            # RuntimeError: the loop closed in between, so nothing is left to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)
        self._thread.join(_STOP_TIMEOUT)
        if self._thread.is_alive():
            _LOGGER.warning("amqtt did not shut down within %g s", _STOP_TIMEOUT)
        if self._stop_error is not None:
            raise BrokerError(f"amqtt shutdown failed: {self._stop_error}") from self._stop_error


class EmbeddedBroker:
    """A broker on 127.0.0.1 for the demo and tests: mosquitto if installed, else amqtt.

    Usable as `with EmbeddedBroker() as broker:` or `async with EmbeddedBroker() as
    broker:` (the blocking start and stop then run on a worker thread); `start()` again
    after `stop()` restarts it on the same port.
    """

    host: str
    """Always "127.0.0.1": the embedded broker never listens on other interfaces."""
    port: int
    """The TCP port the broker listens on (a free one when none was given)."""
    kind: str
    """Which broker runs: "mosquitto" or "amqtt"."""

    def __init__(
        self,
        *,
        port: int | None = None,
        prefer: Literal["auto", "mosquitto", "amqtt"] = "auto",
        start_timeout: float = 5.0,
    ) -> None:
        if prefer not in ("auto", "mosquitto", "amqtt"):
            raise ValueError(f"unknown broker {prefer!r}; choose one of: auto, mosquitto, amqtt")
        self._binary = find_mosquitto() if prefer != "amqtt" else None
        if prefer == "mosquitto" and self._binary is None:
            raise BrokerError(
                "mosquitto is not installed (looked on PATH, in /usr/sbin and "
                "/usr/local/sbin); install it (apt-get install mosquitto) or use amqtt"
            )
        self.host = LOOPBACK
        self.kind = "mosquitto" if self._binary is not None else "amqtt"
        self.port = free_port() if port is None else port
        self._may_move = port is None
        self._start_timeout = start_timeout
        self._backend: _Mosquitto | _Amqtt | None = None

    @property
    def running(self) -> bool:
        """True between a successful start() and stop()."""
        return self._backend is not None

    def start(self) -> None:
        """Start the broker and block until it accepts connections; BrokerError if it can't."""
        if self._backend is not None:
            return
        started = time.perf_counter()
        # A port picked by free_port() may be taken before we bind it: pick another one,
        # but only before the first start, so a restart keeps the address clients know.
        for attempt in range(3 if self._may_move else 1):
            if not _port_taken(self.port):
                break
            if self._may_move and attempt < 2:
                self.port = free_port()
                continue
            raise BrokerError(
                f"{LOOPBACK}:{self.port} is already in use; if another MQTT broker runs "
                "there, point mqtt.host at it, otherwise choose another port"
            )
        if self._binary is not None:
            mosquitto = _Mosquitto(self._binary, self.port)
            mosquitto.wait_ready(self._start_timeout)
            self._backend = mosquitto
        else:
            amqtt = _Amqtt(self.port)
            amqtt.start(self._start_timeout)
            self._backend = amqtt
        self._may_move = False
        atexit.register(self.stop)
        _LOGGER.info(
            "embedded %s broker listening on %s:%d (started in %.0f ms)",
            self.kind,
            self.host,
            self.port,
            (time.perf_counter() - started) * 1000,
        )

    def stop(self) -> None:
        """Stop the broker and free its port; does nothing if it is not running."""
        backend, self._backend = self._backend, None
        if backend is None:
            return
        atexit.unregister(self.stop)
        backend.stop()
        _LOGGER.info("embedded %s broker on %s:%d stopped", self.kind, self.host, self.port)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<EmbeddedBroker {self.kind} {self.host}:{self.port} {state}>"
