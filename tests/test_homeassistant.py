"""Home Assistant discovery and site state: exact topics and payloads, documented keys only."""

from __future__ import annotations

import json
import re
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skill.base.text import valid_site_id
from skill.base.vocabulary import Activity
from skill.config.homeassistant import HaSettings, settings_problem
from skill.hermes.messages import Outgoing
from skill.room.homeassistant import (
    ACTIONS,
    ACTIVITIES,
    BUTTONS,
    IDLE,
    MAX_COMMAND_BYTES,
    SiteState,
    birth_topic,
    command_subscription,
    command_topic,
    discovery_messages,
    parse_command,
    removal_messages,
    site_key,
    state_message,
    state_topic,
)

# Allowlists copied from the "Configuration Variables" of each page (home-assistant.io
# source/_integrations/{button,sensor,mqtt}.markdown); see docs/homeassistant.md.
# `platform` is left out (device-based discovery only) and so is `object_id` (not used).
COMMON_KEYS = {
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "device",
    "device_class",
    "enabled_by_default",
    "encoding",
    "entity_category",
    "entity_picture",
    "icon",
    "json_attributes_template",
    "json_attributes_topic",
    "name",
    "origin",  # mqtt "Discovery payload": recommended on every discovery payload
    "payload_available",
    "payload_not_available",
    "qos",
    "unique_id",
}
BUTTON_KEYS = COMMON_KEYS | {"command_template", "command_topic", "payload_press", "retain"}
SENSOR_KEYS = COMMON_KEYS | {
    "expire_after",
    "force_update",
    "last_reset_value_template",
    "options",
    "state_class",
    "state_topic",
    "suggested_display_precision",
    "unit_of_measurement",
    "value_template",
}
DEVICE_KEYS = {
    "configuration_url",
    "connections",
    "hw_version",
    "identifiers",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "serial_number",
    "suggested_area",
    "sw_version",
    "via_device",
}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
REQUIRED = {"button": {"command_topic"}, "sensor": {"state_topic"}}
ALLOWED = {"button": BUTTON_KEYS, "sensor": SENSOR_KEYS}

SETTINGS = HaSettings()
SITES = ("bedroom", "guest-room")
ID_RE = re.compile(r"[a-zA-Z0-9_-]+")


def discover(sites: tuple[str, ...] = SITES, settings: HaSettings = SETTINGS) -> list[Outgoing]:
    return discovery_messages(
        settings,
        topic_prefix="aftercare",
        status_topic="aftercare/status",
        sites=sites,
        version="0.1.0",
    )


def config_of(message: Outgoing) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(message.payload))


def device(site: str) -> dict[str, Any]:
    return {
        "identifiers": [f"aftercare_{site}"],
        "name": f"Aftercare {site}",
        "manufacturer": "Aftercare",
        "model": "Bedside voice skill",
        "sw_version": "0.1.0",
    }


AVAILABILITY = {
    "availability_topic": "aftercare/status",
    "payload_available": "online",
    "payload_not_available": "offline",
}
ORIGIN = {"name": "Aftercare", "sw_version": "0.1.0"}


def test_two_sites_give_exact_topics_in_order() -> None:
    topics = [message.topic for message in discover()]
    assert topics == [
        "homeassistant/button/aftercare_bedroom_start_aftercare/config",
        "homeassistant/button/aftercare_bedroom_start_breathing/config",
        "homeassistant/button/aftercare_bedroom_cooldown/config",
        "homeassistant/button/aftercare_bedroom_stop/config",
        "homeassistant/sensor/aftercare_bedroom_activity/config",
        "homeassistant/button/aftercare_guest-room_start_aftercare/config",
        "homeassistant/button/aftercare_guest-room_start_breathing/config",
        "homeassistant/button/aftercare_guest-room_cooldown/config",
        "homeassistant/button/aftercare_guest-room_stop/config",
        "homeassistant/sensor/aftercare_guest-room_activity/config",
    ]


