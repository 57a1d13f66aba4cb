"""Device commands: one small dataclass per command, payloads rendered JSON-safely."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from skill.config.payload import render_payload

if TYPE_CHECKING:
    from skill.config.devices import DeviceSettings, LightLevel

PlayerAction = Literal["play", "pause", "stop", "volume"]
LightPurpose = Literal["scene", "restore", "breathe", "off"]


@dataclass(frozen=True)
class DeviceCommand:
    """One message for one device."""

    device: str
    """Name of the device, from config.yaml."""
    action: str
    """What it does: play, pause, stop, volume, scene, restore, breathe, off."""
    topic: str
    """Topic from config.yaml (never built from what people said)."""
    payload: str
    """Rendered payload."""


def player_commands(
    device: DeviceSettings,
    action: PlayerAction,
    *,
    site_id: str,
    playlist: str = "",
    volume: int = 0,
) -> list[DeviceCommand]:
    """The messages that make `device` do `action` (empty when the preset cannot)."""
    build = _PLAYERS.get(device.kind)
    if build is None:
        return []
    return [
        DeviceCommand(device.name, action, topic, payload)
        for topic, payload in build(device, action, site_id, playlist, max(0, min(100, volume)))
    ]


def _json(body: dict[str, object]) -> str:
    return json.dumps(body, ensure_ascii=False)


def _generic(
    device: DeviceSettings, action: str, site_id: str, playlist: str, volume: int
) -> list[tuple[str, str]]:
    spec = device.actions.get(action)
    if spec is None:
        return []
    return [(spec.topic, render_payload(spec.payload, playlist=playlist, volume=volume))]


def _sonos(
    device: DeviceSettings, action: str, site_id: str, playlist: str, volume: int
) -> list[tuple[str, str]]:
    # https://sonos2mqtt.svrooij.io/control/commands.html
    topic = f"{device.base_topic}/{device.target}/control"
    if action == "play":
        uri = device.playlists.get(playlist)
        if uri is None:
            return []
        return [
            (topic, _json({"command": "setavtransporturi", "input": uri})),
            (topic, _json({"command": "play"})),
        ]
    if action == "volume":  # sonos2mqtt takes 1-100
        return [(topic, _json({"command": "volume", "input": max(1, volume)}))]
    return [(topic, _json({"command": action}))]


def _mopidy(
    device: DeviceSettings, action: str, site_id: str, playlist: str, volume: int
) -> list[tuple[str, str]]:
    # Mopidy-MQTT-NG: <base>/c/clr (clear), c/loa (load a playlist URI), c/plb, c/vol
    base = f"{device.base_topic}/c"
    if action == "play":
        uri = device.playlists.get(playlist)
        if uri is None:
            return []
        return [(f"{base}/clr", ""), (f"{base}/loa", uri), (f"{base}/plb", "play")]
    if action == "volume":
        return [(f"{base}/vol", f"={volume}")]
    return [(f"{base}/plb", action)]


def _homeassistant(
    device: DeviceSettings, action: str, site_id: str, playlist: str, volume: int
) -> list[tuple[str, str]]:
    # An event-style message; an automation in Home Assistant does the rest (README).
    body: dict[str, object] = {"action": action}
    if action == "play":
        body |= {"playlist": playlist, "volume": volume}
    elif action == "volume":
        body["volume"] = volume
    return [(f"{device.base_topic}/{site_id}/cooldown", _json(body))]


_PLAYERS: dict[str, Callable[[DeviceSettings, str, str, str, int], list[tuple[str, str]]]] = {
    "generic": _generic,
    "sonos2mqtt": _sonos,
    "mopidy": _mopidy,
    "homeassistant": _homeassistant,
}


def light_commands(
    device: DeviceSettings, level: LightLevel | None, *, site_id: str, purpose: LightPurpose
) -> list[DeviceCommand]:
    """The message that brings a light to `level` (None or brightness 0: off)."""
    body: dict[str, object]
    if device.kind == "zigbee2mqtt-light":
        # https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html
        topic = f"{device.base_topic}/{device.target}/set"
        if level is None or level.brightness == 0:
            body = {"state": "OFF", "transition": level.transition if level else 0}
        else:
            body = {"state": "ON", "brightness": level.brightness, "transition": level.transition}
            if level.color_temp is not None:
                body["color_temp"] = level.color_temp
    elif device.kind == "homeassistant-light":
        topic = f"{device.base_topic}/{site_id}/lights"
        body = {"action": purpose}
        if level is not None:
            body |= {"brightness": level.brightness, "transition": level.transition}
            if level.color_temp is not None:
                body["color_temp_kelvin"] = round(1_000_000 / level.color_temp)
    else:
        return []
    return [DeviceCommand(device.name, purpose, topic, json.dumps(body))]
