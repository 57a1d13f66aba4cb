"""The Home Assistant relay's messages, without a broker: what goes out, what is accepted back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from array import array

import pytest

from skill.base.errors import ConfigError
from skill.config.homeassistant import HttpSettings
from skill.config.loader import parse_config
from skill.hermes.messages import BadMessage, Outgoing
from skill.voice.audio import wav_bytes
from skill.voice.endpoint import AudioEndpoint
from skill.voice.output import Output
from skill.voice.piper import Clip
from skill.voice.satellites import HEARD, Satellites, start_satellites

CLIP = wav_bytes(array("h", [5] * 100).tobytes(), 16000)


def relay(*, with_text: bool = False) -> tuple[Satellites, list[Outgoing]]:
    sent: list[Outgoing] = []
    satellites = Satellites(
        {"guest": "assist_satellite.guest"},
        AudioEndpoint(HttpSettings(port=12180, public_url="http://10.0.0.2:12180")),
        sent.append,
        topic_prefix="aftercare",
        sample_rate=16000,
        with_text=with_text,
    )
    return satellites, sent


def body(message: Outgoing) -> dict[str, object]:
    parsed = json.loads(message.payload)
    assert isinstance(parsed, dict)
    return parsed


def test_a_line_is_a_url_and_never_its_words_at_info() -> None:
    satellites, sent = relay()
    request_id = satellites.speak("guest", CLIP, "How are you feeling?")
    assert [m.topic for m in sent] == ["aftercare/guest/speak"]
    assert not sent[0].retain
    message = body(sent[0])
    assert set(message) == {"id", "url", "entity_id"}
    assert message["id"] == request_id
    assert message["entity_id"] == "assist_satellite.guest"
    assert str(message["url"]).startswith("http://10.0.0.2:12180/clip/")
    assert b"feeling" not in sent[0].payload


def test_the_words_go_along_only_at_debug() -> None:
    satellites, sent = relay(with_text=True)
    satellites.speak("guest", CLIP, "How are you feeling?")
    assert body(sent[0])["text"] == "How are you feeling?"


def test_a_stream_is_one_play_and_stop_ends_it() -> None:
    satellites, sent = relay()
    stream = satellites.open_stream("guest")
    assert satellites.stream("guest") is stream
    assert [m.topic for m in sent] == ["aftercare/guest/play"]
    assert "/stream/" in str(body(sent[0])["url"])
    satellites.hush("guest")
    assert stream.stopped
    assert satellites.stream("guest") is None
    assert sent[-1].topic == "aftercare/guest/stop"
    assert body(sent[-1]) == {"entity_id": "assist_satellite.guest"}


def test_a_session_that_ends_by_itself_plays_out() -> None:
    satellites, _ = relay()
    stream = satellites.open_stream("guest")
    satellites.end_stream("guest", stop=False)
    assert stream.ended
    assert not stream.stopped


def test_a_question_carries_its_clip_and_listens_for_anything() -> None:
    satellites, sent = relay()
    satellites.ask("guest", "aftercare-checkin:abc", CLIP)
    message = body(sent[0])
    assert sent[0].topic == "aftercare/guest/ask"
    assert message["id"] == "aftercare-checkin:abc"
    assert message["answers"] == [dict(a) for a in HEARD]


def test_only_the_answer_topics_of_its_own_sites_are_its() -> None:
    satellites, _ = relay()
    assert satellites.subscriptions() == ["aftercare/+/finished", "aftercare/+/answer"]
    assert satellites.owns("aftercare/guest/answer")
    assert satellites.owns("aftercare/guest/finished")
    assert not satellites.owns("aftercare/bedroom/answer")  # a Hermes site
    assert not satellites.owns("aftercare/guest/command")
    assert not satellites.owns("other/guest/answer")
    assert not satellites.owns("aftercare/guest/answer/x")


def test_an_answer_is_read_field_by_field() -> None:
    satellites, _ = relay()
    heard = satellites.heard(
        "aftercare/guest/answer",
        b'{"id": "t1", "answer": "heard", "sentence": "a bit cold", "slots": {}}',
    )
    assert (heard.site_id, heard.request_id, heard.sentence, heard.failed) == (
        "guest",
        "t1",
        "a bit cold",
        False,
    )
    failed = satellites.heard("aftercare/guest/answer", b'{"id": "t1", "error": true}')
    assert failed.failed
    assert failed.sentence is None
    assert satellites.finished(b'{"id": "r1"}') == "r1"


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"null",
        b"[]",
        b'{"sentence": "hi"}',
        b'{"id": ""}',
        b'{"id": 3}',
        b'{"id": "' + b"x" * 65 + b'"}',
        b'{"id": "t", "sentence": ["a"]}',
        b'{"id": "t", "sentence": "' + b"a" * 501 + b'"}',
        b'{"id": "t", "answer": 1}',
        b'{"id": "t", "error": "true"}',
        b"\xff\xfe",
        b"{" * 9000,
    ],
)
def test_a_malformed_answer_is_refused_with_a_kind(payload: bytes) -> None:
    satellites, _ = relay()
    with pytest.raises(BadMessage) as caught:
        satellites.heard("aftercare/guest/answer", payload)
    assert caught.value.kind == "bad_answer"


def drop(message: Outgoing) -> None:
    """A publish that goes nowhere."""


def test_a_port_in_use_stops_the_start_naming_the_key() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        config = parse_config(
            {
                "homeassistant": {"speakers": {"guest": "assist_satellite.guest"}},
                "http": {"port": port},
            },
            path="/etc/aftercare/config.yaml",
        )
        with pytest.raises(ConfigError) as caught:
            start_satellites(config, drop, contextlib.AsyncExitStack(), 16000)
        assert caught.value.key == "http.port"
        assert str(caught.value).startswith("/etc/aftercare/config.yaml: http.port: cannot listen")
    finally:
        taken.close()


def test_no_speakers_no_endpoint() -> None:
    assert start_satellites(parse_config({}), drop, contextlib.AsyncExitStack(), 1) is None


@pytest.mark.asyncio
async def test_a_line_is_never_cut_by_a_finished_that_came_early() -> None:
    """Voice PE sometimes reports an announcement finished early: the next line still
    waits until this one can have played out; a Hermes site goes on at playFinished."""
    loop = asyncio.get_running_loop()
    outputs: list[Output] = []

    def publish(message: Outgoing) -> None:
        if message.topic == "aftercare/guest/speak":
            request_id = str(body(message)["id"])
        elif "playBytes" in message.topic:
            request_id = message.topic.rsplit("/", 1)[1]
        else:
            return
        loop.call_soon(outputs[0].finished, request_id)  # at once: too early

    satellites = Satellites(
        {"guest": "assist_satellite.guest"},
        AudioEndpoint(HttpSettings(port=12180)),
        publish,
        topic_prefix="aftercare",
        sample_rate=16000,
    )
    output = Output(publish, None, engine="piper", satellites=satellites)
    outputs.append(output)
    clip = Clip(wav_bytes(bytes(2 * 8000), 16000), 0.5)
    began = time.monotonic()
    await output.play("guest", clip, kind="speech", text="x", wait=True)
    assert time.monotonic() - began >= 0.5
    began = time.monotonic()
    await output.play("bedroom", clip, kind="speech", text="x", wait=True)
    assert time.monotonic() - began < 0.3