def test_button_payload_is_exact_compact_json() -> None:
    first = discover()[0]
    assert first.payload == (
        b'{"name":"Start aftercare","unique_id":"aftercare_bedroom_start_aftercare",'
        b'"command_topic":"aftercare/bedroom/command","payload_press":"start_aftercare",'
        b'"icon":"mdi:hand-heart","availability_topic":"aftercare/status",'
        b'"payload_available":"online","payload_not_available":"offline",'
        b'"device":{"identifiers":["aftercare_bedroom"],"name":"Aftercare bedroom",'
        b'"manufacturer":"Aftercare","model":"Bedside voice skill","sw_version":"0.1.0"},'
        b'"origin":{"name":"Aftercare","sw_version":"0.1.0"}}'
    )


@pytest.mark.parametrize("site", SITES)
def test_every_button_of_every_site(site: str) -> None:
    by_topic = {m.topic: config_of(m) for m in discover()}
    icons = {
        "start_aftercare": "mdi:hand-heart",
        "start_breathing": "mdi:weather-windy",
        "cooldown": "mdi:music-note",
        "stop": "mdi:stop",
    }
    names = {
        "start_aftercare": "Start aftercare",
        "start_breathing": "Start breathing",
        "cooldown": "Play cool-down",
        "stop": "Stop",
    }
    for action in ("start_aftercare", "start_breathing", "cooldown", "stop"):
        assert by_topic[f"homeassistant/button/aftercare_{site}_{action}/config"] == {
            "name": names[action],
            "unique_id": f"aftercare_{site}_{action}",
            "command_topic": f"aftercare/{site}/command",
            "payload_press": action,
            "icon": icons[action],
            **AVAILABILITY,
            "device": device(site),
            "origin": ORIGIN,
        }


@pytest.mark.parametrize("site", SITES)
def test_activity_sensor_of_every_site(site: str) -> None:
    by_topic = {m.topic: config_of(m) for m in discover()}
    assert by_topic[f"homeassistant/sensor/aftercare_{site}_activity/config"] == {
        "name": "Activity",
        "unique_id": f"aftercare_{site}_activity",
        "state_topic": f"aftercare/{site}/state",
        "value_template": "{{ value_json.activity }}",
        "json_attributes_topic": f"aftercare/{site}/state",
        "device_class": "enum",
        "options": ["idle", "routine", "breathing", "cooldown", "planning"],
        "icon": "mdi:bed-outline",
        **AVAILABILITY,
        "device": device(site),
        "origin": ORIGIN,
    }


def test_every_payload_uses_only_documented_keys() -> None:
    for message in discover(("bedroom", "guest-room", "bed.room")):
        component = message.topic.split("/")[1]
        config = config_of(message)
        assert set(config) <= ALLOWED[component], message.topic
        assert REQUIRED[component] <= set(config), message.topic
        assert set(config["device"]) <= DEVICE_KEYS
        assert {"identifiers", "name"} <= set(config["device"])
        assert set(config["origin"]) <= ORIGIN_KEYS
        assert "name" in config["origin"]
        # device only works when unique_id is set (button.mqtt / sensor.mqtt pages)
        assert config["unique_id"] == message.topic.split("/")[2]


def test_discovery_is_retained_and_compact() -> None:
    for message in discover():
        assert message.retain is True
        assert message.payload == json.dumps(
            json.loads(message.payload), separators=(",", ":")
        ).encode("utf-8")


def test_unique_ids_and_topics_are_distinct_and_stable() -> None:
    messages = discover(("bedroom", "guest-room", "bed.room", "bed:room", "bed_room"))
    unique_ids = [config_of(m)["unique_id"] for m in messages]
    assert len(set(unique_ids)) == len(unique_ids) == 25
    assert len({m.topic for m in messages}) == 25
    # Unique ids must survive restarts and upgrades: pin the sanitized form.
    assert "aftercare_bed_room_6f4341be_stop" in unique_ids
    assert "aftercare_bed_room_7f2bb91f_stop" in unique_ids
    assert "aftercare_bed_room_stop" in unique_ids


@pytest.mark.parametrize(
    ("site", "key"),
    [
        ("bedroom", "bedroom"),
        ("Guest-Room_2", "Guest-Room_2"),
        ("bed.room", "bed_room_6f4341be"),
        ("bed:room", "bed_room_7f2bb91f"),
        ("chambre-à-coucher", "chambre-a-coucher_831a66ab"),
        ("寝室", "site_dc6abecb"),
    ],
)
def test_site_key_sanitizes_only_what_it_must(site: str, key: str) -> None:
    assert site_key(site) == key


