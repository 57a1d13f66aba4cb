"""Per-site state and discovery, as published by the status board."""

from __future__ import annotations

import json

from skill.config.settings import parse_config
from skill.hermes.messages import Outgoing
from skill.room.status import StatusBoard
from skill.site.handlers import StartBreathing, StartCooldown, StartRoutine, StopAll, from_button


def board(**raw: object) -> tuple[StatusBoard, list[Outgoing]]:
    sent: list[Outgoing] = []
    return StatusBoard(parse_config(raw), sent.append), sent


def test_state_is_published_retained_only_on_change() -> None:
    status, sent = board()
    status.set("bedroom", "breathing", detail="calm")
    status.phase("bedroom", "inhale")
    status.phase("bedroom", "inhale")
    status.phase("bedroom", None, paused=True)
    assert [m.topic for m in sent] == ["aftercare/bedroom/state"] * 3
    assert all(m.retain for m in sent)
    assert [json.loads(m.payload) for m in sent] == [
        {"activity": "breathing", "detail": "calm", "phase": None, "paused": False},
        {"activity": "breathing", "detail": "calm", "phase": "inhale", "paused": False},
        {"activity": "breathing", "detail": "calm", "phase": None, "paused": True},
    ]


def test_announce_publishes_discovery_for_listed_sites_then_states() -> None:
    status, sent = board(sites=["bedroom"])
    status.announce()
    topics = [m.topic for m in sent]
    assert "homeassistant/button/aftercare_bedroom_stop/config" in topics
    assert "homeassistant/sensor/aftercare_bedroom_activity/config" in topics
    assert topics[-1] == "aftercare/bedroom/state"
    assert status.subscriptions() == ["aftercare/+/command", "homeassistant/status"]


def test_discovery_off() -> None:
    status, sent = board(sites=["bedroom"], homeassistant={"discovery": False})
    status.announce()
    assert [m.topic for m in sent] == ["aftercare/bedroom/state"]
    assert status.subscriptions() == ["aftercare/+/command"]
    assert not status.is_birth("homeassistant/status")


def test_buttons_act_like_the_spoken_requests() -> None:
    config = parse_config({})
    assert from_button("stop", config) == [StopAll()]
    assert from_button("start_aftercare", config) == [StartRoutine("short")]
    assert from_button("start_breathing", config) == [StartBreathing("settle", 3.0, None)]
    assert from_button("cooldown", config) == [StartCooldown("Cool down")]
    assert from_button("explode", config) == []
