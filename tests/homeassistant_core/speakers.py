# mypy: disable-error-code="import-untyped, import-not-found"
# (Home Assistant is installed in .homeassistant-venv/ only, and ships no type information.)
"""The stand-in speakers and the helpers the tests in this folder share.

Home Assistant 2024.3 (the newest for Python 3.11) has no `assist_satellite` integration
(2024.10) and no ask_question (2025.7), so both satellite services are stand-ins registered
here with the schemas of Home Assistant's assist_satellite/services.py, and ask_question
answers in the shape of its AssistSatelliteAnswer (`{"id", "sentence", "slots"}`);
media_player's two services are stand-ins with the schemas of media_player/__init__.py.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import voluptuous as vol
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    SupportsResponse,
)
from homeassistant.helpers import config_validation as cv

PACKAGE_ENV = "AFTERCARE_HA_PACKAGE"
"""Path of the generated package YAML."""
SENTENCES_ENV = "AFTERCARE_HA_SENTENCES"
"""Path of `aftercare sentences --format hassil` output."""
SITE_ENV = "AFTERCARE_HA_SITE"
"""The site id the package was generated for."""
ENTITY_ENV = "AFTERCARE_HA_ENTITY"
"""The default entity the package was generated with."""
PREFIX = "aftercare"
AUTOMATIONS = ("speak", "play", "stop", "ask")

ANNOUNCE_SCHEMA = vol.All(
    cv.make_entity_service_schema(
        {
            vol.Optional("message"): str,
            vol.Optional("media_id"): str,
            vol.Optional("preannounce", default=True): bool,
            vol.Optional("preannounce_media_id"): str,
        }
    ),
    cv.has_at_least_one_key("message", "media_id"),
)
ASK_SCHEMA = vol.All(
    vol.Schema(
        {
            vol.Required("entity_id"): cv.entity_domain("assist_satellite"),
            vol.Optional("question"): str,
            vol.Optional("question_media_id"): str,
            vol.Optional("preannounce", default=True): bool,
            vol.Optional("preannounce_media_id"): str,
            vol.Optional("answers"): [
                {
                    vol.Required("id"): str,
                    vol.Required("sentences"): vol.All(cv.ensure_list, [cv.string]),
                }
            ],
        }
    ),
    cv.has_at_least_one_key("question", "question_media_id"),
)
PLAY_MEDIA_SCHEMA = cv.make_entity_service_schema(
    {
        vol.Required("media_content_type"): cv.string,
        vol.Required("media_content_id"): cv.string,
        vol.Optional("enqueue"): cv.string,
        vol.Optional("announce"): cv.boolean,
        vol.Optional("extra", default={}): dict,
    }
)


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run these tests through tests/test_homeassistant_core.py "
            "(it writes the package and sets the environment)"
        )
    return value


SITE = os.environ.get(SITE_ENV, "")
ENTITY = os.environ.get(ENTITY_ENV, "")


def topic(name: str) -> str:
    """The package's topic <prefix>/<site>/<name>."""
    return f"{PREFIX}/{SITE}/{name}"


@dataclass
class Speakers:
    """The stand-in services, what they were called with, and what the test lets them do."""

    hass: HomeAssistant
    mqtt: Any
    """The mocked MQTT client: `async_publish` records every publish."""
    announces: list[Any] = field(default_factory=list)
    asks: list[Any] = field(default_factory=list)
    plays: list[Any] = field(default_factory=list)
    stops: list[Any] = field(default_factory=list)
    hold: asyncio.Event | None = None
    """While set to an unset Event, an announce plays until the Event is set."""
    fail: Exception | None = None
    """Raised by the next announce or ask_question (then cleared)."""
    reply: dict[str, Any] = field(default_factory=dict)
    """What ask_question answers."""
    finished_before: list[int] = field(default_factory=list)
    """For each announce: how many `finished` messages had been published when it began."""

    def published(self, name: str) -> list[dict[str, Any]]:
        """Payloads published on <prefix>/<site>/<name> (or a full topic), in order, parsed."""
        full = name if "/" in name else topic(name)
        out = []
        for args in self.mqtt.async_publish.call_args_list:
            sent_topic, payload, qos, retain = args[0]
            if sent_topic == full:
                assert (qos, retain) == (0, False), f"{full}: qos {qos}, retain {retain}"
                out.append(json.loads(payload))
        return out

    def fire(self, name: str, payload: dict[str, Any] | str) -> None:
        """Publish on <prefix>/<site>/<name>, as the skill would."""
        from pytest_homeassistant_custom_component.common import (
            async_fire_mqtt_message,
        )

        text = payload if isinstance(payload, str) else json.dumps(payload)
        async_fire_mqtt_message(self.hass, topic(name), text)

    def register(self) -> None:
        """Register the four stand-in services with Home Assistant."""
        services = self.hass.services
        services.async_register("assist_satellite", "announce", self.announce, ANNOUNCE_SCHEMA)
        services.async_register(
            "assist_satellite",
            "ask_question",
            self.ask_question,
            ASK_SCHEMA,
            supports_response=SupportsResponse.ONLY,
        )
        services.async_register("media_player", "play_media", self.play_media, PLAY_MEDIA_SCHEMA)
        services.async_register(
            "media_player", "media_stop", self.media_stop, cv.make_entity_service_schema({})
        )

    def _raise_if_failing(self) -> None:
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error

    async def announce(self, call: ServiceCall) -> None:
        """assist_satellite.announce: the satellite is busy until the clip has played."""
        self.announces.append(call)
        self.finished_before.append(len(self.published("finished")))
        self._raise_if_failing()
        for entity in call.data["entity_id"]:
            self.hass.states.async_set(entity, "responding")
        if self.hold is not None:
            await self.hold.wait()
        for entity in call.data["entity_id"]:
            self.hass.states.async_set(entity, "idle")

    async def ask_question(self, call: ServiceCall) -> dict[str, Any]:
        """assist_satellite.ask_question: answers with `reply`."""
        self.asks.append(call)
        self._raise_if_failing()
        return self.reply

    async def play_media(self, call: ServiceCall) -> None:
        """media_player.play_media."""
        self.plays.append(call)

    async def media_stop(self, call: ServiceCall) -> None:
        """media_player.media_stop."""
        self.stops.append(call)


async def until(check: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    """Let Home Assistant run until check() is true; fail naming `what` after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"still waiting for {what} after {seconds} s")
        await asyncio.sleep(0.01)


def quiet(caplog: pytest.LogCaptureFixture, *allowed: str) -> None:
    """Home Assistant logged no warning or error, except records containing one of `allowed`.

    (asyncio's slow-callback warnings, from the harness's debug loop, are not Home Assistant's.)
    """
    loud = [
        f"{record.levelname} {record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.name.startswith("homeassistant")
        and record.levelname in ("WARNING", "ERROR", "CRITICAL")
        and not any(text in record.getMessage() for text in allowed)
    ]
    assert not loud, "\n".join(loud)
