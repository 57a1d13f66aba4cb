"""Shared fixtures: real MQTT brokers on loopback and recording MQTT clients.

Test modules import the live stack from tests/support/, e.g. `from support.mqtt_recorder
import MqttRecorder` (tests/ has no __init__.py, so pytest puts this directory on sys.path).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.mqtt_recorder import BrokerAddress, MqttRecorder, RecorderFactory

from skill.hermes.broker import EmbeddedBroker
from skill.hermes.mosquitto import find_mosquitto


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the `mosquitto` fixture, so `-m mosquitto` selects it."""
    for item in items:
        uses_mosquitto = "mosquitto" in getattr(item, "fixturenames", ())
        if uses_mosquitto and item.get_closest_marker("mosquitto") is None:
            item.add_marker(pytest.mark.mosquitto)


@pytest.fixture
def mosquitto() -> Iterator[EmbeddedBroker]:
    """A real mosquitto on 127.0.0.1, a free port; `stop()` / `start()` restart it there."""
    if find_mosquitto() is None:
        # Fail, never skip: a missing broker must not turn the integration tests green.
        pytest.fail(
            "mosquitto is not installed, so the integration tests cannot run; "
            "install it (apt-get install mosquitto) or deselect them with -m 'not mosquitto'",
            pytrace=False,
        )
    with EmbeddedBroker(prefer="mosquitto") as broker:
        yield broker


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """The in-process amqtt broker on 127.0.0.1, a free port (on its own thread)."""
    with EmbeddedBroker(prefer="amqtt") as broker:
        yield broker


@pytest.fixture(
    params=[pytest.param("mosquitto", marks=pytest.mark.mosquitto), "amqtt"],
)
def broker(request: pytest.FixtureRequest) -> EmbeddedBroker:
    """Each test using this runs twice: against mosquitto and against amqtt."""
    fixture = "mosquitto" if request.param == "mosquitto" else "embedded_broker"
    started: EmbeddedBroker = request.getfixturevalue(fixture)
    return started


@pytest.fixture
def recorder_factory() -> Iterator[RecorderFactory]:
    """Make started MqttRecorders: `recorder_factory(broker, "hermes/#")`; closed at teardown."""
    recorders: list[MqttRecorder] = []

    def make(broker: BrokerAddress, *topic_filters: str, qos: int = 1) -> MqttRecorder:
        recorder = MqttRecorder(broker.host, broker.port, topic_filters, qos=qos)
        recorders.append(recorder)
        return recorder.start()

    yield make
    for recorder in recorders:  # first all, so waits for a stopped broker overlap
        recorder.disconnect()
    for recorder in reversed(recorders):
        recorder.close()
