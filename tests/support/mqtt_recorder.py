"""A real MQTT client for tests: records what arrives, publishes and waits for the broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from skill.hermes.client import new_client


class BrokerAddress(Protocol):
    """Anything that says where a broker listens (EmbeddedBroker, the fixtures)."""

    @property
    def host(self) -> str:
        """Host name or address of the broker."""
        ...

    @property
    def port(self) -> int:
        """TCP port of the broker."""
        ...


@dataclass(frozen=True)
class Received:
    """One message as the recorder received it."""

    t: float
    """time.monotonic() when paho handed the message over."""
    topic: str
    """The topic it was published on."""
    payload: bytes
    """The raw payload."""
    retain: bool
    """True if the broker delivered it as a retained message."""

    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.payload.decode("utf-8")


Predicate = Callable[[Received], bool] | str
"""A test on a message, or a topic filter (wildcards allowed) it must match."""


def _as_test(predicate: Predicate) -> Callable[[Received], bool]:
    if isinstance(predicate, str):
        topic_filter = predicate
        return lambda message: mqtt.topic_matches_sub(topic_filter, message.topic)
    return predicate


class MqttRecorder:
    """A paho 2.x client that subscribes to topic filters and records every message.

    `start()` returns once the broker has acknowledged every subscription, so nothing
    published afterwards can be missed. After a broker restart it reconnects and
    subscribes again (`wait_subscribed()` waits for that).
    """

    def __init__(
        self,
        host: str,
        port: int,
        topic_filters: Iterable[str],
        *,
        qos: int = 1,
        client_id: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.topic_filters = tuple(topic_filters)
        self.qos = qos
        self._received: list[Received] = []
        self._condition = threading.Condition()
        self._subscribed = threading.Event()
        self._pending_mid: int | None = None
        self._problem = ""
        self._client = new_client("recorder", client_id=client_id)
        self._client.reconnect_delay_set(1, 2)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._started = False

    # --- paho callbacks (network thread: record and return) -------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            self._problem = f"connect refused: {reason_code}"
            return
        if not self.topic_filters:
            self._subscribed.set()
            return
        result, mid = client.subscribe([(topic, self.qos) for topic in self.topic_filters])
        if result != mqtt.MQTT_ERR_SUCCESS:
            self._problem = f"subscribe failed: {mqtt.error_string(result)}"
        self._pending_mid = mid

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        self._subscribed.clear()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            self._problem = f"subscription refused: {refused}"
        elif mid == self._pending_mid:
            self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        received = Received(time.monotonic(), message.topic, bytes(message.payload), message.retain)
        with self._condition:
            self._received.append(received)
            self._condition.notify_all()

    # --- life cycle ----------------------------------------------------------------

    def start(self, timeout: float = 5.0) -> Self:
        """Connect and block until every subscription is acknowledged."""
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        self._started = True
        self.wait_subscribed(timeout)
        return self

    def wait_subscribed(self, timeout: float = 5.0) -> None:
        """Block until connected and subscribed (again, after a broker restart)."""
        if not self._subscribed.wait(timeout):
            detail = self._problem or "no acknowledgement"
            raise AssertionError(
                f"recorder not subscribed to {self.topic_filters} on "
                f"{self.host}:{self.port} within {timeout} s: {detail}"
            )

    def disconnect(self) -> None:
        """Start disconnecting without waiting (lets several recorders close in parallel)."""
        if self._started:
            self._client.disconnect()

    def close(self) -> None:
        """Disconnect and stop the network thread.

        Up to ~1 s if the broker is already gone: paho's thread is then asleep between
        reconnect attempts. Close recorders before stopping their broker when you can.
        """
        if self._started:
            self._started = False
            self._client.disconnect()
            self._client.loop_stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- what arrived --------------------------------------------------------------

    def messages(self, topic_filter: str = "#") -> list[Received]:
        """Everything recorded so far on topics matching `topic_filter`, oldest first."""
        with self._condition:
            return [m for m in self._received if mqtt.topic_matches_sub(topic_filter, m.topic)]

    def wait_for(self, predicate: Predicate, timeout: float = 5.0) -> Received:
        """The first recorded message that matches, waiting for it up to `timeout` s."""
        test = _as_test(predicate)
        deadline = time.monotonic() + timeout
        with self._condition:
            checked = 0
            while True:
                for message in self._received[checked:]:
                    if test(message):
                        return message
                checked = len(self._received)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    topics = [m.topic for m in self._received]
                    raise AssertionError(
                        f"no matching message within {timeout} s; "
                        f"recorded {len(topics)}: {topics[-30:]}"
                    )
                self._condition.wait(remaining)

    def wait_count(self, topic_filter: str, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until at least `count` messages matched `topic_filter`; return them."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                found = [m for m in self._received if mqtt.topic_matches_sub(topic_filter, m.topic)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{len(found)} of {count} messages on {topic_filter!r} within "
                        f"{timeout} s; recorded: {[m.topic for m in self._received][-30:]}"
                    )
                self._condition.wait(remaining)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._condition:
            self._received.clear()

    # --- sending -------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes | str = b"",
        *,
        retain: bool = False,
        qos: int = 1,
        timeout: float = 5.0,
    ) -> None:
        """Publish and block until the broker has it (PUBACK for QoS 1)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as err:
            raise AssertionError(f"publish to {topic!r} failed: {err}") from err
        if not info.is_published():
            raise AssertionError(f"publish to {topic!r} not acknowledged within {timeout} s")


class RecorderFactory(Protocol):
    """The `recorder_factory` fixture: a started recorder, closed at teardown."""

    def __call__(self, broker: BrokerAddress, *topic_filters: str, qos: int = 1) -> MqttRecorder:
        """A recorder on `broker` subscribed to `topic_filters` (none: publish only)."""
        ...
