"""Home Assistant end to end: discovery, buttons and the retained state, on a real Mosquitto.

The real Runtime (fake voice, compressed clock) is told `sites: [bedroom, guest]`. The
test plays Home Assistant's part with plain MQTT clients: it reads the retained discovery
configs as Home Assistant would on start, announces `online` on `homeassistant/status`,
presses buttons by publishing their payloads on `aftercare/<site>/command`, and reads the
state sensor's retained JSON on `aftercare/<site>/state`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from support.fakes import cue_text, live_skill
from support.mqtt_recorder import MqttRecorder, Received, RecorderFactory

from skill.hermes.broker import EmbeddedBroker

pytestmark = pytest.mark.timeout(60)

SCALE = 0.03
SITES = ("bedroom", "guest")
ACTIONS = ("start_aftercare", "start_breathing", "cooldown", "stop")
CONFIGS = "homeassistant/+/+/config"
QUIET = 0.3
"""Real seconds of listening that prove nothing more arrives."""
IDLE = {"activity": "idle", "detail": None, "phase": None, "paused": False}


def config_topics() -> set[str]:
    """Every discovery topic: four buttons and one activity sensor per site."""
    return {
        *(f"homeassistant/button/aftercare_{s}_{a}/config" for s in SITES for a in ACTIONS),
        *(f"homeassistant/sensor/aftercare_{s}_activity/config" for s in SITES),
    }


def payload(message: Received) -> Any:
    """The JSON payload of a message."""
    return json.loads(message.payload)


async def fresh_retained(recorder: MqttRecorder, count: int) -> list[Received]:
    """The `count` retained messages a freshly subscribed client receives."""
    await asyncio.to_thread(recorder.wait_count, "#", count)
    await asyncio.sleep(0.05)  # and no more than those
    found = recorder.messages()
    assert len(found) == count, [m.topic for m in found]
    assert all(m.retain for m in found)
    return found


def assert_discovery(messages: list[Received]) -> None:
    """One config per entity of both sites, each pointing at its site's topics."""
    by_topic = {m.topic: payload(m) for m in messages}
    assert len(messages) == len(by_topic) == 10
    assert set(by_topic) == config_topics()
    for site in SITES:
        for action in ACTIONS:
            button = by_topic[f"homeassistant/button/aftercare_{site}_{action}/config"]
            assert button["command_topic"] == f"aftercare/{site}/command"
            assert button["payload_press"] == action
            assert button["unique_id"] == f"aftercare_{site}_{action}"
            assert button["availability_topic"] == "aftercare/status"
            assert button["device"]["identifiers"] == [f"aftercare_{site}"]
        sensor = by_topic[f"homeassistant/sensor/aftercare_{site}_activity/config"]
        assert sensor["state_topic"] == f"aftercare/{site}/state"
        assert sensor["availability_topic"] == "aftercare/status"
        assert sensor["options"] == ["idle", "routine", "breathing", "cooldown", "planning"]


@pytest.mark.asyncio
async def test_discovery_on_connect_and_again_when_home_assistant_comes_online(
    mosquitto: EmbeddedBroker, tmp_path: Path, recorder_factory: RecorderFactory
) -> None:
    """Discovery is retained for both sites on connect and repeated on `online`.

    A client that subscribes after the skill connected (Home Assistant starting later)
    gets ten retained configs, both idle states and `online`. Then the configs are wiped
    from the broker, and `offline` on homeassistant/status changes nothing; `online`
    brings all ten back, retained again (a new subscriber gets them), with the states.
    """
    async with live_skill(
        mosquitto, tmp_path, scale=SCALE, sites=list(SITES), topics=("aftercare/#",)
    ) as bs:
        # The announcement runs just after connecting; its last message is guest's state.
        await bs.wait_for("aftercare/guest/state")
        home_assistant = recorder_factory(mosquitto, "homeassistant/#", "aftercare/#")
        await asyncio.to_thread(home_assistant.wait_count, "#", 13)
        await asyncio.sleep(0.05)
        assert [m.topic for m in home_assistant.messages() if not m.retain] == []
        assert_discovery(home_assistant.messages(CONFIGS))
        states = home_assistant.messages("aftercare/+/state")
        assert {m.topic: payload(m) for m in states} == {
            "aftercare/bedroom/state": IDLE,
            "aftercare/guest/state": IDLE,
        }
        assert [m.payload for m in home_assistant.messages("aftercare/status")] == [b"online"]

        home_assistant.clear()
        for topic in config_topics():  # the broker forgets them (e.g. a new broker)
            await bs.publish(topic, b"", retain=True)
        await bs.publish("homeassistant/status", "offline")
        await asyncio.sleep(QUIET)
        assert [m.topic for m in home_assistant.messages(CONFIGS) if m.payload] == []
        home_assistant.clear()
        await bs.publish("homeassistant/status", "online")
        await asyncio.to_thread(home_assistant.wait_count, CONFIGS, 10)
        await asyncio.sleep(QUIET)
        assert_discovery(home_assistant.messages(CONFIGS))
        assert {m.topic: payload(m) for m in home_assistant.messages("aftercare/+/state")} == {
            "aftercare/bedroom/state": IDLE,
            "aftercare/guest/state": IDLE,
        }
        late = recorder_factory(mosquitto, "homeassistant/#")
        assert_discovery(await fresh_retained(late, 10))


