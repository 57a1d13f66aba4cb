"""Sites that speak and listen through Home Assistant (`homeassistant.speakers`).

Home Assistant satellites play no Hermes playBytes, so for such a site the skill publishes
what to play as a URL of its own audio endpoint, and the package from `aftercare
homeassistant` turns each message into a service call:

- `<prefix>/<site>/speak`: one reply or line (`assist_satellite.announce`); Home Assistant
  answers `<prefix>/<site>/finished` with the same `id` when it has played;
- `<prefix>/<site>/play`: a breathing session as one live stream (skill.voice.stream);
- `<prefix>/<site>/stop`: stop playing now (the skill also ends its stream);
- `<prefix>/<site>/ask`: a check-in question and the templates of the answers it expects
  (`assist_satellite.ask_question`); what was heard comes back on `<prefix>/<site>/answer`.

The text is in a payload only when the skill logs at DEBUG: a broker's log never holds it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skill.base.errors import ConfigError
from skill.base.text import valid_site_id
from skill.config.settings import Config
from skill.hermes.messages import BadMessage, Outgoing
from skill.voice.endpoint import AudioEndpoint
from skill.voice.stream import LiveStream

log = logging.getLogger(__name__)

ID_MAX = 64
"""Longest request id accepted back from Home Assistant."""
SENTENCE_MAX = 500
"""Longest heard sentence accepted in an answer."""
PAYLOAD_MAX = 8192
"""Largest finished/answer payload accepted."""
HEARD: tuple[Mapping[str, Any], ...] = ({"id": "heard", "sentences": ["{heard}"]},)
"""The answers a check-in asks Home Assistant to listen for: anything at all, as a
wildcard. The skill recognizes the sentence itself, as it does a Hermes check-in's answer:
its own recognizer knows the answers better than a copy would (said in clauses, the
safeword), and the templates written out in full are over 100 kB per question."""


@dataclass(frozen=True)
class Heard:
    """What Home Assistant heard after a check-in question."""

    site_id: str
    """Site asked."""
    request_id: str
    """The ask's id."""
    answer: str | None
    """Id of the answer its templates matched, or None."""
    sentence: str | None
    """All that was heard (None: nothing, or the question failed)."""
    failed: bool
    """The question could not be asked (the satellite was busy, or cannot listen)."""


