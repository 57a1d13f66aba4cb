"""Device payload templates are rendered JSON-safely."""

from __future__ import annotations

import json

import pytest

from skill.config import DeviceAction, DeviceSettings
from skill.devices import DeviceTemplateError, check_template, command, render_payload

TEMPLATE = '{"action": "play", "playlist": "{playlist}", "volume": {volume}}'


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
    rendered = render_payload('{"a": {"b": "{playlist}"}}', playlist="x")
    assert json.loads(rendered) == {"a": {"b": "x"}}


def test_command_for_missing_action_is_none() -> None:
    device = DeviceSettings(name="p", actions={"play": DeviceAction("t/set", "{playlist}")})
    assert command(device, "stop") is None
    cmd = command(device, "play", playlist="Calm")
    assert cmd is not None
    assert (cmd.topic, cmd.payload, cmd.device, cmd.action) == ("t/set", "Calm", "p", "play")
