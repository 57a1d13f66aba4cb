"""Per-site state and discovery, as published by the status board."""

from __future__ import annotations

import json

import pytest
from support.fakes import recognizer

from skill.base.vocabulary import Activity
from skill.care.store import Preferences
from skill.config.loader import parse_config
from skill.hermes.messages import Outgoing
from skill.room.status import StatusBoard
from skill.site.actions import StartRoutine
from skill.site.handlers import button_intent, decide


def board(**raw: object) -> tuple[StatusBoard, list[Outgoing]]:
    sent: list[Outgoing] = []
    return StatusBoard(parse_config(raw), sent.append), sent


def test_state_is_published_retained_only_on_change() -> None:
    status, sent = board()
    status.set("bedroom", Activity.BREATHING, detail="calm")
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
    """Off: what an earlier run announced is cleared once (empty retained configs, which
    Home Assistant takes as "remove"), and only the state is published after that."""
    status, sent = board(sites=["bedroom"], homeassistant={"discovery": False})
    status.announce()
    removals = [m for m in sent if m.topic.startswith("homeassistant/")]
    assert removals
    assert all(m.payload == b"" and m.retain for m in removals)
    assert [m.topic for m in sent if m not in removals] == ["aftercare/bedroom/state"]
    sent.clear()
    status.announce()
    assert [m.topic for m in sent] == ["aftercare/bedroom/state"]
    assert status.subscriptions() == ["aftercare/+/command"]
    assert not status.is_birth("homeassistant/status")


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("stop", "stop"),
        ("start_aftercare", "start aftercare"),
        ("start_breathing", "start breathing"),
        ("cooldown", "play cool-down"),
    ],
)
@pytest.mark.parametrize(
    "prefs",
    [Preferences(), Preferences(routine="long", pattern="box", style="chime", playlist="Rain")],
)
def test_buttons_act_like_the_spoken_requests(command: str, said: str, prefs: Preferences) -> None:
    """A button does what saying it does, with the site's saved preferences too."""
    config = parse_config({"cooldown": {"playlists": ["Rain"]}})
    spoken = recognizer(("Cool down", "Rain")).recognize(said, site_id="bedroom")
    button = button_intent(command, "bedroom")
    assert spoken is not None
    assert button is not None
    patterns = ("settle", "calm", "box")
    assert decide(button, config, patterns, prefs) == decide(spoken, config, patterns, prefs)
    assert decide(button, config, patterns, prefs) != []


def test_buttons_with_saved_preferences_and_unknown_commands() -> None:
    config = parse_config({})
    prefs = Preferences(routine="long", pattern="box")
    start = button_intent("start_aftercare", "bedroom")
    assert start is not None
    assert decide(start, config, ("settle", "box"), prefs) == [StartRoutine("long")]
    assert button_intent("explode", "bedroom") is None
