"""Device presets: the exact topics and payloads each bridge documents, rendered JSON-safely."""

from __future__ import annotations

import json
from typing import Any

import pytest

from skill.base.errors import ConfigError
from skill.config.devices import DeviceSettings, LightLevel
from skill.config.loader import parse_config
from skill.config.payload import DeviceTemplateError, check_template, render_payload
from skill.room.commands import light_commands, player_commands

TEMPLATE = '{"action": "play", "playlist": "{playlist}", "volume": {volume}}'


def device(spec: dict[str, Any], **cooldown: Any) -> DeviceSettings:
    config = parse_config({"devices": [spec], "cooldown": cooldown or {"playlist": "Cool down"}})
    return config.devices[0]


def sent(commands: list[Any]) -> list[tuple[str, Any]]:
    out = []
    for cmd in commands:
        try:
            payload: Any = json.loads(cmd.payload)
        except ValueError:
            payload = cmd.payload
        out.append((cmd.topic, payload))
    return out


@pytest.mark.parametrize(
    "name",
    [
        'Rain "Songs" \\ 2',
        '", "admin": true, "x": "',
        "line\nbreak",
        "{volume}",
        "\u00e9t\u00e9 \U0001f319",
    ],
)
def test_hostile_playlist_names_stay_one_string(name: str) -> None:
    data = json.loads(render_payload(TEMPLATE, playlist=name, volume=30))
    assert data == {"action": "play", "playlist": name, "volume": 30}


def test_plain_text_template() -> None:
    assert render_payload("PLAY {playlist}", playlist="Calm") == "PLAY Calm"


def test_unquoted_placeholder_in_json_is_refused() -> None:
    with pytest.raises(DeviceTemplateError, match="inside quotes"):
        check_template('{"playlist": {playlist}}')


def test_nested_json_braces_survive() -> None:
    assert json.loads(render_payload('{"a": {"b": "{playlist}"}}', playlist="x")) == {
        "a": {"b": "x"}
    }


def test_generic_player() -> None:
    player = device({"name": "p", "play": {"topic": "t/set", "payload": "{playlist}"}})
    assert player_commands(player, "stop", site_id="s") == []
    [cmd] = player_commands(player, "play", site_id="s", playlist="Calm")
    assert (cmd.topic, cmd.payload, cmd.device, cmd.action) == ("t/set", "Calm", "p", "play")


def test_sonos2mqtt() -> None:
    sonos = device(
        {
            "name": "sonos",
            "kind": "sonos2mqtt",
            "uuid": "RINCON_000E58C3892E01400",
            "playlists": {"Cool down": "x-rincon-cpcontainer:1006206cplaylist"},
        }
    )
    topic = "sonos/RINCON_000E58C3892E01400/control"
    assert sent(player_commands(sonos, "play", site_id="s", playlist="Cool down")) == [
        (topic, {"command": "setavtransporturi", "input": "x-rincon-cpcontainer:1006206cplaylist"}),
        (topic, {"command": "play"}),
    ]
    assert sent(player_commands(sonos, "volume", site_id="s", volume=0)) == [
        (topic, {"command": "volume", "input": 1})
    ]
    assert sent(player_commands(sonos, "pause", site_id="s")) == [(topic, {"command": "pause"})]
    assert sent(player_commands(sonos, "stop", site_id="s")) == [(topic, {"command": "stop"})]
    assert player_commands(sonos, "play", site_id="s", playlist="Unknown") == []


def test_mopidy_mqtt_ng() -> None:
    mopidy = device(
        {"name": "m", "kind": "mopidy", "playlists": {"Cool down": "m3u:cool.m3u8"}},
    )
    assert sent(player_commands(mopidy, "play", site_id="s", playlist="Cool down")) == [
        ("mopidy/c/clr", ""),
        ("mopidy/c/loa", "m3u:cool.m3u8"),
        ("mopidy/c/plb", "play"),
    ]
    assert sent(player_commands(mopidy, "volume", site_id="s", volume=30)) == [
        ("mopidy/c/vol", "=30")
    ]
    assert sent(player_commands(mopidy, "stop", site_id="s")) == [("mopidy/c/plb", "stop")]