@pytest.mark.asyncio
async def test_buttons_drive_the_site_and_its_retained_state(
    mosquitto: EmbeddedBroker, tmp_path: Path, recorder_factory: RecorderFactory
) -> None:
    """start_breathing and stop work per site; replayed, foreign and garbled presses do not.

    - A press left retained on guest's command topic before the skill started is replayed
      by the broker on subscribe and ignored: guest never speaks and stays idle.
    - start_breathing on bedroom starts the default session: cue clips on bedroom's
      playBytes, and the retained state says breathing (settle) with each phase as its
      cue is played.
    - stop ends it at once; the retained state is idle again and no cue follows.
    - A press for a site outside `sites` does nothing and is no error.
    - Garbage on command topics is dropped and counted, and starts nothing.
    """
    button = recorder_factory(mosquitto)
    await asyncio.to_thread(
        button.publish, "aftercare/guest/command", "start_breathing", retain=True
    )
    async with live_skill(
        mosquitto, tmp_path, scale=SCALE, sites=list(SITES), breathing={"minutes": 1}
    ) as bs:
        problems = bs.skill.problems
        await asyncio.sleep(QUIET)  # the replayed press has arrived by now
        assert bs.skill.activity("guest") == ""
        assert problems.count("bad_command") == 0
        replay = recorder_factory(mosquitto, "aftercare/guest/command")
        assert [m.payload for m in await fresh_retained(replay, 1)] == [b"start_breathing"]

        await bs.publish("aftercare/bedroom/command", "start_breathing")
        await bs.wait_for(
            lambda m: m.topic == "aftercare/bedroom/state" and payload(m)["phase"] == "exhale"
        )
        await bs.wait_clip(lambda c: c.kind == "cue" and c.text == cue_text("exhale"))
        assert bs.skill.activity("bedroom") == "breathing"
        now = recorder_factory(mosquitto, "aftercare/bedroom/state")
        (state,) = await fresh_retained(now, 1)
        assert payload(state)["activity"] == "breathing"
        assert payload(state)["detail"] == "settle"
        assert payload(state)["phase"] in ("inhale", "exhale")

        stop_at = time.monotonic()
        await bs.publish("aftercare/bedroom/command", "stop")
        await bs.wait_for(
            lambda m: m.t > stop_at and m.topic == "aftercare/bedroom/state" and payload(m) == IDLE
        )
        assert bs.skill.activity("bedroom") == ""
        await asyncio.sleep(QUIET)
        assert not [c for c in bs.clips("bedroom", after=stop_at + 0.05) if c.kind == "cue"]
        states = [payload(m) for m in bs.recorder.messages("aftercare/bedroom/state")]
        assert states[0] == IDLE  # retained, from before the press
        assert states[1] == {
            "activity": "breathing",
            "detail": "settle",
            "phase": None,
            "paused": False,
        }
        phases = [s["phase"] for s in states[2:-1]]
        assert states[-1] == IDLE
        assert {s["activity"] for s in states[2:-1]} == {"breathing"}
        assert phases[:2] == ["inhale", "exhale"]
        assert all(a != b for a, b in itertools.pairwise(phases))
        cues = [c.text for c in bs.clips("bedroom") if c.kind == "cue"]
        assert cues == [cue_text(p) for p in phases][: len(cues)]
        assert len(cues) >= len(phases) - 1  # the last cue may have been cut by stop
        final = recorder_factory(mosquitto, "aftercare/bedroom/state")
        assert [payload(m) for m in await fresh_retained(final, 1)] == [IDLE]

        seen = len(bs.recorder.messages())
        await bs.publish("aftercare/kitchen/command", "start_breathing")
        garbage: list[tuple[str, bytes]] = [
            ("aftercare/bedroom/command", b"explode"),
            ("aftercare/bedroom/command", b"\xff\xfe\x00start_breathing"),
            ("aftercare/bedroom/command", b"start_breathing" * 5),  # over 64 bytes
            ("aftercare/bedroom/command", b""),
            ("aftercare/guest/command", b"PRESS"),  # Home Assistant's default payload_press
            ("aftercare/guest/command", b'{"action": "stop"}'),
        ]
        for topic, body in garbage:
            await bs.publish(topic, body)
        for _ in range(500):  # up to 5 s for the skill to see them all
            if problems.count("bad_command") >= len(garbage):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(QUIET)
        assert problems.count("bad_command") == len(garbage)
        for site in ("bedroom", "guest", "kitchen"):
            assert bs.skill.activity(site) == "", site
        published = [m.topic for m in bs.recorder.messages()[seen:]]
        assert published == ["aftercare/kitchen/command"] + [t for t, _ in garbage]
        assert [payload(m) for m in bs.recorder.messages("aftercare/guest/state")] == [IDLE]
        assert not bs.recorder.messages("hermes/audioServer/guest/#")
