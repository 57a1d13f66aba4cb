"""The Hermes side: parse incoming messages strictly, build outgoing ones from rhasspy-hermes."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from rhasspyhermes.audioserver import AudioPlayBytes
from rhasspyhermes.dialogue import DialogueEndSession
from rhasspyhermes.intent import Intent, Slot
from rhasspyhermes.nlu import NluIntent, NluIntentNotRecognized
from rhasspyhermes.tts import TtsSay, TtsSayFinished

from skill.base.errors import MessageError
from skill.base.text import valid_site_id

MAX_PAYLOAD_BYTES = 64 * 1024
"""Largest JSON payload the skill reads; anything bigger is dropped unread."""

INTENT_PREFIX = "hermes/intent/"


class BadMessage(MessageError):
    """A message that cannot be used; `kind` names the problem for rate-limited logging."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {detail}")


@dataclass(frozen=True)
class Outgoing:
    """One MQTT publication the skill wants to make."""

    topic: str
    """Topic to publish on."""
    payload: bytes
    """Payload bytes (JSON text or a WAV file)."""
    retain: bool = False
    """Whether the broker should keep it."""


def intent_topic(name: str) -> str:
    """hermes/intent/<name>."""
    return f"{INTENT_PREFIX}{name}"


def _json_object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise BadMessage("too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise BadMessage("not_json", type(err).__name__) from err
    if not isinstance(data, dict):
        raise BadMessage("not_object", type(data).__name__)
    return data


def _site(data: dict[str, Any]) -> str:
    site = data.get("siteId", "default")
    if not valid_site_id(site):
        raise BadMessage("bad_site_id", "siteId must be 1-64 chars without / + # or spaces")
    return str(site)


def _optional_str(data: dict[str, Any], key: str, limit: int = 256) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadMessage(f"bad_{key}", f"{key} must be a text of at most {limit} characters")
    return value


def parse_intent(topic: str, payload: bytes) -> NluIntent:
    """A validated NluIntent from hermes/intent/<name>; raises BadMessage."""
    data = _json_object(payload)
    intent = data.get("intent")
    if not isinstance(intent, dict) or not isinstance(intent.get("intentName"), str):
        raise BadMessage("no_intent_name", "intent.intentName missing")
    name = intent["intentName"]
    if topic != intent_topic(name):
        raise BadMessage("topic_mismatch", "intentName does not match the topic")
    confidence = intent.get("confidenceScore", 1.0)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise BadMessage("bad_confidence", "confidenceScore must be a number")
    text = data.get("input", "")
    if not isinstance(text, str) or len(text) > 1000:
        raise BadMessage("bad_input", "input must be a text of at most 1000 characters")
    raw_slots = data.get("slots") or []
    if not isinstance(raw_slots, list) or len(raw_slots) > 20:
        raise BadMessage("bad_slots", "slots must be a list of at most 20 slots")
    slots = [_slot(item) for item in raw_slots]
    return NluIntent(
        input=text,
        intent=Intent(intent_name=name, confidence_score=float(confidence)),
        site_id=_site(data),
        session_id=_optional_str(data, "sessionId"),
        custom_data=_optional_str(data, "customData", 4096),
        slots=slots,
        raw_input=_optional_str(data, "rawInput", 1000),
        lang=_optional_str(data, "lang", 16),
    )


def parse_not_recognized(payload: bytes) -> tuple[str, str, str | None]:
    """hermes/nlu/intentNotRecognized: (input, siteId, sessionId); raises BadMessage."""
    data = _json_object(payload)
    text = _optional_str(data, "input", 1000) or ""
    return text, _site(data), _optional_str(data, "sessionId")


def _slot(item: object) -> Slot:
    if not isinstance(item, dict):
        raise BadMessage("bad_slot", "a slot must be an object")
    name = item.get("slotName")
    value = item.get("value")
    if not isinstance(name, str) or len(name) > 64:
        raise BadMessage("bad_slot", "slotName must be a short text")
    if not isinstance(value, dict) or "value" not in value:
        raise BadMessage("bad_slot", "slot value must be an object with a value")
    inner = value["value"]
    if isinstance(inner, float) and not math.isfinite(inner):
        raise BadMessage("bad_slot", "slot value must be finite")
    if not isinstance(inner, str | int | float) or (isinstance(inner, str) and len(inner) > 200):
        raise BadMessage("bad_slot", "slot value must be a short text or a number")
    raw_value = item.get("rawValue", "")
    entity = item.get("entity", name)
    return Slot(
        entity=entity if isinstance(entity, str) else name,
        slot_name=name,
        value={"kind": value.get("kind", "Unknown"), "value": inner},
        raw_value=raw_value if isinstance(raw_value, str) else "",
        confidence=1.0,
    )


def slot(intent: NluIntent, name: str) -> str | int | float | None:
    """The value of slot `name` (numbers stay numbers), or None."""
    for item in intent.slots or []:
        if item.slot_name == name and isinstance(item.value, dict):
            value = item.value.get("value")
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                return value
    return None


def slot_values(intent: NluIntent, name: str) -> list[str]:
    """Every text value of slot `name`, in the order said ("fine but sore": two feelings)."""
    return [
        item.value["value"]
        for item in intent.slots or []
        if item.slot_name == name
        and isinstance(item.value, dict)
        and isinstance(item.value.get("value"), str)
    ]


def parse_play_finished(payload: bytes) -> str:
    """The request id from a playFinished message; raises BadMessage."""
    return _request_id(payload, "bad_play_finished")


def parse_say_finished(payload: bytes) -> str:
    """The request id from a tts/sayFinished message; raises BadMessage."""
    return _request_id(payload, "bad_say_finished")


def _request_id(payload: bytes, kind: str) -> str:
    request_id = _json_object(payload).get("id")
    if not isinstance(request_id, str):
        raise BadMessage(kind, "id must be a text")
    return request_id


def end_session(session_id: str, text: str | None = None) -> Outgoing:
    """hermes/dialogueManager/endSession for this session."""
    message = DialogueEndSession(session_id=session_id, text=text)
    return Outgoing(message.topic(), str(message.payload()).encode("utf-8"))


def play_bytes(site_id: str, request_id: str, wav: bytes) -> Outgoing:
    """hermes/audioServer/<site>/playBytes/<id> with a complete WAV file."""
    message = AudioPlayBytes(wav_bytes=wav)
    return Outgoing(message.topic(site_id=site_id, request_id=request_id), wav)


def tts_say(site_id: str, request_id: str, text: str, volume: float | None = None) -> Outgoing:
    """hermes/tts/say for text spoken by the Hermes TTS service."""
    message = TtsSay(text=text, site_id=site_id, id=request_id, volume=volume)
    return Outgoing(message.topic(), str(message.payload()).encode("utf-8"))


SAY_FINISHED_TOPIC = str(TtsSayFinished.topic())
NOT_RECOGNIZED_TOPIC = str(NluIntentNotRecognized.topic())
PLAY_FINISHED_ALL_SITES = "hermes/audioServer/+/playFinished"