def test_homeassistant_player_is_event_style() -> None:
    ha = device({"name": "ha", "kind": "homeassistant"})
    assert sent(player_commands(ha, "play", site_id="bedroom", playlist='Rain "x"', volume=20)) == [
        ("aftercare/bedroom/cooldown", {"action": "play", "playlist": 'Rain "x"', "volume": 20})
    ]
    assert sent(player_commands(ha, "stop", site_id="bedroom")) == [
        ("aftercare/bedroom/cooldown", {"action": "stop"})
    ]


def test_zigbee2mqtt_light() -> None:
    lamp = device(
        {
            "name": "lamp",
            "kind": "zigbee2mqtt-light",
            "friendly_name": "bedroom/lamp",
            "scene": {"brightness": 30, "color_temp": 454, "transition": 45},
            "restore": {"brightness": 200, "transition": 3},
            "breathing": {"low": 10, "high": 80},
        }
    )
    assert lamp.scene == LightLevel(30, 454, 45.0)
    assert sent(light_commands(lamp, lamp.scene, site_id="s", purpose="scene")) == [
        (
            "zigbee2mqtt/bedroom/lamp/set",
            {"state": "ON", "brightness": 30, "transition": 45.0, "color_temp": 454},
        )
    ]
    assert sent(light_commands(lamp, LightLevel(0, None, 2), site_id="s", purpose="off")) == [
        ("zigbee2mqtt/bedroom/lamp/set", {"state": "OFF", "transition": 2})
    ]


def test_homeassistant_light() -> None:
    light = device({"name": "l", "kind": "homeassistant-light"})
    [cmd] = light_commands(light, LightLevel(40, 400, 30), site_id="bedroom", purpose="scene")
    assert cmd.topic == "aftercare/bedroom/lights"
    assert json.loads(cmd.payload) == {
        "action": "scene",
        "brightness": 40,
        "transition": 30,
        "color_temp_kelvin": 2500,
    }


@pytest.mark.parametrize(
    ("spec", "key", "hint"),
    [
        ({"name": "s", "kind": "sonos2mqtt", "uuid": "a/b"}, "devices[0].uuid", "uuid"),
        (
            {"name": "s", "kind": "sonos2mqtt", "uuid": "R1"},
            "devices[0].playlists",
            "no URI for 'Cool down'",
        ),
        ({"name": "s", "kind": "toaster"}, "devices[0].kind", "generic, sonos2mqtt, mopidy"),
        (
            {"name": "l", "kind": "zigbee2mqtt-light", "friendly_name": "a/#"},
            "devices[0].friendly_name",
            "no + or #",
        ),
        (
            {
                "name": "l",
                "kind": "zigbee2mqtt-light",
                "friendly_name": "a",
                "scene": {"brightness": 300},
            },
            "devices[0].scene.brightness",
            "from 0 to 254",
        ),
        (
            {"name": "l", "kind": "homeassistant-light", "breathing": {"low": 50, "high": 10}},
            "devices[0].breathing.high",
            "more than low",
        ),
        ({"name": "m", "kind": "mopidy", "uuid": "x"}, "devices[0].uuid", "allowed keys"),
        ({"name": "m", "kind": "mopidy", "base_topic": "a/+"}, "devices[0].base_topic", "letters"),
    ],
)
def test_preset_mistakes(spec: dict[str, Any], key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"devices": [spec]})
    assert caught.value.key == key
    assert hint in str(caught.value)


def test_lights_and_players_per_site() -> None:
    config = parse_config(
        {
            "devices": [
                {"name": "p1", "sites": ["living"], "play": {"topic": "l/set", "payload": "x"}},
                {"name": "p2", "sites": ["bedroom"], "play": {"topic": "b/set", "payload": "x"}},
                {"name": "lamp", "kind": "homeassistant-light", "sites": ["bedroom"]},
            ]
        }
    )
    player = config.player_for("bedroom")
    assert player is not None
    assert player.name == "p2"
    assert [d.name for d in config.lights_for("bedroom")] == ["lamp"]
    assert config.lights_for("living") == ()
