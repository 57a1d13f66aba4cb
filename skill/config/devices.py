"""The `devices:` section of config.yaml: players and lights, by preset."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from skill.base.reader import Reader, show
from skill.config.payload import DeviceTemplateError, check_template

PLAYER_KINDS = ("generic", "sonos2mqtt", "mopidy", "homeassistant")
"""Presets that play music."""
LIGHT_KINDS = ("zigbee2mqtt-light", "homeassistant-light")
"""Presets that are lights."""
KINDS = PLAYER_KINDS + LIGHT_KINDS
"""Every preset."""
GENERIC_ACTIONS = ("play", "pause", "stop", "volume")
_TOPIC_RE = re.compile(r"^[^+#\x00]{1,200}$")
_LEVEL_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")

DeviceKind = Literal[
    "generic", "sonos2mqtt", "mopidy", "homeassistant", "zigbee2mqtt-light", "homeassistant-light"
]


@dataclass(frozen=True)
class DeviceAction:
    """One generic command: where it goes and what it says."""

    topic: str
    """MQTT topic (no wildcards, never built from what people said)."""
    payload: str
    """Payload template; {playlist} and {volume} are substituted JSON-safely."""


@dataclass(frozen=True)
class LightLevel:
    """A light setting: how bright, how warm, how slowly it gets there."""

    brightness: int
    """0-254 (zigbee2mqtt's range)."""
    color_temp: int | None = None
    """Colour temperature in mired (153 cool to 500 warm), or None to leave it."""
    transition: float = 0.0
    """Seconds the light takes to get there (the light fades by itself)."""


@dataclass(frozen=True)
class BreathingLight:
    """How a light follows a breathing session."""

    low: int = 20
    """Brightness at the end of the out-breath (0-254)."""
    high: int = 90
    """Brightness at the end of the in-breath (0-254)."""


@dataclass(frozen=True)
class DeviceSettings:
    """A device the skill may command."""

    name: str
    """Name used in logs and in `cooldown.device`."""
    kind: DeviceKind = "generic"
    """Preset: one of KINDS."""
    actions: Mapping[str, DeviceAction] = field(default_factory=dict)
    """generic only: per action (play, pause, stop, volume), what to publish."""
    sites: tuple[str, ...] = ()
    """Sites this device belongs to; empty = every site."""
    base_topic: str = ""
    """First topic level of the bridge (sonos, mopidy, zigbee2mqtt, or the skill's prefix)."""
    target: str = ""
    """sonos2mqtt: the speaker's uuid; zigbee2mqtt-light: the light's friendly name."""
    playlists: Mapping[str, str] = field(default_factory=dict)
    """sonos2mqtt and mopidy: playlist name -> URI the player understands."""
    scene: LightLevel | None = None
    """Lights: the cool-down level (dim and warm)."""
    restore: LightLevel | None = None
    """Lights: the level to go back to after stop, or None to leave the light as it is."""
    breathing: BreathingLight | None = None
    """Lights: follow breathing sessions (brighter in, dimmer out), or None."""

    @property
    def is_player(self) -> bool:
        """True for devices that play music."""
        return self.kind in PLAYER_KINDS

    @property
    def is_light(self) -> bool:
        """True for lights."""
        return self.kind in LIGHT_KINDS

    def serves(self, site_id: str) -> bool:
        """True when this device belongs to the site."""
        return not self.sites or site_id in self.sites


_COMMON = ("name", "kind", "sites")
_KEYS: dict[str, tuple[str, ...]] = {
    "generic": (*_COMMON, *GENERIC_ACTIONS),
    "sonos2mqtt": (*_COMMON, "uuid", "base_topic", "playlists"),
    "mopidy": (*_COMMON, "base_topic", "playlists"),
    "homeassistant": _COMMON,
    "zigbee2mqtt-light": (*_COMMON, "friendly_name", "base_topic", "scene", "restore", "breathing"),
    "homeassistant-light": (*_COMMON, "scene", "restore", "breathing"),
}
_BASE = {"sonos2mqtt": "sonos", "mopidy": "mopidy", "zigbee2mqtt-light": "zigbee2mqtt"}
DEFAULT_SCENE = LightLevel(brightness=40, color_temp=454, transition=45.0)
"""A warm, low light reached over 45 s."""


def parse_devices(
    reader: Reader, raw: Mapping[str, Any], prefix: str
) -> tuple[DeviceSettings, ...]:
    """Validate `devices:`; every mistake names the device's index and key."""
    items = raw.get("devices") or []
    if not isinstance(items, list):
        reader.fail("devices", f"expected a list of devices, got {show(items)}")
    devices: list[DeviceSettings] = []
    for index, item in enumerate(items):
        key = f"devices[{index}]"
        if not isinstance(item, Mapping):
            reader.fail(key, f"expected a mapping with name and kind, got {show(item)}")
        kind = cast(DeviceKind, reader.choice(item, f"{key}.kind", "generic", KINDS))
        reader.known(item, key, _KEYS[kind])
        name = reader.string(item, f"{key}.name", "")
        if any(d.name == name for d in devices):
            reader.fail(f"{key}.name", f'device names must be unique; "{name}" is used twice')
        device = DeviceSettings(
            name=name,
            kind=kind,
            sites=reader.strings(item, f"{key}.sites", ()),
            base_topic=_base_topic(reader, item, key, _BASE.get(kind, prefix)),
        )
        devices.append(_preset(reader, item, key, device))
    return tuple(devices)


def _preset(
    reader: Reader, item: Mapping[str, Any], key: str, device: DeviceSettings
) -> DeviceSettings:
    kind = device.kind
    if kind == "generic":
        return _replace(device, actions=_generic_actions(reader, item, key))
    if kind == "sonos2mqtt":
        uuid = reader.string(item, f"{key}.uuid", "")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", uuid):
            reader.fail(f"{key}.uuid", "expected the speaker's uuid, e.g. RINCON_000E58C3892E01400")
        return _replace(device, target=uuid, playlists=_playlists(reader, item, key))
    if kind == "mopidy":
        return _replace(device, playlists=_playlists(reader, item, key))
    if kind == "homeassistant":
        return device
    target = ""
    if kind == "zigbee2mqtt-light":
        target = reader.string(item, f"{key}.friendly_name", "")
        if not _TOPIC_RE.fullmatch(target) or target.endswith(("/set", "/get")):
            reader.fail(f"{key}.friendly_name", "expected the light's friendly name, no + or #")
    scene = _level(reader, item, f"{key}.scene") or DEFAULT_SCENE
    return _replace(
        device,
        target=target,
        scene=scene,
        restore=_level(reader, item, f"{key}.restore"),
        breathing=_breathing_light(reader, item, f"{key}.breathing"),
    )


def _replace(device: DeviceSettings, **changes: Any) -> DeviceSettings:
    from dataclasses import replace

    return replace(device, **changes)


def _base_topic(reader: Reader, item: Mapping[str, Any], key: str, default: str) -> str:
    base = reader.string(item, f"{key}.base_topic", default) if "base_topic" in item else default
    if not _LEVEL_RE.fullmatch(base):
        reader.fail(f"{key}.base_topic", "expected letters, digits, _ or -, levels split by /")
    return base


def _generic_actions(reader: Reader, item: Mapping[str, Any], key: str) -> dict[str, DeviceAction]:
    actions: dict[str, DeviceAction] = {}
    for action in GENERIC_ACTIONS:
        spec = reader.section(item, f"{key}.{action}", ("topic", "payload"))
        if not spec:
            continue
        topic = reader.string(spec, f"{key}.{action}.topic", "")
        if not _TOPIC_RE.fullmatch(topic) or "{" in topic:
            reader.fail(
                f"{key}.{action}.topic",
                "expected a plain topic without wildcards (+ #) or {placeholders}",
            )
        payload = spec.get("payload", "")
        if not isinstance(payload, str):
            reader.fail(f"{key}.{action}.payload", f"expected a text template, got {show(payload)}")
        _check_template(reader, f"{key}.{action}.payload", payload)
        actions[action] = DeviceAction(topic=topic, payload=payload)
    if "play" not in actions:
        reader.fail(
            key, f"a generic player needs at least `play`; actions: {', '.join(GENERIC_ACTIONS)}"
        )
    return actions


def _check_template(reader: Reader, key: str, template: str) -> None:
    for placeholder in re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template):
        if placeholder not in ("playlist", "volume"):
            reader.fail(
                key, f"unknown placeholder {{{placeholder}}}; allowed: {{playlist}}, {{volume}}"
            )
    try:
        check_template(template)
    except DeviceTemplateError as err:
        reader.fail(key, str(err))