class Satellites:
    """Publishes speak/play/stop/ask for Home Assistant sites and reads their replies."""

    def __init__(
        self,
        speakers: Mapping[str, str],
        endpoint: AudioEndpoint,
        publish: Callable[[Outgoing], None],
        *,
        topic_prefix: str,
        sample_rate: int,
        with_text: bool = False,
    ) -> None:
        self._speakers = dict(speakers)
        self.endpoint = endpoint
        """Serves the clips and streams the messages point at."""
        self._publish = publish
        self._prefix = topic_prefix
        self._rate = sample_rate
        self._with_text = with_text
        self._streams: dict[str, LiveStream] = {}

    async def serve(self) -> None:
        """Start serving the clips and streams (after `online`)."""
        await self.endpoint.serve()

    def handles(self, site_id: str) -> bool:
        """True for a site in `homeassistant.speakers`."""
        return site_id in self._speakers

    def subscriptions(self) -> list[str]:
        """Topics Home Assistant answers on."""
        return [f"{self._prefix}/+/finished", f"{self._prefix}/+/answer"]

    def owns(self, topic: str) -> bool:
        """True for a topic Home Assistant answers on."""
        parts = topic.split("/")
        return (
            len(parts) == 3
            and parts[0] == self._prefix
            and parts[2] in ("finished", "answer")
            and parts[1] in self._speakers
        )

    def speak(self, site_id: str, wav: bytes, text: str) -> str:
        """Announce one clip on the site; the request id `finished` will carry."""
        request_id = str(uuid.uuid4())
        self._send(site_id, "speak", request_id, url=self.endpoint.offer_clip(wav), text=text)
        return request_id

    def stream(self, site_id: str) -> LiveStream | None:
        """The live stream open on the site, if any."""
        return self._streams.get(site_id)

    def open_stream(self, site_id: str) -> LiveStream:
        """Start one live stream on the site (a breathing session); ends one still open."""
        self.end_stream(site_id, stop=False)
        stream = LiveStream(self._rate)
        self._streams[site_id] = stream
        url = self.endpoint.offer_stream(stream)
        self._send(site_id, "play", str(uuid.uuid4()), url=url)
        return stream

    def end_stream(self, site_id: str, *, stop: bool) -> None:
        """The session ended: the stream plays out (or, with `stop`, ends at once)."""
        stream = self._streams.pop(site_id, None)
        if stream is None:
            return
        if stop:
            stream.stop()
        else:
            stream.finish()
        self.endpoint.withdraw(stream)

    def hush(self, site_id: str) -> None:
        """Stop everything the site plays, at once."""
        self.end_stream(site_id, stop=True)
        payload = {"entity_id": self._speakers[site_id]}
        self._publish(Outgoing(self._topic(site_id, "stop"), json.dumps(payload).encode()))

    def ask(
        self,
        site_id: str,
        request_id: str,
        wav: bytes,
        answers: Sequence[Mapping[str, Any]] = HEARD,
    ) -> None:
        """Ask a check-in question; the answer arrives on the answer topic with this id."""
        url = self.endpoint.offer_clip(wav)
        self._send(site_id, "ask", request_id, url=url, answers=list(answers))

    def _send(self, site_id: str, kind: str, request_id: str, **fields: Any) -> None:
        payload: dict[str, Any] = {
            "id": request_id,
            "entity_id": self._speakers[site_id],
            **{k: v for k, v in fields.items() if k != "text"},
        }
        if self._with_text and fields.get("text"):
            payload["text"] = fields["text"]
        self._publish(Outgoing(self._topic(site_id, kind), json.dumps(payload).encode()))

    def _topic(self, site_id: str, kind: str) -> str:
        return f"{self._prefix}/{site_id}/{kind}"

    def finished(self, payload: bytes) -> str:
        """The request id in a `finished` message."""
        return _request_id(_object(payload, "finished"), "finished")

    def heard(self, topic: str, payload: bytes) -> Heard:
        """An `answer` message, checked field by field."""
        site_id = topic.split("/")[1]
        if not valid_site_id(site_id):
            raise BadMessage("bad_answer", "invalid site id")
        body = _object(payload, "answer")
        answer = body.get("answer")
        sentence = body.get("sentence")
        failed = body.get("error", False)
        if answer is not None and (not isinstance(answer, str) or len(answer) > ID_MAX):
            raise BadMessage("bad_answer", f"answer must be a text of at most {ID_MAX}")
        if sentence is not None and (not isinstance(sentence, str) or len(sentence) > SENTENCE_MAX):
            raise BadMessage("bad_answer", f"sentence must be a text of at most {SENTENCE_MAX}")
        if not isinstance(failed, bool):
            raise BadMessage("bad_answer", "error must be true or false")
        return Heard(site_id, _request_id(body, "answer"), answer, sentence or None, failed)


def _object(payload: bytes, kind: str) -> dict[str, Any]:
    if len(payload) > PAYLOAD_MAX:
        raise BadMessage(f"bad_{kind}", f"larger than {PAYLOAD_MAX} bytes")
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadMessage(f"bad_{kind}", "not JSON") from err
    if not isinstance(body, dict):
        raise BadMessage(f"bad_{kind}", "not a JSON object")
    return body


def _request_id(body: Mapping[str, Any], kind: str) -> str:
    request_id = body.get("id")
    if not isinstance(request_id, str) or not request_id or len(request_id) > ID_MAX:
        raise BadMessage(f"bad_{kind}", f"id must be a text of 1-{ID_MAX} characters")
    return request_id


def start_satellites(
    config: Config,
    publish: Callable[[Outgoing], None],
    stack: contextlib.AsyncExitStack,
    sample_rate: int,
) -> Satellites | None:
    """The relay and its audio endpoint, bound (closed with `stack`; it serves once
    `Satellites.serve` runs, after `online`), when a site speaks through Home Assistant;
    None (no HTTP server, no aiohttp import) when none does."""
    if not config.homeassistant.speakers:
        return None
    endpoint = AudioEndpoint(config.http)
    try:
        endpoint.bind()
    except OSError as err:
        where = f"{config.http.host}:{config.http.port}"
        raise ConfigError(config.path, "http.port", f"cannot listen on {where}: {err}") from err
    stack.push_async_callback(endpoint.close)
    return Satellites(
        config.homeassistant.speakers,
        endpoint,
        publish,
        topic_prefix=config.mqtt.topic_prefix,
        sample_rate=sample_rate,
        with_text=config.log_level == "DEBUG",
    )
