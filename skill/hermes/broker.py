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
import threading
import time
from types import TracebackType
from typing import Any, Literal, Self

from skill.base.errors import BrokerError
from skill.hermes.mosquitto import (
    LOOPBACK,
    STOP_TIMEOUT,
    Mosquitto,
    find_mosquitto,
    free_port,
    port_taken,
)

_LOGGER = logging.getLogger(__name__)


_ANONYMOUS_AUTH = "amqtt.plugins.authentication.AnonymousAuthPlugin"


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
            self._thread.join(STOP_TIMEOUT)
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
                await asyncio.wait_for(broker.shutdown(), STOP_TIMEOUT)
            except Exception as err:  # reported to the thread that called stop()
                self._stop_error = err

    def stop(self) -> None:
        """Shut amqtt down and join its thread; BrokerError if the shutdown failed."""
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            # RuntimeError: the loop closed in between, so nothing is left to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            _LOGGER.warning("amqtt did not shut down within %g s", STOP_TIMEOUT)
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
        self._backend: Mosquitto | _Amqtt | None = None

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
            if not port_taken(self.port):
                break
            if self._may_move and attempt < 2:
                self.port = free_port()
                continue
            raise BrokerError(
                f"{LOOPBACK}:{self.port} is already in use; if another MQTT broker runs "
                "there, point mqtt.host at it, otherwise choose another port"
            )
        if self._binary is not None:
            mosquitto = Mosquitto(self._binary, self.port)
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