def test_odd_site_ids_give_valid_object_ids() -> None:
    sites = ("bed.room", "bed:room", "chambre-à-coucher", "寝室", "a@b", "x" * 64)
    messages = discover(sites)
    assert len(messages) == 5 * len(sites)
    for message in messages:
        prefix, component, object_id, last = message.topic.split("/")
        assert (prefix, last) == ("homeassistant", "config")
        assert component in {"button", "sensor"}
        assert ID_RE.fullmatch(object_id), object_id
        assert ID_RE.fullmatch(config_of(message)["device"]["identifiers"][0])
    # The command topic keeps the real site id: that is what parse_command gives back.
    buttons = [config_of(m) for m in messages if "/button/" in m.topic]
    assert buttons[0]["command_topic"] == "aftercare/bed.room/command"
    assert parse_command("aftercare/bed.room/command", b"stop", topic_prefix="aftercare") == (
        "bed.room",
        "stop",
    )


@given(st.lists(st.text(min_size=1, max_size=64).filter(valid_site_id), min_size=2, max_size=6))
def test_any_valid_sites_give_valid_distinct_keys(sites: list[str]) -> None:
    distinct = list(dict.fromkeys(sites))
    keys = [site_key(site) for site in distinct]
    assert all(ID_RE.fullmatch(key) for key in keys)
    assert len(set(keys)) == len(keys)


def test_node_id_and_prefix_are_used() -> None:
    settings = HaSettings(prefix="ha/discovery", node_id="aftercare-2")
    messages = discover(("bedroom",), settings)
    assert messages[0].topic == "ha/discovery/button/aftercare-2_bedroom_start_aftercare/config"
    config = config_of(messages[0])
    assert config["unique_id"] == "aftercare-2_bedroom_start_aftercare"
    assert config["device"]["identifiers"] == ["aftercare-2_bedroom"]
    assert birth_topic(settings) == "ha/discovery/status"


def test_duplicate_sites_are_announced_once() -> None:
    assert discover(("bedroom", "bedroom")) == discover(("bedroom",))


def test_discovery_off_publishes_nothing() -> None:
    assert discover(settings=HaSettings(discovery=False)) == []


@pytest.mark.parametrize("site", ["", "bed room", "a/b", "+", "#", "x" * 65, "tab\there"])
def test_invalid_site_ids_are_refused(site: str) -> None:
    with pytest.raises(ValueError, match="site id"):
        discover(("bedroom", site))
    with pytest.raises(ValueError, match="site id"):
        removal_messages(SETTINGS, sites=(site,))


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        (HaSettings(prefix=""), "prefix"),
        (HaSettings(prefix="home/+"), "prefix"),
        (HaSettings(prefix="homeassistant/"), "prefix"),
        (HaSettings(node_id=""), "node_id"),
        (HaSettings(node_id="after care"), "node_id"),
        (HaSettings(node_id="a.b"), "node_id"),
        (HaSettings(node_id="n" * 65), "node_id"),
    ],
)
def test_bad_settings_are_named(settings: HaSettings, key: str) -> None:
    problem = settings_problem(settings)
    assert problem is not None
    assert problem[0] == key
    with pytest.raises(ValueError, match=f"homeassistant.{key}"):
        discover(settings=settings)


def test_default_settings_are_valid() -> None:
    assert settings_problem(HaSettings()) is None
    assert birth_topic(HaSettings()) == "homeassistant/status"


def test_removal_empties_exactly_the_discovery_topics() -> None:
    sites = ("bedroom", "guest-room", "bed.room")
    removal = removal_messages(SETTINGS, sites=sites)
    assert [m.topic for m in removal] == [m.topic for m in discover(sites)]
    assert all(m.payload == b"" and m.retain for m in removal)


def test_removal_works_with_discovery_off() -> None:
    # Turning discovery off is exactly when the retained configs must be cleared.
    removal = removal_messages(HaSettings(discovery=False), sites=SITES)
    assert [m.topic for m in removal] == [m.topic for m in discover()]


