"""The demo's own small dialogue manager: what is typed answers the question that listens.

With Rhasspy, a check-in or a planning question is an action session of the dialogue
manager: the skill publishes startSession with an intent filter and a token, and the answer
comes back as an intent carrying both. The demo has no dialogue manager, so this plays its
part for the demo's one site: it opens the session the skill asks for, recognizes the next
typed line with that session's filter, and ends it as Rhasspy would (intentNotRecognized
when the line is none of the expected answers).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as paho

from skill.hermes.client import new_client
from skill.hermes.messages import intent_topic
from skill.language.nlu import Recognizer

START_SESSION = "hermes/dialogueManager/startSession"
END_SESSION = "hermes/dialogueManager/endSession"
SESSION_STARTED = "hermes/dialogueManager/sessionStarted"
SESSION_ENDED = "hermes/dialogueManager/sessionEnded"


@dataclass(frozen=True)
class Listening:
    """One session the skill opened and waits in."""

    session_id: str
    custom_data: str | None
    intent_filter: tuple[str, ...]


class DemoSessions:
    """Opens the skill's listening sessions on the demo's site and answers them."""

    def __init__(self, host: str, port: int, site_id: str) -> None:
        self._site = site_id
        self._lock = threading.Lock()
        self._open: Listening | None = None
        self._subscribed = threading.Event()
        self._client = new_client("aftercare-demo-sessions")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()
        # Listening before the first question can be asked (the broker is local).
        self._subscribed.wait(5.0)

    @property
    def listening(self) -> bool:
        """True while a question waits for its answer."""
        with self._lock:
            return self._open is not None

    def answer(
        self, recognizer: Recognizer, text: str
    ) -> Literal["answered", "unrecognized", "no question"]:
        """Answer the open question with `text`: "answered" (its intent was sent),
        "unrecognized" (none of the expected answers: the session ended so), or "no
        question" when none is open."""
        with self._lock:
            session, self._open = self._open, None
        if session is None:
            return "no question"
        found = recognizer.recognize(
            text,
            site_id=self._site,
            session_id=session.session_id,
            intent_filter=session.intent_filter,
        )
        if found is None:
            self._ended(session, "intentNotRecognized")
            return "unrecognized"
        found.custom_data = session.custom_data
        self._client.publish(intent_topic(found.intent.intent_name), found.payload(), qos=1)
        return "answered"

    def close(self) -> None:
        """Disconnect."""
        self._client.loop_stop()
        self._client.disconnect()

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        client.subscribe([(START_SESSION, 1), (END_SESSION, 1)])

    def _on_message(self, client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if msg.topic == START_SESSION and data.get("siteId") == self._site:
            init = data.get("init") or {}
            custom = data.get("customData")
            session = Listening(
                session_id=uuid.uuid4().hex,
                custom_data=custom if isinstance(custom, str) else None,
                intent_filter=tuple(str(name) for name in init.get("intentFilter") or ()),
            )
            with self._lock:
                self._open = session
            started = {
                "sessionId": session.session_id,
                "siteId": self._site,
                "customData": session.custom_data,
            }
            client.publish(SESSION_STARTED, json.dumps(started), qos=1)
        elif msg.topic == END_SESSION:
            with self._lock:
                if self._open is not None and self._open.session_id == data.get("sessionId"):
                    self._open = None  # the skill gave up waiting (its answer timed out)

    def _ended(self, session: Listening, reason: str) -> None:
        ended = {
            "sessionId": session.session_id,
            "siteId": self._site,
            "customData": session.custom_data,
            "termination": {"reason": reason},
        }
        self._client.publish(SESSION_ENDED, json.dumps(ended), qos=1)
