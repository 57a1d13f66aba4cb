"""Home Assistant MQTT discovery and the per-site state, as pure functions that return messages.

Nothing here touches MQTT: the service publishes what these functions return. Every key in a
discovery payload is documented for its platform (see docs/homeassistant.md for the pages).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from skill.base.text import valid_site_id
from skill.base.vocabulary import Activity
from skill.config.homeassistant import ID_RE, HaSettings, settings_problem
from skill.hermes.messages import Outgoing

"""What a site is doing, as the state sensor shows it."""

ACTIVITIES: Final[tuple[str, ...]] = tuple(Activity)
"""Every activity, in the order Home Assistant lists them."""

MAX_COMMAND_BYTES: Final = 64
"""Largest command payload read; anything bigger is dropped unread."""

ORIGIN_NAME: Final = "Aftercare"
"""Name of the application in the `origin` of every discovery payload."""

_NOT_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")


@dataclass(frozen=True)
class ButtonSpec:
    """One button Home Assistant shows per site."""

    action: str
    """Payload the button sends, and the last part of its object id."""
    name: str
    """Entity name shown after the device name."""
    icon: str
    """Material Design icon (`mdi:...`)."""


BUTTONS: Final[tuple[ButtonSpec, ...]] = (
    ButtonSpec("start_aftercare", "Start aftercare", "mdi:hand-heart"),
    ButtonSpec("start_breathing", "Start breathing", "mdi:weather-windy"),
    ButtonSpec("cooldown", "Play cool-down", "mdi:music-note"),
    ButtonSpec("stop", "Stop", "mdi:stop"),
)
"""The four buttons of every site, in display order."""

ACTIONS: Final[tuple[str, ...]] = tuple(button.action for button in BUTTONS)
"""Every payload parse_command accepts."""


@dataclass(frozen=True)
class SiteState:
    """What one site is doing, published retained on its state topic."""

    activity: Activity
    """`idle`, `routine`, `breathing`, `cooldown` or `planning`."""
    detail: str | None = None
    """Routine or breathing pattern name, if any."""
    phase: str | None = None
    """Breathing phase (inhale/exhale/hold/top-up/rest) or the routine step kind."""
    paused: bool = False
    """True while the activity is paused."""

    def __post_init__(self) -> None:
        """Reject an activity the enum sensor would refuse."""
        if self.activity not in ACTIVITIES:
            raise ValueError(
                f"unknown activity {self.activity!r}; choose one of: {', '.join(ACTIVITIES)}"
            )


IDLE: Final = SiteState(Activity.IDLE)
"""The state of a site with nothing running."""


def command_topic(topic_prefix: str, site_id: str) -> str:
    """<topic_prefix>/<site>/command, where the site's buttons publish."""
    return f"{topic_prefix}/{site_id}/command"


def command_subscription(topic_prefix: str) -> str:
    """<topic_prefix>/+/command, the one subscription that receives every site's buttons."""
    return command_topic(topic_prefix, "+")


def state_topic(topic_prefix: str, site_id: str) -> str:
    """<topic_prefix>/<site>/state, where the site's state is kept (retained)."""
    return f"{topic_prefix}/{site_id}/state"


def birth_topic(settings: HaSettings) -> str:
    """<prefix>/status, where Home Assistant says `online`: publish discovery and state again."""
    return f"{settings.prefix}/status"


def site_key(site_id: str) -> str:
    """A stable id for a site using only [a-zA-Z0-9_-]; distinct sites give distinct keys."""
    if ID_RE.fullmatch(site_id):
        return site_id
    # Readable part first (accents folded), then a digest of the exact id so that
    # "bed.room" and "bed:room" do not collide.
    folded = unicodedata.normalize("NFKD", site_id).encode("ascii", "ignore").decode("ascii")
    readable = _NOT_ID_CHARS.sub("_", folded).strip("_") or "site"
    digest = hashlib.sha256(site_id.encode("utf-8")).hexdigest()[:8]
    return f"{readable}_{digest}"


