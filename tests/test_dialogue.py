"""Check-in sessions: the startSession we send and how answers find their way back."""

from __future__ import annotations

import asyncio
import json

import pytest
from rhasspyhermes.intent import Intent
from rhasspyhermes.nlu import NluIntent

from skill.hermes.dialogue import Answer, Dialogues, SessionEvent, Unclear, parse_session_event
from skill.hermes.messages import BadMessage, Outgoing


def answer(name: str, *, session: str | None, custom: str | None) -> NluIntent:
    return NluIntent(
        input="",
        intent=Intent(intent_name=name, confidence_score=1.0),
        site_id="bedroom",
        session_id=session,
        custom_data=custom,
    )


async def check_in(
    intents: list[str],
) -> tuple[Dialogues, asyncio.Task[Answer | None], str]:
    """A check-in on the bedroom, asked and waiting: its dialogues, the ask, its token."""
    sent: list[Outgoing] = []
    dialogues = Dialogues(sent.append)
    asking = asyncio.create_task(dialogues.ask("bedroom", intents))
    await asyncio.sleep(0)
    return dialogues, asking, json.loads(sent[0].payload)["customData"]


@pytest.mark.asyncio
async def test_ask_sends_an_enqueued_action_session_and_gets_the_answer() -> None:
    sent: list[Outgoing] = []
    dialogues = Dialogues(sent.append)
    asking = asyncio.create_task(dialogues.ask("bedroom", ["AftercareFeeling", "AftercareStop"]))
    await asyncio.sleep(0)
    [start] = sent
    body = json.loads(start.payload)
    assert start.topic == "hermes/dialogueManager/startSession"
    assert body["siteId"] == "bedroom"
    assert body["init"] == {
        "type": "action",
        "canBeEnqueued": True,
        "text": None,
        "intentFilter": ["AftercareFeeling", "AftercareStop"],
        "sendIntentNotRecognized": False,
    }
    token = body["customData"]
    dialogues.session_started(SessionEvent("s1", "bedroom", token))
    reply = answer("AftercareFeeling", session="s1", custom=None)
    assert dialogues.answer(reply)
    assert await asking is reply
    assert not dialogues.answer(reply), "answered once: the check-in is closed"


@pytest.mark.asyncio
async def test_session_ended_without_answer_means_none() -> None:
    dialogues, asking, token = await check_in(["AftercareNeed"])
    dialogues.session_ended(SessionEvent("s2", "bedroom", token, "timeout"))
    assert await asking is None


@pytest.mark.asyncio
async def test_an_answer_the_recognizer_did_not_understand_is_unclear_not_none() -> None:
    """Rhasspy's dialogue manager ends the session with intentNotRecognized when the NLU
    heard words but matched no intent of the filter: something was said, and deserves a reply."""
    dialogues, asking, token = await check_in(["AftercareFeeling"])
    dialogues.session_started(SessionEvent("s4", "bedroom", token))
    dialogues.session_ended(SessionEvent("s4", "bedroom", token, "intentNotRecognized"))
    assert await asking == Unclear("bedroom")


@pytest.mark.asyncio
async def test_our_own_timeout_closes_an_open_session() -> None:
    sent: list[Outgoing] = []
    dialogues = Dialogues(sent.append)
    asking = asyncio.create_task(dialogues.ask("bedroom", ["AftercareNeed"], seconds=0.05))
    await asyncio.sleep(0)
    token = json.loads(sent[0].payload)["customData"]
    dialogues.session_started(SessionEvent("s3", "bedroom", token))
    assert await asking is None
    assert sent[-1].topic == "hermes/dialogueManager/endSession"
    assert json.loads(sent[-1].payload)["sessionId"] == "s3"


def test_other_intents_are_not_answers() -> None:
    dialogues = Dialogues(lambda _m: None)
    assert not dialogues.answer(answer("AftercareFeeling", session="x", custom="other"))


def test_parse_session_event() -> None:
    event = parse_session_event(
        b'{"sessionId": "s", "siteId": "bedroom", "customData": "c", '
        b'"termination": {"reason": "timeout"}}'
    )
    assert event == SessionEvent("s", "bedroom", "c", "timeout")
    with pytest.raises(BadMessage):
        parse_session_event(b"[]")
    with pytest.raises(BadMessage):
        parse_session_event(b"not json")


@pytest.mark.asyncio
async def test_a_look_is_ours_only_while_a_check_in_listens_in_that_session() -> None:
    """A sentence of a check-in's session is read again as its answer (`look` gives the
    check-in's token); any other sentence is looked at as a request (None)."""
    dialogues, asking, token = await check_in(["AftercareFeeling"])
    assert dialogues.look("s3") is None, "no session started yet"
    dialogues.session_started(SessionEvent("s3", "bedroom", token))
    assert dialogues.look("another") is None
    assert dialogues.look(None) is None
    assert dialogues.look("s3") == token
    dialogues.answer(answer("AftercareFeeling", session="s3", custom=None))
    await asking
    assert dialogues.look("s3") is None
