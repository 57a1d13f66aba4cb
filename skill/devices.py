"""Device commands: one small dataclass per command, payloads rendered JSON-safely."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from skill.errors import AftercareError

if TYPE_CHECKING:
    from skill.config import DeviceSettings

_PLACEHOLDER = re.compile(r"\{(playlist|volume)\}")
_PROBE = 'Rain "Songs" \\ 2 {x} \u00e9'


class DeviceTemplateError(AftercareError):
    """A device payload template cannot be rendered safely."""

    code = "device_template"


@dataclass(frozen=True)
class DeviceCommand:
    """One message for one device."""

    device: str
    """Name of the device, from config.yaml."""
    action: str
    """`play`, `stop` or `volume`."""
    topic: str
    """Topic from config.yaml (never built from what people said)."""
    payload: str
    """Rendered payload."""
    created: float
    """time.time() when the command was made, so stale commands can be recognized."""


def render_payload(template: str, *, playlist: str = "", volume: int = 0) -> str:
    """Fill {playlist} and {volume}; text is escaped so it cannot break or extend JSON."""
    escaped = json.dumps(playlist, ensure_ascii=False)[1:-1]
    rendered = _substitute(template, {"playlist": escaped, "volume": str(int(volume))})
    if _looks_like_json(template):
        try:
            json.loads(rendered)
        except ValueError as err:
            raise DeviceTemplateError(
                "payload template is JSON but renders to invalid JSON; put {playlist} inside quotes"
            ) from err
    return rendered


def check_template(template: str) -> None:
    """Raise DeviceTemplateError when a template could be broken by a hostile playlist name."""
    baseline = render_payload(template, playlist="x", volume=1)
    probe = render_payload(template, playlist=_PROBE, volume=100)
    if _looks_like_json(template) and _shape(json.loads(baseline)) != _shape(json.loads(probe)):
        raise DeviceTemplateError("payload template changes shape with the value; quote {playlist}")


def command(
    device: DeviceSettings, action: str, *, playlist: str = "", volume: int = 0
) -> DeviceCommand | None:
    """The command for `action` on `device`, or None when the device has no such action."""
    spec = device.actions.get(action)
    if spec is None:
        return None
    return DeviceCommand(
        device=device.name,
        action=action,
        topic=spec.topic,
        payload=render_payload(spec.payload, playlist=playlist, volume=volume),
        created=time.time(),
    )


def _substitute(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _looks_like_json(template: str) -> bool:
    """True when the template is a JSON object or array (with its placeholders as 0)."""
    try:
        shape = json.loads(_PLACEHOLDER.sub("0", template))
    except ValueError:
        return False
    return isinstance(shape, dict | list)


def _shape(value: object) -> object:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__
