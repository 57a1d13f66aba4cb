# mypy: disable-error-code="import-untyped, import-not-found"
# (Home Assistant is installed in .homeassistant-venv/ only, and ships no type information.)
"""Aftercare's Home Assistant package, loaded into a real Home Assistant core.

The skill's side is played by the test: it publishes on speak/play/stop/ask as the skill
would (async_fire_mqtt_message) and reads what Home Assistant publishes back (the mocked
MQTT client records it). conftest.py says what is real and what stands in.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import conversation, intent_script  # noqa: F401
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import intent
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
)

from homeassistant_core.speakers import ENTITY, SENTENCES_ENV, SITE, Speakers, quiet, until

URL = "http://192.168.1.20:12180/clip/abc123.wav"
STREAM = "http://192.168.1.20:12180/stream/breathe.wav"
PLAYER = "media_player.bedroom_speaker"
ANSWERS = [
    {"id": "AftercareFeeling", "sentences": ["i feel {feeling}", "{feeling}"]},
    {"id": "AftercareAffirm", "sentences": ["yes", "yes please"]},
]
ERROR_ANSWER: dict[str, Any] = {
    "id": "a1",
    "answer": None,
    "sentence": None,
    "slots": {},
    "error": True,
}
"""What the skill hears back for ask "a1" when nothing could be asked or heard."""


async def test_speak_announces_the_clip_then_says_finished(
    hass: HomeAssistant, speakers: Speakers, caplog: pytest.LogCaptureFixture
) -> None:
    speakers.fire("speak", {"id": "s1", "url": URL, "entity_id": ENTITY, "text": "Hello."})
    await hass.async_block_till_done()
    assert len(speakers.announces) == 1
    data = dict(speakers.announces[0].data)
    assert data == {"entity_id": [ENTITY], "media_id": URL, "preannounce": False}
    assert speakers.published("finished") == [{"id": "s1"}]
    quiet(caplog)


async def test_speak_without_an_entity_uses_the_default(
    hass: HomeAssistant, speakers: Speakers
) -> None:
    speakers.fire("speak", {"id": "s1", "url": URL})
    await hass.async_block_till_done()
    assert [call.data["entity_id"] for call in speakers.announces] == [[ENTITY]]
    assert speakers.published("finished") == [{"id": "s1"}]


async def test_speak_waits_while_the_satellite_is_busy(
    hass: HomeAssistant, speakers: Speakers
) -> None:
    hass.states.async_set(ENTITY, "responding")
    speakers.fire("speak", {"id": "s1", "url": URL, "entity_id": ENTITY})
    await asyncio.sleep(0.2)  # not block_till_done: it would wait for the wait to end
    assert speakers.announces == []
    hass.states.async_set(ENTITY, "idle")
    await hass.async_block_till_done()
    assert len(speakers.announces) == 1
    assert speakers.published("finished") == [{"id": "s1"}]


async def test_speak_stops_waiting_for_a_busy_satellite_after_30_seconds(
    hass: HomeAssistant, speakers: Speakers
) -> None:
    hass.states.async_set(ENTITY, "listening")
    speakers.fire("speak", {"id": "s1", "url": URL, "entity_id": ENTITY})
    await asyncio.sleep(0.2)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=29))
    await asyncio.sleep(0.2)
    assert speakers.announces == []
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await until(lambda: speakers.published("finished") == [{"id": "s1"}], "finished")
    assert len(speakers.announces) == 1


async def test_speech_is_queued_in_order_each_finished_before_the_next(
    hass: HomeAssistant, speakers: Speakers
) -> None:
    speakers.hold = asyncio.Event()
    for n in range(3):
        speakers.fire("speak", {"id": f"s{n}", "url": f"{URL}?{n}", "entity_id": ENTITY})
    await until(lambda: len(speakers.announces) == 1, "the first announce")
    await asyncio.sleep(0.2)
    assert len(speakers.announces) == 1, "the second clip did not wait for the first"
    speakers.hold.set()
    await until(lambda: len(speakers.published("finished")) == 3, "three finished")
    assert [call.data["media_id"] for call in speakers.announces] == [
        f"{URL}?{n}" for n in range(3)
    ]
    assert speakers.published("finished") == [{"id": f"s{n}"} for n in range(3)]
    assert speakers.finished_before == [0, 1, 2]


async def test_a_failing_announce_still_finishes_and_the_queue_goes_on(
    hass: HomeAssistant, speakers: Speakers, caplog: pytest.LogCaptureFixture
) -> None:
    speakers.fail = HomeAssistantError("satellite is busy")
    speakers.fire("speak", {"id": "s1", "url": URL, "entity_id": ENTITY})
    speakers.fire("speak", {"id": "s2", "url": URL, "entity_id": ENTITY})
    await hass.async_block_till_done()
    assert len(speakers.announces) == 2
    assert speakers.published("finished") == [{"id": "s1"}, {"id": "s2"}]
    quiet(caplog, "satellite is busy")


async def test_play_on_a_satellite_announces_the_stream(
    hass: HomeAssistant, speakers: Speakers
) -> None:
    speakers.fire("play", {"id": "p1", "url": STREAM, "entity_id": ENTITY})
    await hass.async_block_till_done()
    assert [dict(call.data) for call in speakers.announces] == [
        {"entity_id": [ENTITY], "media_id": STREAM, "preannounce": False}
    ]
    assert speakers.plays == []
    assert speakers.published("finished") == [{"id": "p1"}]


async def test_speak_on_a_media_player_announces_once_it_is_not_playing(
    hass: HomeAssistant, speakers: Speakers
) -> None:
    hass.states.async_set(PLAYER, "playing")
    speakers.fire("speak", {"id": "s1", "url": URL, "entity_id": PLAYER})
    await asyncio.sleep(0.2)  # not block_till_done: it would wait for the wait to end
    assert speakers.plays == []
    hass.states.async_set(PLAYER, "idle")
    await hass.async_block_till_done()
    assert len(speakers.plays) == 1
    data = speakers.plays[0].data
    assert data["entity_id"] == [PLAYER]
    assert (data["media_content_id"], data["announce"]) == (URL, True)
    assert speakers.announces == []
    assert speakers.published("finished") == [{"id": "s1"}]


async def test_play_on_a_media_player_plays_the_stream(
    hass: HomeAssistant, speakers: Speakers
) -> None:
    speakers.fire("play", {"id": "p1", "url": STREAM, "entity_id": PLAYER})
    await hass.async_block_till_done()
    assert len(speakers.plays) == 1
    data = speakers.plays[0].data
    assert data["entity_id"] == [PLAYER]
    assert (data["media_content_id"], data["media_content_type"]) == (STREAM, "music")
    assert speakers.announces == []
    assert speakers.published("finished") == [{"id": "p1"}]


async def test_play_does_not_wait_behind_queued_speech(
    hass: HomeAssistant, speakers: Speakers
) -> None:
    speakers.hold = asyncio.Event()
    speakers.fire("speak", {"id": "s1", "url": URL, "entity_id": ENTITY})
    speakers.fire("speak", {"id": "s2", "url": URL, "entity_id": ENTITY})
    await until(lambda: len(speakers.announces) == 1, "the first announce")
    speakers.fire("play", {"id": "p1", "url": STREAM, "entity_id": PLAYER})
    await until(lambda: speakers.published("finished") == [{"id": "p1"}], "play's finished")
    assert len(speakers.plays) == 1
    speakers.hold.set()
    await until(lambda: len(speakers.published("finished")) == 3, "every finished")


async def test_stop_stops_a_media_player_and_leaves_a_satellite_alone(
    hass: HomeAssistant, speakers: Speakers
) -> None:
    speakers.fire("stop", {"entity_id": PLAYER})
    await hass.async_block_till_done()
    assert [call.data["entity_id"] for call in speakers.stops] == [[PLAYER]]
    speakers.fire("stop", {"entity_id": ENTITY})
    speakers.fire("stop", {})
    await hass.async_block_till_done()
    assert len(speakers.stops) == 1, "a satellite's stream ends when the skill ends it"
    assert speakers.announces == []
    assert speakers.published("finished") == []


async def test_ask_asks_the_question_and_publishes_the_answer(
    hass: HomeAssistant, speakers: Speakers, caplog: pytest.LogCaptureFixture
) -> None:
    speakers.reply = {
        "id": "AftercareFeeling",
        "sentence": "i feel floaty",
        "slots": {"feeling": "floaty"},
    }
    speakers.fire("ask", {"id": "a1", "url": URL, "entity_id": ENTITY, "answers": ANSWERS})
    await hass.async_block_till_done()
    assert len(speakers.asks) == 1
    assert dict(speakers.asks[0].data) == {
        "entity_id": ENTITY,
        "question_media_id": URL,
        "preannounce": False,
        "answers": ANSWERS,
    }
    assert speakers.published("answer") == [
        {
            "id": "a1",
            "answer": "AftercareFeeling",
            "sentence": "i feel floaty",
            "slots": {"feeling": "floaty"},
        }
    ]
    quiet(caplog)


async def test_an_answer_that_matches_nothing_has_no_id(
    hass: HomeAssistant, speakers: Speakers
) -> None:
    speakers.reply = {"id": None, "sentence": "what time is it", "slots": {}}
    speakers.fire("ask", {"id": "a1", "url": URL, "entity_id": ENTITY, "answers": ANSWERS})
    await hass.async_block_till_done()
    assert speakers.published("answer") == [
        {"id": "a1", "answer": None, "sentence": "what time is it", "slots": {}}
    ]


async def test_a_failed_question_answers_with_an_error(
    hass: HomeAssistant, speakers: Speakers, caplog: pytest.LogCaptureFixture
) -> None:
    speakers.fail = HomeAssistantError("No answer from satellite")
    speakers.fire("ask", {"id": "a1", "url": URL, "entity_id": ENTITY, "answers": ANSWERS})
    await hass.async_block_till_done()
    assert len(speakers.asks) == 1
    assert speakers.published("answer") == [ERROR_ANSWER]
    quiet(caplog, "No answer from satellite")


@pytest.mark.parametrize(
    "request_",
    [
        {"id": "a1", "url": URL, "entity_id": ENTITY},
        {"id": "a1", "url": URL, "entity_id": ENTITY, "answers": "yes"},
        {"id": "a1", "url": URL, "entity_id": ENTITY, "answers": ["yes", "no"]},
        {"id": "a1", "url": URL, "entity_id": PLAYER, "answers": ANSWERS},
        {"id": "a1", "entity_id": ENTITY, "answers": ANSWERS},
    ],
    ids=["no answers", "answers not a list", "answers not mappings", "a media player", "no url"],
)
async def test_a_question_that_cannot_be_asked_answers_with_an_error(
    hass: HomeAssistant, speakers: Speakers, request_: dict[str, Any]
) -> None:
    speakers.fire("ask", request_)
    await hass.async_block_till_done()
    assert speakers.asks == []
    assert speakers.published("answer") == [ERROR_ANSWER]


@pytest.mark.parametrize("name", ["speak", "play", "ask"])
@pytest.mark.parametrize("payload", ["not json", "[1, 2]", '{"url": "x"}', '{"id": 7}'])
async def test_a_request_without_an_id_is_dropped_quietly(
    hass: HomeAssistant,
    speakers: Speakers,
    caplog: pytest.LogCaptureFixture,
    name: str,
    payload: str,
) -> None:
    speakers.fire(name, payload)
    await hass.async_block_till_done()
    assert speakers.announces == speakers.asks == speakers.plays == []
    assert not speakers.mqtt.async_publish.call_args_list
    quiet(caplog)


async def test_an_intent_is_forwarded_to_the_skill_as_hermes(
    hass: HomeAssistant, speakers: Speakers, caplog: pytest.LogCaptureFixture
) -> None:
    slots = {"pattern": {"value": "box"}, "minutes": {"value": 5}}
    await intent.async_handle(hass, "test", "AftercareBreathe", slots)
    await hass.async_block_till_done()
    [message] = speakers.published("hermes/intent/AftercareBreathe")
    assert message["siteId"] == SITE
    assert message["intent"]["intentName"] == "AftercareBreathe"
    assert {slot["slotName"]: slot["value"]["value"] for slot in message["slots"]} == {
        "pattern": "box",
        "minutes": 5,
    }
    quiet(caplog)


async def test_a_sentence_said_to_assist_reaches_the_skill(
    hass: HomeAssistant, speakers: Speakers, caplog: pytest.LogCaptureFixture
) -> None:
    """The exported custom sentences in <config>/custom_sentences/en/, through Assist."""
    folder = Path(hass.config.path("custom_sentences", "en"))
    await hass.async_add_executor_job(_copy, Path(os.environ[SENTENCES_ENV]), folder)
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    result = await conversation.async_converse(hass, "start breathing", None, Context(), "en")
    await hass.async_block_till_done()
    assert result.response.intent is not None, result.as_dict()
    assert result.response.intent.intent_type == "AftercareBreathe"
    [message] = speakers.published("hermes/intent/AftercareBreathe")
    assert (message["siteId"], message["slots"]) == (SITE, [])
    quiet(caplog)


def _copy(sentences: Path, folder: Path) -> None:
    """Put the exported sentences where Home Assistant reads custom sentences."""
    folder.mkdir(parents=True)
    shutil.copy(sentences, folder / "aftercare.yaml")
