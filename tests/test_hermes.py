"""Hermes messages: strict parsing of what arrives, exact shapes of what leaves.

Also the proof that rhasspy-hermes' message classes work with the overridden pins
(paho-mqtt 2.x, dataclasses-json 0.6.x) that replace its stale ones.
"""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest
from rhasspyhermes.audioserver import AudioPlayBytes, AudioPlayFinished
from rhasspyhermes.dialogue import DialogueEndSession, DialogueSessionEnded
from rhasspyhermes.nlu import NluIntent

from skill.hermes.messages import (
    MAX_PAYLOAD_BYTES,
    BadMessage,
    end_session,
    parse_intent,
    parse_play_finished,
    play_bytes,
    slot,
    tts_say,
)
from skill.voice.audio import wav_bytes

# The shape rhasspy-nlu-hermes 0.5 publishes for "breathe with us for five minutes".
RHASSPY_INTENT = {
    "input": "breathe with us for 5 minutes",
    "intent": {"intentName": "AftercareBreathe", "confidenceScore": 1.0},
    "siteId": "bedroom",
    "id": None,
    "slots": [
        {
            "entity": "minutes",
            "value": {"kind": "Number", "value": 5},
            "slotName": "minutes",
            "rawValue": "five",
            "confidence": 1.0,
            "range": {"start": 20, "end": 21, "rawStart": 20, "rawEnd": 24},
        }
    ],
    "sessionId": "bedroom-porcupine-1d3c",
    "customData": None,
    "asrTokens": [],
    "asrConfidence": None,
    "rawInput": "breathe with us for five minutes",
    "wakewordId": "porcupine",
    "lang": None,
}
TOPIC = "hermes/intent/AftercareBreathe"


def payload(**changes: object) -> bytes:
    data = {**RHASSPY_INTENT, **changes}
    return json.dumps(data).encode()


def test_overridden_pins_are_current() -> None:
    assert int(version("paho-mqtt").split(".")[0]) >= 2
    major, minor = (int(p) for p in version("dataclasses-json").split(".")[:2])
    assert (major, minor) >= (0, 6)


def test_rhasspy_hermes_classes_round_trip_on_current_dataclasses_json() -> None:
    intent = NluIntent.from_json(json.dumps(RHASSPY_INTENT))
    assert intent.intent.intent_name == "AftercareBreathe"
    assert intent.slots is not None
    assert intent.slots[0].value == {"kind": "Number", "value": 5}
    assert json.loads(str(intent.payload()))["sessionId"] == "bedroom-porcupine-1d3c"
    ended = DialogueSessionEnded.from_dict(
        {"termination": {"reason": "nominal"}, "sessionId": "s", "siteId": "bedroom"}
    )
    assert ended.termination.reason.value == "nominal"
    assert AudioPlayFinished(id="r").payload() == '{"id": "r", "sessionId": null}'


def test_parse_real_rhasspy_intent() -> None:
    intent = parse_intent(TOPIC, payload())
    assert intent.site_id == "bedroom"
    assert intent.session_id == "bedroom-porcupine-1d3c"
    assert slot(intent, "minutes") == 5
    assert slot(intent, "pattern") is None


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'{"intent": 5}', "no_intent_name"),
        (payload(siteId="a/b"), "bad_site_id"),
        (payload(siteId="+"), "bad_site_id"),
        (payload(siteId="x" * 65), "bad_site_id"),
        (payload(siteId=7), "bad_site_id"),
        (payload(sessionId=["x"]), "bad_sessionId"),
        (payload(slots="five"), "bad_slots"),
        (payload(slots=[{"slotName": "minutes", "value": {"value": [1]}}]), "bad_slot"),
        (payload(slots=[{"slotName": "minutes", "value": 5}]), "bad_slot"),
        (payload(input=7), "bad_input"),
        (
            payload(intent={"intentName": "AftercareStop", "confidenceScore": 1}),
            "topic_mismatch",
        ),
        (b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", "too_large"),
    ],
)
def test_malformed_intents_are_rejected_with_a_kind(data: bytes, kind: str) -> None:
    with pytest.raises(BadMessage) as caught:
        parse_intent(TOPIC, data)
    assert caught.value.kind == kind


def test_nan_slot_is_rejected() -> None:
    raw = payload().replace(b'"value": 5}', b'"value": NaN}')
    with pytest.raises(BadMessage, match="finite"):
        parse_intent(TOPIC, raw)


def test_missing_site_defaults_like_rhasspy() -> None:
    data = dict(RHASSPY_INTENT)
    del data["siteId"]
    assert parse_intent(TOPIC, json.dumps(data).encode()).site_id == "default"


def test_outgoing_shapes() -> None:
    ended = end_session("abc")
    assert ended.topic == "hermes/dialogueManager/endSession"
    assert json.loads(ended.payload) == DialogueEndSession(session_id="abc").to_dict()
    wav = wav_bytes(b"\x00\x00" * 100, 22050)
    clip = play_bytes("bedroom", "r1", wav)
    assert clip.topic == AudioPlayBytes.topic(site_id="bedroom", request_id="r1")
    assert clip.payload[:4] == b"RIFF"
    say = json.loads(tts_say("bedroom", "r2", "Hello.").payload)
    assert say["siteId"] == "bedroom"
    assert say["id"] == "r2"
    assert say["text"] == "Hello."
    assert parse_play_finished(b'{"id": "r1", "sessionId": null}') == "r1"
