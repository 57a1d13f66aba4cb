"""The room: fades on absolute deadlines, ducking, the scene, the breathing light.

A recording publisher stands in for MQTT; the clock runs 100x fast, so nothing here
waits long. Exact payloads and order are asserted; times only loosely.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from skill.base.clock import Clock
from skill.config.loader import parse_config
from skill.config.settings import Config
from skill.hermes.messages import Outgoing
from skill.room.room import Room

SCALE = 0.01


def config(**cooldown: float) -> Config:
    return parse_config(
        {
            "devices": [
                {
                    "name": "player",
                    "sites": ["bedroom"],
                    "play": {"topic": "p/set", "payload": '{"play": "{playlist}"}'},
                    "stop": {"topic": "p/set", "payload": '{"stop": true}'},
                    "volume": {"topic": "p/set", "payload": '{"volume": {volume}}'},
                },
                {
                    "name": "lamp",
                    "kind": "zigbee2mqtt-light",
                    "friendly_name": "lamp",
                    "sites": ["bedroom"],
                    "scene": {"brightness": 30, "color_temp": 454, "transition": 45},
                    "restore": {"brightness": 200, "transition": 3},
                    "breathing": {"low": 10, "high": 80},
                },
                {"name": "living", "sites": ["living"], "play": {"topic": "l/set", "payload": "x"}},
            ],
            "cooldown": dict[str, float](volume=30, fade_in=20, fade_out=4, duck=40) | cooldown,
        }
    )


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def __call__(self, message: Outgoing) -> None:
        self.sent.append((message.topic, json.loads(message.payload)))

    def volumes(self) -> list[int]:
        return [p["volume"] for t, p in self.sent if t == "p/set" and "volume" in p]


@pytest.mark.asyncio
async def test_cooldown_starts_quiet_and_fades_in_smoothly() -> None:
    sent = Recorder()
    room = Room(config(), sent, Clock(SCALE))
    assert room.play("bedroom", "Cool down")
    assert sent.sent[:2] == [("p/set", {"volume": 1}), ("p/set", {"play": "Cool down"})]
    await asyncio.sleep(20 * SCALE + 0.1)
    volumes = sent.volumes()
    assert volumes[-1] == 30
    assert volumes == sorted(volumes)  # only ever rises
    steps = len(volumes) - 1
    assert 20 <= steps <= 40  # at most two messages a second over 20 s
    assert all(b - a <= 2 for a, b in itertools.pairwise(volumes))
    await room.close()


@pytest.mark.asyncio
async def test_stop_fades_out_then_stops_and_restores_lights() -> None:
    sent = Recorder()
    room = Room(config(fade_in=0), sent, Clock(SCALE))
    room.play("bedroom", "Cool down")
    room.scene("bedroom")
    await asyncio.sleep(0.05)
    sent.sent.clear()
    room.stop("bedroom")
    assert sent.sent[0] == (
        "zigbee2mqtt/lamp/set",
        {"state": "ON", "brightness": 200, "transition": 3.0},
    )
    await asyncio.sleep(4 * SCALE + 0.1)
    volumes = sent.volumes()
    assert volumes == sorted(volumes, reverse=True)
    assert sent.sent[-1] == ("p/set", {"stop": True})
    assert not room.music_playing("bedroom")
    await room.close()


@pytest.mark.asyncio
async def test_ducking_dips_and_returns() -> None:
    sent = Recorder()
    room = Room(config(fade_in=0), sent, Clock(SCALE))
    room.play("bedroom", "x")
    await asyncio.sleep(0.05)
    sent.sent.clear()
    room.duck("bedroom")
    room.duck("bedroom")  # two voices: one dip
    assert sent.volumes() == [12]
    room.unduck("bedroom")
    room.unduck("bedroom")
    await asyncio.sleep(0.6 * SCALE + 0.05)
    assert sent.volumes() == [12, 30]
    await room.close()


@pytest.mark.asyncio
async def test_ducking_without_music_sends_nothing() -> None:
    sent = Recorder()
    room = Room(config(), sent, Clock(SCALE))
    room.duck("bedroom")
    room.unduck("bedroom")
    assert sent.sent == []
    await room.close()


@pytest.mark.asyncio
async def test_breathing_light_follows_phases_with_their_length() -> None:
    sent = Recorder()
    room = Room(config(), sent, Clock(1.0))
    room.breathe("bedroom", "inhale", 4.0)
    room.breathe("bedroom", "hold", 4.0)
    room.breathe("bedroom", "exhale", 6.0)
    assert sent.sent == [
        (
            "zigbee2mqtt/lamp/set",
            {"state": "ON", "brightness": 80, "transition": 4.0, "color_temp": 454},
        ),
        (
            "zigbee2mqtt/lamp/set",
            {"state": "ON", "brightness": 10, "transition": 6.0, "color_temp": 454},
        ),
    ]
    sent.sent.clear()
    room.breathing_ended("bedroom")
    assert sent.sent == [
        ("zigbee2mqtt/lamp/set", {"state": "ON", "brightness": 200, "transition": 3.0})
    ]
    await room.close()


@pytest.mark.asyncio
async def test_sites_only_touch_their_own_devices() -> None:
    sent = Recorder()
    room = Room(config(), sent, Clock(SCALE))
    room.scene("living")
    room.breathe("living", "inhale", 4)
    assert sent.sent == []
    assert not room.play("kitchen", "x")
    await room.close()
