"""The demo's stand-in dialogue manager: a typed line answers the question that listens."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from support.fakes import recognizer
from support.mqtt_recorder import MqttRecorder

from skill.demo.sessions import END_SESSION, SESSION_ENDED, SESSION_STARTED, DemoSessions
from skill.hermes.broker import EmbeddedBroker
from skill.site.planning import PLAN_ANSWERS

SITE = "bedroom"
TOKEN = "aftercare-checkin:abc"


@pytest.fixture
def wire(mosquitto: EmbeddedBroker) -> Iterator[tuple[MqttRecorder, DemoSessions]]:
    recorder = MqttRecorder(mosquitto.host, mosquitto.port, ["hermes/#"]).start()
    sessions = DemoSessions(mosquitto.host, mosquitto.port, SITE)
    try:
        yield recorder, sessions
    finally:
        sessions.close()
        recorder.close()


def ask(recorder: MqttRecorder, site: str = SITE) -> str:
    """Publish the skill's startSession; the session id the demo opened."""
    start = {
        "siteId": site,
        "customData": TOKEN,
        "init": {"type": "action", "canBeEnqueued": True, "intentFilter": list(PLAN_ANSWERS)},
    }
    recorder.publish("hermes/dialogueManager/startSession", json.dumps(start))
    started = recorder.wait_for(lambda m: m.topic == SESSION_STARTED)
    body = json.loads(started.payload)
    assert (body["siteId"], body["customData"]) == (site, TOKEN)
    return str(body["sessionId"])


def test_a_typed_answer_goes_back_in_the_session_with_its_filter(
    wire: tuple[MqttRecorder, DemoSessions],
) -> None:
    recorder, sessions = wire
    nlu = recognizer()
    assert sessions.answer(nlu, "mostly quiet") == "no question"  # nothing listens yet
    session = ask(recorder)
    recorder.wait_for(lambda _m: sessions.listening)
    # Only the planning filter makes this a plan answer (context-only).
    assert sessions.answer(nlu, "mostly quiet") == "answered"
    intent = json.loads(
        recorder.wait_for(lambda m: m.topic == "hermes/intent/AftercarePlanAnswer").payload
    )
    assert (intent["sessionId"], intent["customData"]) == (session, TOKEN)
    assert not sessions.listening


def test_a_line_that_is_no_answer_ends_the_session_unrecognized(
    wire: tuple[MqttRecorder, DemoSessions],
) -> None:
    recorder, sessions = wire
    session = ask(recorder)
    recorder.wait_for(lambda _m: sessions.listening)
    assert sessions.answer(recognizer(), "what time is it") == "unrecognized"
    ended = json.loads(recorder.wait_for(lambda m: m.topic == SESSION_ENDED).payload)
    assert ended["sessionId"] == session
    assert ended["termination"]["reason"] == "intentNotRecognized"


def test_the_skill_giving_up_closes_the_question_and_other_sites_are_left_alone(
    wire: tuple[MqttRecorder, DemoSessions],
) -> None:
    recorder, sessions = wire
    session = ask(recorder)
    recorder.publish(END_SESSION, json.dumps({"sessionId": session}))
    deadline = time.monotonic() + 5
    while sessions.listening and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not sessions.listening
    other = {"siteId": "kitchen", "customData": TOKEN, "init": {"type": "action"}}
    recorder.publish("hermes/dialogueManager/startSession", json.dumps(other))
    recorder.publish("hermes/dialogueManager/startSession", b"not json")
    recorder.publish("hermes/dialogueManager/startSession", b"[1]")
    # A question on the demo's own site after them: it is answered, they were not.
    start = {"siteId": SITE, "customData": "second", "init": {"type": "action"}}
    recorder.publish("hermes/dialogueManager/startSession", json.dumps(start))
    recorder.wait_for(
        lambda m: m.topic == SESSION_STARTED and json.loads(m.payload)["customData"] == "second"
    )
    assert [json.loads(m.payload)["siteId"] for m in recorder.messages(SESSION_STARTED)] == [
        SITE,
        SITE,
    ]