def test_topics() -> None:
    assert command_topic("aftercare", "bedroom") == "aftercare/bedroom/command"
    assert state_topic("aftercare", "bedroom") == "aftercare/bedroom/state"
    assert command_subscription("home/aftercare") == "home/aftercare/+/command"


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("action", ["start_aftercare", "start_breathing", "cooldown", "stop"])
def test_parse_command_accepts_the_four_actions(site: str, action: str) -> None:
    topic = f"aftercare/{site}/command"
    assert parse_command(topic, action.encode(), topic_prefix="aftercare") == (site, action)
    padded = f"  {action}\n".encode()
    assert parse_command(topic, padded, topic_prefix="aftercare") == (site, action)


def test_parse_command_with_a_multi_level_prefix() -> None:
    topic = "home/aftercare/bedroom/command"
    assert parse_command(topic, b"stop", topic_prefix="home/aftercare") == ("bedroom", "stop")
    assert parse_command(topic, b"stop", topic_prefix="aftercare") is None


@pytest.mark.parametrize(
    "topic",
    [
        "aftercare/+/command",
        "aftercare/#",
        "aftercare/#/command",
        "aftercare//command",
        "aftercare/command",
        "aftercare/a/b/command",
        "aftercare/bed room/command",
        f"aftercare/{'x' * 65}/command",
        "aftercare/bed\x00room/command",
        "aftercare/bedroom/command/",
        "aftercare/bedroom/state",
        "aftercare/bedroom",
        "other/bedroom/command",
        "aftercarex/bedroom/command",
        "/aftercare/bedroom/command",
        "hermes/intent/AftercareStop",
        "",
    ],
)
def test_parse_command_rejects_topics_of_the_wrong_shape(topic: str) -> None:
    assert parse_command(topic, b"stop", topic_prefix="aftercare") is None


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"   ",
        b"STOP",
        b"PRESS",
        b"start",
        b"stop please",
        b'"stop"',
        b'{"action":"stop"}',
        b"stop\x00",
        b"\xff\xfe",
        b"stop" + b" " * (MAX_COMMAND_BYTES - 3),
        b"x" * 10_000,
    ],
)
def test_parse_command_rejects_odd_payloads(payload: bytes) -> None:
    assert parse_command("aftercare/bedroom/command", payload, topic_prefix="aftercare") is None


def test_a_payload_of_exactly_the_limit_is_read() -> None:
    payload = b"stop" + b" " * (MAX_COMMAND_BYTES - 4)
    assert len(payload) == MAX_COMMAND_BYTES
    result = parse_command("aftercare/bedroom/command", payload, topic_prefix="aftercare")
    assert result == ("bedroom", "stop")


def test_buttons_and_actions_agree() -> None:
    assert ACTIONS == ("start_aftercare", "start_breathing", "cooldown", "stop")
    assert [b.action for b in BUTTONS] == list(ACTIONS)
    assert all(b.icon.startswith("mdi:") for b in BUTTONS)


def test_state_message_is_retained_compact_json() -> None:
    state = SiteState(Activity.BREATHING, detail="box", phase="inhale")
    message = state_message("aftercare", "bedroom", state)
    assert message == Outgoing(
        "aftercare/bedroom/state",
        b'{"activity":"breathing","detail":"box","phase":"inhale","paused":false}',
        retain=True,
    )


def test_idle_and_paused_states() -> None:
    assert state_message("aftercare", "bedroom", IDLE).payload == (
        b'{"activity":"idle","detail":null,"phase":null,"paused":false}'
    )
    paused = SiteState(Activity.ROUTINE, detail="Gentle landing", phase="speak", paused=True)
    assert json.loads(state_message("aftercare", "guest-room", paused).payload) == {
        "activity": "routine",
        "detail": "Gentle landing",
        "phase": "speak",
        "paused": True,
    }


def test_state_activity_is_one_of_the_sensor_options() -> None:
    sensor = config_of(discover(("bedroom",))[-1])
    assert sensor["options"] == list(ACTIVITIES)
    for activity in ACTIVITIES:
        state = SiteState(cast(Any, activity))
        assert (
            json.loads(state_message("aftercare", "bedroom", state).payload)["activity"]
            in (sensor["options"])
        )
    with pytest.raises(ValueError, match="choose one of: idle, routine, breathing, cooldown"):
        SiteState(cast(Any, "sleeping"))
