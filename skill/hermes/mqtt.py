"""A thin asyncio adapter over paho-mqtt 2.x: reconnects, resubscribes, announces itself."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import sys
import threading
from asyncio import FIRST_COMPLETED
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from skill.base.errors import BrokerError
from skill.config.settings import MqttSettings
from skill.hermes.client import new_client

log = logging.getLogger(__name__)

MAX_INCOMING_BYTES = 1024 * 1024
"""Messages larger than this are dropped in the network thread, before any parsing."""
RETRY_MAX_SECONDS = 30
"""Reconnect attempts back off from 1 s, doubling up to this."""
_LOGIN_REFUSED = frozenset(
    {"Bad user name or password", "Not authorized", "Bad authentication method", "Banned"}
)
"""CONNACK reasons that retrying cannot fix."""


@dataclass(frozen=True)
class Incoming:
    """One message received from the broker."""

    topic: str
    """Topic it arrived on."""
    payload: bytes
    """Raw payload."""
    retain: bool
    """True when the broker replayed a retained message."""


Handler = Callable[[Incoming], None]


class MqttLink:
    """Connects with backoff, subscribes on every (re)connect, publishes `online` when ready."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        host: str,
        port: int,
        subscriptions: Sequence[str],
        on_message: Handler,
        status_topic: str,
        client_id: str | None = None,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self._on_connected = on_connected
        self._settings = settings
        self._host = host
        self._port = port
        self._subscriptions = tuple(subscriptions)
        self._on_message = on_message
        self._status_topic = status_topic
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._pending_subs: set[int] = set()
        self._lock = threading.Lock()
        self._oversize_logged = False
        self._refusal: str | None = None
        """Why the broker refused us for good (credentials, ACL or TLS certificate)."""
        self._fatal = asyncio.Event()
        self._unreachable_logged = False
        self._last_failure = "no answer"
        self._online_mid: int | None = None
        self._acked: deque[int] = deque(maxlen=64)
        self.connects = 0
        """How many times the link has come up (1 + reconnects)."""
        self._client = new_client("aftercare", settings=settings, client_id=client_id)
        self._client.will_set(status_topic, b"offline", qos=1, retain=True)
        self._client.reconnect_delay_set(1, RETRY_MAX_SECONDS)
        self._client.max_queued_messages_set(200)
        if settings.tls is None and not _is_loopback(host):
            log.warning(
                "Connecting to %s without TLS: traffic on the network can be read; "
                "set mqtt.tls in config.yaml",
                host,
            )
        self._client.on_socket_open = _no_delay
        self._client.on_connect_fail = self._handle_connect_fail
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_subscribe = self._handle_subscribe
        self._client.on_publish = self._handle_publish
        self._client.on_message = self._handle_message

    @property
    def ready(self) -> asyncio.Event:
        """Set while connected and subscribed."""
        return self._ready

    @property
    def refused(self) -> bool:
        """True once the broker refused us for good (credentials, ACL or TLS certificate)."""
        return self._refusal is not None

    @property
    def address(self) -> str:
        """host:port of the broker."""
        return f"{self._host}:{self._port}"

    async def start(self) -> None:
        """Start connecting in the background; returns at once (the broker may be down)."""
        self._loop = asyncio.get_running_loop()
        log.info("Connecting to the MQTT broker at %s:%s", self._host, self._port)
        self._client.connect_async(self._host, self._port, keepalive=self._settings.keepalive)
        self._client.loop_start()

    async def wait_ready(self, seconds: float) -> None:
        """Wait until subscribed.

        BrokerError at once when the broker refused us for good (retrying cannot help),
        or after `seconds` without a connection.
        """
        ready = asyncio.ensure_future(self._ready.wait())
        fatal = asyncio.ensure_future(self._fatal.wait())
        try:
            await asyncio.wait((ready, fatal), timeout=seconds, return_when=FIRST_COMPLETED)
        finally:
            ready.cancel()
            fatal.cancel()
        if self._ready.is_set():
            return
        if self._refusal is not None:
            raise BrokerError(self._refusal)
        raise BrokerError(
            f"could not connect to the MQTT broker at {self.address} within {seconds:.0f} s "
            f"({self._last_failure}); check mqtt.host and mqtt.port, and that the broker is running"
        )

    async def stop(self) -> None:
        """Publish `offline`, disconnect and stop the network thread."""
        if self._client.is_connected():
            info = self._client.publish(self._status_topic, b"offline", qos=1, retain=True)
            await asyncio.get_running_loop().run_in_executor(None, info.wait_for_publish, 2.0)
        self._client.disconnect()
        self._client.loop_stop()
        self._ready.clear()

    def publish(
        self, topic: str, payload: bytes | str, *, retain: bool = False, qos: int = 0
    ) -> None:
        """Publish from any thread; dropped (QoS 0) while disconnected."""
        self._client.publish(topic, payload, qos=qos, retain=retain)

    # paho callbacks: they run on paho's network thread; never block, never raise.

    def _handle_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            if str(reason) in _LOGIN_REFUSED:
                self._give_up(
                    f"the MQTT broker at {self.address} refused the login ({reason}); "
                    "check mqtt.username and the password in mqtt.password_env or "
                    "mqtt.password_file, and the broker's password file and ACL"
                )
            else:
                log.warning(
                    "The MQTT broker at %s refused the connection: %s", self.address, reason
                )
            return
        self._unreachable_logged = False
        with self._lock:
            self._pending_subs.clear()
            for topic in self._subscriptions:
                result, mid = client.subscribe(topic, qos=0)
                if result == paho.MQTT_ERR_SUCCESS and mid is not None:
                    self._pending_subs.add(mid)
            if not self._pending_subs:
                self._announce(client)

    def _handle_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._lock:
            self._pending_subs.discard(mid)
            if any(code.is_failure for code in reason_codes):
                log.error("The broker refused a subscription (check its ACL)")
            if not self._pending_subs:
                self._announce(client)

    def _announce(self, client: paho.Client) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._come_online)

    def _come_online(self) -> None:
        """On the event loop: states first, then `online`; ready once the broker has it.

        Whoever sees `online` finds the skill's retained states already there, and whoever
        connects after `ready` reads `online` as a retained message.
        """
        if self._on_connected is not None:
            try:
                self._on_connected()
            except Exception:
                log.exception("Announcing the skill's state failed")
        info = self._client.publish(self._status_topic, b"online", qos=1, retain=True)
        with self._lock:  # the acknowledgement may already have come, on paho's thread
            if info.mid in self._acked:
                self._online(info.mid)
            else:
                self._online_mid = info.mid

    def _handle_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            if mid == self._online_mid:
                self._online(mid)
            else:
                self._acked.append(mid)

    def _online(self, mid: int) -> None:
        self._online_mid = None
        self._acked.clear()
        self.connects += 1
        log.info("Connected and listening (connection %d)", self.connects)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._ready.set)

    def _handle_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        # paho calls this inside its `except OSError:` block, so the error is at hand.
        error = sys.exception()
        if isinstance(error, ssl.SSLCertVerificationError):
            self._give_up(
                f"the TLS certificate of the MQTT broker at {self.address} was not accepted "
                f"({error.verify_message}); check mqtt.tls.ca_file is the CA that signed "
                "the broker's certificate and that mqtt.host is a name in it"
            )
            return
        reason = _describe(error)
        self._last_failure = reason
        if self._unreachable_logged:
            log.debug("Still cannot reach the MQTT broker at %s (%s)", self.address, reason)
            return
        self._unreachable_logged = True
        hint = "; check mqtt.tls" if isinstance(error, ssl.SSLError) else ""
        log.warning(
            "Cannot reach the MQTT broker at %s (%s); retrying with backoff up to %d s%s",
            self.address,
            reason,
            RETRY_MAX_SECONDS,
            hint,
        )

    def _give_up(self, message: str) -> None:
        """Stop reconnecting: the broker said no, and asking again will not change that."""
        self._refusal = message
        log.error("Not connecting: %s", message)
        self._client.disconnect()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fatal.set)

    def _handle_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._ready.clear)
        if reason.is_failure and self._refusal is None:
            self._unreachable_logged = True  # the line below covers the retries that follow
            log.warning("Lost the MQTT broker (%s); reconnecting with backoff", reason)

    def _handle_message(
        self, client: paho.Client, userdata: Any, message: paho.MQTTMessage
    ) -> None:
        try:
            if len(message.payload) > MAX_INCOMING_BYTES:
                if not self._oversize_logged:
                    self._oversize_logged = True
                    log.warning("Dropped a message over %d bytes", MAX_INCOMING_BYTES)
                return
            incoming = Incoming(message.topic, bytes(message.payload), bool(message.retain))
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._on_message, incoming)
        except Exception:  # the boundary: nothing may escape into paho's thread
            log.exception("Unexpected error while receiving a message")


def _no_delay(client: paho.Client, userdata: Any, sock: Any) -> None:
    """Send at once: without TCP_NODELAY, Nagle + delayed ACK hold a clip's tail ~40 ms."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _describe(error: BaseException | None) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused: is the broker running?"
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return f"unknown host: {error.strerror}"
    if error is None:
        return "unknown error"
    return str(error) or type(error).__name__


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "embedded"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
