"""Settings of the Home Assistant section of config.yaml, and what they allow."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skill.base.reader import Reader, show
from skill.base.text import SITE_ID_MAX, valid_site_id

ID_RE = re.compile(r"[a-zA-Z0-9_-]+")
"""What Home Assistant accepts in an object id: letters, digits, _ and -."""
_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
_NODE_ID_MAX = 64
ENTITY_RE = re.compile(r"(assist_satellite|media_player)\.[a-z0-9_]+")
"""A speaker Home Assistant can play on: a voice satellite or a media player."""
HTTP_PORT = 12180
"""Default port of the skill's audio endpoint (Home Assistant fetches clips from it)."""


@dataclass(frozen=True)
class HaSettings:
    """How the skill announces itself to Home Assistant."""

    discovery: bool = True
    """Publish discovery messages (False: publish none; removal still works)."""
    prefix: str = "homeassistant"
    """Discovery prefix configured in Home Assistant's MQTT options."""
    node_id: str = "aftercare"
    """Start of every object id and unique id; letters, digits, _ and - only."""
    speakers: Mapping[str, str] = field(default_factory=dict)
    """Sites that speak and listen through Home Assistant: site id -> the entity that
    plays there (`assist_satellite.*` or `media_player.*`). Other sites speak Hermes."""


@dataclass(frozen=True)
class HttpSettings:
    """The audio endpoint Home Assistant fetches the skill's clips and streams from."""

    host: str = "127.0.0.1"
    """Address to bind: loopback unless Home Assistant runs on another machine."""
    port: int = HTTP_PORT
    """Port to bind (0: any free port, for tests)."""
    public_url: str | None = None
    """Base URL Home Assistant uses to reach the endpoint (None: http://host:port)."""


def settings_problem(settings: HaSettings) -> tuple[str, str] | None:
    """(key, what is allowed) for the first invalid setting, or None when all are valid."""
    if not _PREFIX_RE.fullmatch(settings.prefix):
        return ("prefix", "expected letters, digits, _ or -, levels split by /")
    if not ID_RE.fullmatch(settings.node_id) or len(settings.node_id) > _NODE_ID_MAX:
        return ("node_id", f"expected 1-{_NODE_ID_MAX} letters, digits, _ or -")
    return None


def read_homeassistant(reader: Reader, raw: Mapping[str, Any], sites: Sequence[str]) -> HaSettings:
    """The `homeassistant:` section (`sites`: the allowlist its speakers must be in)."""
    h = reader.section(raw, "homeassistant", ("discovery", "prefix", "node_id", "speakers"))
    discovery = h.get("discovery", True)
    if not isinstance(discovery, bool):
        reader.fail("homeassistant.discovery", f"expected true or false, got {show(discovery)}")
    settings = HaSettings(
        discovery=discovery,
        prefix=reader.string(h, "homeassistant.prefix", "homeassistant"),
        node_id=reader.string(h, "homeassistant.node_id", "aftercare"),
        speakers=_speakers(reader, h.get("speakers"), sites),
    )
    problem = settings_problem(settings)
    if problem is not None:
        reader.fail(f"homeassistant.{problem[0]}", problem[1])
    return settings


def _speakers(reader: Reader, raw: object, sites: Sequence[str]) -> dict[str, str]:
    """`speakers: {bedroom: assist_satellite.bedroom}`: sites that speak through HA."""
    if raw is None:
        return {}
    key = "homeassistant.speakers"
    if not isinstance(raw, Mapping):
        reader.fail(key, f"expected a mapping of site id to entity id, got {show(raw)}")
    speakers: dict[str, str] = {}
    for site, entity in raw.items():
        where = f"{key}.{site}"
        if not isinstance(site, str) or not valid_site_id(site):
            reader.fail(where, f"expected a site id (1-{SITE_ID_MAX} characters without / + #)")
        if sites and site not in sites:
            reader.fail(where, f"expected one of the sites in `sites`: {', '.join(sites)}")
        if not isinstance(entity, str) or not ENTITY_RE.fullmatch(entity):
            reader.fail(
                where,
                "expected an entity id such as assist_satellite.bedroom or "
                f"media_player.bedroom, got {show(entity)}",
            )
        speakers[site] = entity
    return speakers


def read_http(reader: Reader, raw: Mapping[str, Any]) -> HttpSettings:
    """The `http:` section."""
    h = reader.section(raw, "http", ("host", "port", "public_url"))
    public_url = reader.optional_string(h, "http.public_url")
    if public_url is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", public_url):
        reader.fail(
            "http.public_url",
            f"expected a base URL such as http://192.168.1.20:12180, got {show(public_url)}",
        )
    return HttpSettings(
        host=reader.string(h, "http.host", "127.0.0.1"),
        port=reader.integer(h, "http.port", HttpSettings.port, 0, 65535),
        public_url=public_url.rstrip("/") if public_url else None,
    )