def discovery_messages(
    settings: HaSettings,
    *,
    topic_prefix: str,
    status_topic: str,
    sites: Sequence[str],
    version: str,
) -> list[Outgoing]:
    """Retained discovery configs: four buttons and one activity sensor per site."""
    if not settings.discovery:
        return []
    messages: list[Outgoing] = []
    for site, key in _site_keys(settings, sites):
        device = _device(settings, site, key, version)
        common: dict[str, Any] = {
            "availability_topic": status_topic,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "origin": {"name": ORIGIN_NAME, "sw_version": version},
        }
        for button in BUTTONS:
            object_id = _object_id(settings, key, button.action)
            config = {
                "name": button.name,
                "unique_id": object_id,
                "command_topic": command_topic(topic_prefix, site),
                "payload_press": button.action,
                "icon": button.icon,
                **common,
            }
            messages.append(_config(settings, "button", object_id, config))
        object_id = _object_id(settings, key, "activity")
        config = {
            "name": "Activity",
            "unique_id": object_id,
            "state_topic": state_topic(topic_prefix, site),
            "value_template": "{{ value_json.activity }}",
            "json_attributes_topic": state_topic(topic_prefix, site),
            "device_class": "enum",
            "options": list(ACTIVITIES),
            "icon": "mdi:bed-outline",
            **common,
        }
        messages.append(_config(settings, "sensor", object_id, config))
    return messages


def removal_messages(settings: HaSettings, *, sites: Sequence[str]) -> list[Outgoing]:
    """Empty retained payloads on every discovery topic of these sites (removes the entities)."""
    topics = [
        _discovery_topic(settings, component, object_id)
        for _site, key in _site_keys(settings, sites)
        for component, object_id in _object_ids(settings, key)
    ]
    return [Outgoing(topic, b"", retain=True) for topic in topics]


def parse_command(topic: str, payload: bytes, *, topic_prefix: str) -> tuple[str, str] | None:
    """(site_id, action) from a button press on <prefix>/<site>/command; None for anything else."""
    head = f"{topic_prefix}/"
    tail = "/command"
    if not (topic.startswith(head) and topic.endswith(tail)):
        return None
    site = topic[len(head) : len(topic) - len(tail)]
    if not valid_site_id(site) or len(payload) > MAX_COMMAND_BYTES:
        return None
    try:
        action = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    return (site, action) if action in ACTIONS else None


def state_message(topic_prefix: str, site_id: str, state: SiteState) -> Outgoing:
    """The site's state as retained JSON {"activity", "detail", "phase", "paused"}."""
    data = {
        "activity": state.activity,
        "detail": state.detail,
        "phase": state.phase,
        "paused": state.paused,
    }
    return Outgoing(state_topic(topic_prefix, site_id), _json(data), retain=True)


def _site_keys(settings: HaSettings, sites: Sequence[str]) -> list[tuple[str, str]]:
    """(site, key) per distinct site; raises ValueError on bad settings or site ids."""
    problem = settings_problem(settings)
    if problem is not None:
        raise ValueError(f"homeassistant.{problem[0]}: {problem[1]}")
    pairs: list[tuple[str, str]] = []
    owners: dict[str, str] = {}
    for site in dict.fromkeys(sites):
        if not valid_site_id(site):
            raise ValueError(f"site id {site!r}: 1-64 characters without / + # or spaces")
        key = site_key(site)
        if key in owners:
            raise ValueError(f"site ids {owners[key]!r} and {site!r} map to the same key {key!r}")
        owners[key] = site
        pairs.append((site, key))
    return pairs


def _object_ids(settings: HaSettings, key: str) -> list[tuple[str, str]]:
    """(component, object id) of every entity of one site, in publishing order."""
    ids = [("button", _object_id(settings, key, button.action)) for button in BUTTONS]
    return [*ids, ("sensor", _object_id(settings, key, "activity"))]


def _object_id(settings: HaSettings, key: str, entity: str) -> str:
    """<node_id>_<site key>_<entity>: the object id in the topic, also the unique id."""
    return f"{settings.node_id}_{key}_{entity}"


def _discovery_topic(settings: HaSettings, component: str, object_id: str) -> str:
    return f"{settings.prefix}/{component}/{object_id}/config"


def _device(settings: HaSettings, site: str, key: str, version: str) -> dict[str, Any]:
    return {
        "identifiers": [f"{settings.node_id}_{key}"],
        "name": f"Aftercare {site}",
        "manufacturer": "Aftercare",
        "model": "Bedside voice skill",
        "sw_version": version,
    }


def _config(
    settings: HaSettings, component: str, object_id: str, config: dict[str, Any]
) -> Outgoing:
    return Outgoing(_discovery_topic(settings, component, object_id), _json(config), retain=True)


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")
