"""The second look: what Rhasspy matched only in part, or not at all, recognized again by the
built-in recognizer (its clauses), acted on when it finds a request, ignored otherwise."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC
from typing import Any

import pytest
from rhasspyhermes.nlu import NluIntent

from skill.app import assemble, project_dir
from skill.assets import load_assets, load_recognizer
from skill.base.clock import Clock
from skill.config.loader import parse_config
from skill.hermes.messages import NOT_RECOGNIZED_TOPIC, Outgoing
from skill.hermes.mqtt import Incoming
from skill.language.nlu import Recognizer
from skill.language.second_look import SecondLook
from skill.service import Skill
from skill.site.memory import Memory

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio]

CONFIG = parse_config({"sites": ["bedroom"], "voice": {"engine": "hermes"}})
ASSETS = load_assets(CONFIG, project_dir())
SITE = "bedroom"


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return load_recognizer(CONFIG, project_dir())


class CountingLoad:
    """Hands out the recognizer and counts how often it was loaded."""

    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer
        self.loads = 0

    def __call__(self) -> Recognizer:
        self.loads += 1
        return self.recognizer


def make_skill(sent: list[Outgoing], look: SecondLook | None) -> Skill:
    memory = Memory(None, tz=UTC, morning=CONFIG.morning, tonight=CONFIG.tonight)
    return assemble(
        CONFIG,
        ASSETS,
        publish=sent.append,
        clips=None,
        clock=Clock(0.001),
        memory=memory,
        second_look=look,
    )


def in_part(name: str, text: str, *, session: str | None = None, raw: bool = True) -> Incoming:
    """An intent as rhasspynlu-hermes publishes a fuzzy match: confidence below one."""
    body: dict[str, Any] = {
        "input": text if not raw else "breathe",
        "intent": {"intentName": name, "confidenceScore": 0.6},
        "siteId": SITE,
        "sessionId": session,
    }
    if raw:
        body["rawInput"] = text
    return Incoming(f"hermes/intent/{name}", json.dumps(body).encode(), False)


def not_recognized(text: str, session: str | None = None) -> Incoming:
    body = {"input": text, "siteId": SITE, "sessionId": session}
    return Incoming(NOT_RECOGNIZED_TOPIC, json.dumps(body).encode(), False)


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(
            in_part("AftercareBreathe", "that was a lot, can you breathe with us"), id="in-part"
        ),
        pytest.param(not_recognized("we're back so start breathing please"), id="not-recognized"),
    ],
)
async def test_a_request_in_clauses_is_acted_on(recognizer: Recognizer, message: Incoming) -> None:
    sent: list[Outgoing] = []
    load = CountingLoad(recognizer)
    skill = make_skill(sent, SecondLook(load))
    try:
        assert NOT_RECOGNIZED_TOPIC in skill.subscriptions()
        skill.on_message(message)
        await skill.looked()
        assert skill.activity(SITE) == "breathing"
        assert load.loads == 1
    finally:
        await skill.close()


@pytest.mark.parametrize(
    ("message", "looks"),
    [
        # fuzzy matching heard the safeword in it; the second look finds nothing
        pytest.param(in_part("AftercareStop", "red wine or white wine"), 1, id="safeword-inside"),
        pytest.param(not_recognized("okay, what's the weather like"), 1, id="unrelated"),
        pytest.param(not_recognized(""), 0, id="empty"),
        # without rawInput only the matched words are known ("red"): never looked at again
        pytest.param(in_part("AftercareStop", "red", raw=False), 0, id="in-part-without-raw-input"),
    ],
)
async def test_what_is_not_for_us_stays_ignored(
    recognizer: Recognizer, message: Incoming, looks: int
) -> None:
    sent: list[Outgoing] = []
    load = CountingLoad(recognizer)
    skill = make_skill(sent, SecondLook(load))
    try:
        skill.on_message(message)
        await skill.looked()
        assert load.loads == looks
        assert skill.activity(SITE) == ""
        assert not [m for m in sent if "tts/say" in m.topic or "playBytes" in m.topic]
    finally:
        await skill.close()


async def test_the_recognizer_loads_once_for_many_looks(recognizer: Recognizer) -> None:
    sent: list[Outgoing] = []
    load = CountingLoad(recognizer)
    skill = make_skill(sent, SecondLook(load))
    try:
        for _ in range(3):
            skill.on_message(not_recognized("okay, what's the weather like"))
        await skill.looked()
        assert load.loads == 1
    finally:
        await skill.close()


async def test_without_a_second_look_nothing_is_subscribed_or_done() -> None:
    sent: list[Outgoing] = []
    skill = make_skill(sent, None)
    try:
        assert NOT_RECOGNIZED_TOPIC not in skill.subscriptions()
        skill.on_message(not_recognized("we're back so start breathing please"))
        skill.on_message(in_part("AftercareBreathe", "that was a lot, can you breathe with us"))
        await skill.looked()
        assert skill.activity(SITE) == ""
        assert skill.problems.count("bad_site_id") == 0
    finally:
        await skill.close()


async def test_a_malformed_not_recognized_is_dropped_and_counted(recognizer: Recognizer) -> None:
    sent: list[Outgoing] = []
    skill = make_skill(sent, SecondLook(CountingLoad(recognizer)))
    try:
        skill.on_message(Incoming(NOT_RECOGNIZED_TOPIC, b"[1, 2]", False))
        bad_site = json.dumps({"input": "start breathing", "siteId": "a/b"}).encode()
        skill.on_message(Incoming(NOT_RECOGNIZED_TOPIC, bad_site, False))
        assert skill.problems.count("not_object") == 1
        assert skill.problems.count("bad_site_id") == 1
    finally:
        await skill.close()


def session_message(kind: str, token: str, **extra: Any) -> Incoming:
    """sessionStarted or sessionEnded of the check-in with this token, in session s1."""
    body = {"sessionId": "s1", "siteId": SITE, "customData": token, **extra}
    return Incoming(f"hermes/dialogueManager/{kind}", json.dumps(body).encode(), False)


NOT_UNDERSTOOD = {"termination": {"reason": "intentNotRecognized"}}
PATIENT = 10_000.0
"""Seconds a check-in listens here: ten real seconds at the skill's time scale (0.001),
so the first look (the recognizer loading) never races the time-out."""


async def test_inside_a_check_in_a_request_is_no_answer_and_starts_nothing(
    recognizer: Recognizer,
) -> None:
    """Inside a check-in, what the session did not recognize is read again with the
    check-in's own filter: a request it does not listen for stays an unclear answer
    (and nothing starts), even when the session's end comes before the look is done; a
    sentence recognized in part is an unclear answer too."""
    sent: list[Outgoing] = []
    load = CountingLoad(recognizer)
    skill = make_skill(sent, SecondLook(load))
    dialogues = skill._dialogues
    try:
        asking = asyncio.create_task(
            dialogues.ask(SITE, ["AftercareFeeling", "AftercareStop"], seconds=PATIENT)
        )
        await asyncio.sleep(0)
        token = json.loads(sent[-1].payload)["customData"]
        skill.on_message(session_message("sessionStarted", token))
        skill.on_message(not_recognized("we're back so start breathing please", session="s1"))
        skill.on_message(session_message("sessionEnded", token, **NOT_UNDERSTOOD))
        answer = await asking
        await skill.looked()
        assert type(answer).__name__ == "Unclear"
        assert load.loads == 1
        assert skill.activity(SITE) == ""

        asking = asyncio.create_task(
            dialogues.ask(SITE, ["AftercareFeeling", "AftercareStop"], seconds=PATIENT)
        )
        await asyncio.sleep(0)
        token = json.loads(sent[-1].payload)["customData"]
        skill.on_message(session_message("sessionStarted", token))
        skill.on_message(in_part("AftercareStop", "we're back so start breathing", session="s1"))
        assert type(await asking).__name__ == "Unclear"
        await skill.looked()
        assert skill.activity(SITE) == ""
    finally:
        await skill.close()


async def test_inside_a_check_in_an_answer_in_clauses_is_its_answer(
    recognizer: Recognizer,
) -> None:
    """What Rhasspy's session did not recognize ("the cool down one" to the planning music
    question, an answer in clauses) is the check-in's answer when the skill's own
    recognizer understands it with the check-in's filter; the session's end
    ("intentNotRecognized") waits for that look."""
    from skill.site.planning import PLAN_ANSWERS

    sent: list[Outgoing] = []
    skill = make_skill(sent, SecondLook(CountingLoad(recognizer)))
    dialogues = skill._dialogues
    try:
        for text, expected, intent, slots in (
            ("the cool down one", PLAN_ANSWERS, "AftercarePlanAnswer", {"playlist": "Cool down"}),
            (
                "okay, we're fine, thank you",
                ("AftercareFeeling", "AftercareStop"),
                "AftercareFeeling",
                {"feeling": "okay"},
            ),
        ):
            asking = asyncio.create_task(dialogues.ask(SITE, expected, seconds=PATIENT))
            await asyncio.sleep(0)
            token = json.loads(sent[-1].payload)["customData"]
            skill.on_message(session_message("sessionStarted", token))
            skill.on_message(not_recognized(text, session="s1"))
            skill.on_message(session_message("sessionEnded", token, **NOT_UNDERSTOOD))
            answer = await asking
            await skill.looked()
            assert isinstance(answer, NluIntent), text
            assert answer.intent.intent_name == intent
            assert {s.slot_name: s.value["value"] for s in answer.slots or []} == slots
            ended = [m for m in sent if m.topic == "hermes/dialogueManager/endSession"]
            assert not ended  # the dialogue manager has ended it already
    finally:
        await skill.close()


async def test_inside_a_check_in_an_answer_recognized_in_part_is_read_whole(
    recognizer: Recognizer,
) -> None:
    """Rhasspy's fuzzy matching took part of an answer ("thank you we're good" as a
    feeling, confidence below one): all that was said is read with the check-in's filter,
    and the session's end that the skill's endSession brings waits for it."""
    sent: list[Outgoing] = []
    skill = make_skill(sent, SecondLook(CountingLoad(recognizer)))
    try:
        asking = asyncio.create_task(
            skill._dialogues.ask(SITE, ["AftercareFeeling", "AftercareStop"], seconds=PATIENT)
        )
        await asyncio.sleep(0)
        token = json.loads(sent[-1].payload)["customData"]
        skill.on_message(session_message("sessionStarted", token))
        skill.on_message(in_part("AftercareFeeling", "thank you we're good", session="s1"))
        skill.on_message(session_message("sessionEnded", token, termination={"reason": "nominal"}))
        answer = await asking
        await skill.looked()
        assert isinstance(answer, NluIntent)
        assert answer.intent.intent_name == "AftercareFeeling"
        assert [s.value["value"] for s in answer.slots or []] == ["good"]
        assert answer.intent.confidence_score == 1.0
    finally:
        await skill.close()


async def test_a_request_heard_meanwhile_wins_over_a_slower_second_look(
    recognizer: Recognizer,
) -> None:
    """ "stop" said while the second look still reads the sentence before it: nothing starts."""
    sent: list[Outgoing] = []
    load = CountingLoad(recognizer)
    skill = make_skill(sent, SecondLook(load))
    try:
        skill.on_message(not_recognized("we're back so start breathing please"))
        stop = {
            "input": "stop",
            "intent": {"intentName": "AftercareStop", "confidenceScore": 1},
            "siteId": SITE,
        }
        skill.on_message(Incoming("hermes/intent/AftercareStop", json.dumps(stop).encode(), False))
        await skill.looked()
        assert load.loads == 1, "the look ran to its end"
        assert skill.activity(SITE) == ""
    finally:
        await skill.close()
