"""Hostile and malformed input on every subscribed topic: no crash, nothing published to a
topic built from unvalidated input, memory bounded, each kind of problem counted."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from datetime import UTC
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skill.app import assemble, project_dir
from skill.assets import load_assets
from skill.base.clock import Clock
from skill.config.loader import parse_config
from skill.config.settings import Config
from skill.hermes.messages import Outgoing
from skill.hermes.mqtt import Incoming
from skill.service import OPEN_SITES_MAX, Skill
from skill.site.memory import Memory

CONFIG = parse_config(
    {
        "sites": ["bedroom"],
        "voice": {"engine": "hermes"},
        "devices": [{"name": "p", "play": {"topic": "p/set", "payload": '{"p": "{playlist}"}'}}],
    }
)
ASSETS = load_assets(CONFIG, project_dir())
SAFE_TOPIC = re.compile(
    r"^(hermes/(tts/say|dialogueManager/(endSession|startSession))"
    r"|hermes/audioServer/bedroom/playBytes/[0-9a-f-]{36}"
    r"|aftercare/bedroom/(state|command)|p/set|homeassistant/.+)$"
)
TOPICS = [
    "hermes/intent/AftercareStart",
    "hermes/intent/AftercareBreathe",
    "hermes/intent/AftercareStop",
    "hermes/intent/AftercareFeeling",
    "hermes/intent/AftercarePrefer",
    "hermes/audioServer/bedroom/playFinished",
    "hermes/tts/sayFinished",
    "hermes/dialogueManager/sessionStarted",
    "hermes/dialogueManager/sessionEnded",
    "aftercare/bedroom/command",
    "aftercare/+/command",
    "homeassistant/status",
    "hermes/nlu/intentNotRecognized",
]


def make_skill(sent: list[Outgoing], config: Config = CONFIG) -> Skill:
    memory = Memory(None, tz=UTC, morning=config.morning, tonight=config.tonight)
    return assemble(
        config, ASSETS, publish=sent.append, clips=None, clock=Clock(0.001), memory=memory
    )


def stop_from(site_id: str, session_id: str | None = None) -> Incoming:
    """A well-formed "stop" from a site (inside a session when session_id is given)."""
    body = {
        "input": "stop",
        "intent": {"intentName": "AftercareStop", "confidenceScore": 1},
        "siteId": site_id,
        "sessionId": session_id,
    }
    return Incoming("hermes/intent/AftercareStop", json.dumps(body).encode(), False)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
site_ids = st.sampled_from(
    ["bedroom", "kitchen", "a/b", "+", "#", "x" * 200, "x" * 10_000, "", "bed room"]
)


@st.composite
def intent_like(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(["AftercareStart", "AftercareBreathe", "AftercareStop", "Nope"]))
    slots = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "slotName": st.sampled_from(["minutes", "rounds", "pattern", "playlist", "x"]),
                    "value": st.fixed_dictionaries({"value": json_values}),
                }
            ),
            max_size=3,
        )
    )
    body: dict[str, Any] = {
        "input": draw(st.text(max_size=40)),
        "intent": {"intentName": name, "confidenceScore": draw(json_values)},
        "siteId": draw(site_ids),
        "sessionId": draw(st.one_of(st.none(), st.text(max_size=20), st.integers())),
        "slots": slots,
    }
    return json.dumps(body, allow_nan=True).encode()


payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    intent_like(),
    st.just(b"{" + b" " * 70_000 + b"}"),
    st.sampled_from([b"start_breathing", b"stop", b"online", b"\xff\xfe", b""]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(st.tuples(st.sampled_from(TOPICS), payloads, st.booleans()), max_size=8))
def test_no_input_crashes_or_builds_a_topic(messages: list[tuple[str, bytes, bool]]) -> None:
    """The service's boundary catches everything, so "no crash" means no ERROR was logged:
    an exception it had to swallow is a crash that nobody would otherwise see."""

    async def run() -> list[Outgoing]:
        sent: list[Outgoing] = []
        skill = make_skill(sent)
        for topic, payload, retain in messages:
            skill.on_message(Incoming(topic, payload, retain))
        await asyncio.sleep(0.01)
        await skill.close()
        return sent

    errors = _ErrorLog()
    logger = logging.getLogger("skill")
    logger.addHandler(errors)
    try:
        sent = asyncio.run(run())
    finally:
        logger.removeHandler(errors)
    assert errors.records == [], [r.getMessage() for r in errors.records]
    for message in sent:
        assert SAFE_TOPIC.match(message.topic), message.topic


class _ErrorLog(logging.Handler):
    """Keeps every record at ERROR or above."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_each_problem_kind_is_counted_and_the_skill_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> tuple[Skill, list[Outgoing]]:
        sent: list[Outgoing] = []
        skill = make_skill(sent)
        for _ in range(50):
            skill.on_message(Incoming("hermes/intent/AftercareStop", b"not json", False))
        skill.on_message(Incoming("hermes/intent/AftercareStop", b'{"intent": 1}', False))
        skill.on_message(stop_from("bedroom", "s1"))
        await asyncio.sleep(0.01)
        await skill.close()
        return skill, sent

    skill, sent = asyncio.run(run())
    assert skill.problems.count("not_json") == 50
    assert skill.problems.count("no_intent_name") == 1
    assert any(m.topic == "hermes/dialogueManager/endSession" for m in sent)
    warnings = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(warnings) == 2  # once per kind, not once per message


def test_with_no_sites_list_made_up_site_ids_cannot_grow_the_skill_without_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Any client on the broker can invent site ids; past OPEN_SITES_MAX they are ignored."""

    async def run() -> list[Outgoing]:
        sent: list[Outgoing] = []
        skill = make_skill(sent, dataclasses.replace(CONFIG, sites=()))
        for number in range(OPEN_SITES_MAX * 4):
            skill.on_message(stop_from(f"made-up-{number}"))
        await asyncio.sleep(0.05)
        skill.on_message(stop_from("made-up-0"))  # a site heard before is still served
        await asyncio.sleep(0.05)
        await skill.close()
        return sent

    sent = asyncio.run(run())
    spoken = [json.loads(m.payload)["siteId"] for m in sent if m.topic == "hermes/tts/say"]
    assert set(spoken) == {f"made-up-{number}" for number in range(OPEN_SITES_MAX)}
    assert spoken.count("made-up-0") == 2
    crowded = [r for r in caplog.records if "no `sites` list" in r.getMessage()]
    assert len(crowded) == 1  # said once, not once per message