def _playlists(reader: Reader, item: Mapping[str, Any], key: str) -> dict[str, str]:
    raw = item.get("playlists") or {}
    if not isinstance(raw, Mapping):
        reader.fail(f"{key}.playlists", "expected a mapping of playlist name to URI")
    for name, uri in raw.items():
        if not isinstance(name, str) or not isinstance(uri, str) or not uri.strip():
            reader.fail(f"{key}.playlists.{name}", f"expected a URI text, got {show(uri)}")
    return dict(raw)


def _level(reader: Reader, item: Mapping[str, Any], key: str) -> LightLevel | None:
    if item.get(key.rsplit(".", 1)[-1]) is None:
        return None
    spec = reader.section(item, key, ("brightness", "color_temp", "transition"))
    color = spec.get("color_temp")
    return LightLevel(
        brightness=reader.integer(spec, f"{key}.brightness", DEFAULT_SCENE.brightness, 0, 254),
        color_temp=None
        if color is None
        else reader.integer(spec, f"{key}.color_temp", 454, 153, 500),
        transition=reader.number(spec, f"{key}.transition", 5, 0, 300),
    )


def _breathing_light(reader: Reader, item: Mapping[str, Any], key: str) -> BreathingLight | None:
    value = item.get("breathing")
    if value is None or value is False:
        return None
    if value is True:
        return BreathingLight()
    spec = reader.section(item, key, ("low", "high"))
    low = reader.integer(spec, f"{key}.low", 20, 1, 254)
    high = reader.integer(spec, f"{key}.high", 90, 1, 254)
    if high <= low:
        reader.fail(f"{key}.high", f"expected more than low ({low}), got {high}")
    return BreathingLight(low=low, high=high)


def check_playlists(
    reader: Reader, devices: Sequence[DeviceSettings], playlists: Sequence[str]
) -> None:
    """A sonos or mopidy player must know the URI of every playlist people may ask for."""
    for index, device in enumerate(devices):
        if device.kind not in ("sonos2mqtt", "mopidy"):
            continue
        missing = [name for name in playlists if name not in device.playlists]
        if missing:
            reader.fail(
                f"devices[{index}].playlists",
                f'no URI for {", ".join(repr(m) for m in missing)}; add "<name>: <uri>" for each '
                "playlist in cooldown.playlist and cooldown.playlists",
            )
