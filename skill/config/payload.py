"""Payload templates as config.yaml writes them: checked on reading, filled in by the room."""

from __future__ import annotations

import json
import re

from skill.base.errors import AftercareError

_PLACEHOLDER = re.compile(r"\{(playlist|volume)\}")
_PROBE = 'Rain "Songs" \\ 2 {x} \u00e9'


class DeviceTemplateError(AftercareError):
    """A device payload template cannot be rendered safely."""

    code = "device_template"


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
