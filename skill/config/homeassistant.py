"""Settings of the Home Assistant section of config.yaml, and what they allow."""

from __future__ import annotations

import re
from dataclasses import dataclass

ID_RE = re.compile(r"[a-zA-Z0-9_-]+")
"""What Home Assistant accepts in an object id: letters, digits, _ and -."""
_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
_NODE_ID_MAX = 64


@dataclass(frozen=True)
class HaSettings:
    """How the skill announces itself to Home Assistant."""

    discovery: bool = True
    """Publish discovery messages (False: publish none; removal still works)."""
    prefix: str = "homeassistant"
    """Discovery prefix configured in Home Assistant's MQTT options."""
    node_id: str = "aftercare"
    """Start of every object id and unique id; letters, digits, _ and - only."""


def settings_problem(settings: HaSettings) -> tuple[str, str] | None:
    """(key, what is allowed) for the first invalid setting, or None when all are valid."""
    if not _PREFIX_RE.fullmatch(settings.prefix):
        return ("prefix", "expected letters, digits, _ or -, levels split by /")
    if not ID_RE.fullmatch(settings.node_id) or len(settings.node_id) > _NODE_ID_MAX:
        return ("node_id", f"expected 1-{_NODE_ID_MAX} letters, digits, _ or -")
    return None
