"""The logging policy, enforced: at INFO and above, nothing people said, no slot values,
no response text, no names. Also: data files are private to the user."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from pathlib import Path

import pytest
from support.mqtt_recorder import MqttRecorder

from skill.app import Runtime, project_dir
from skill.config.loader import parse_config
from skill.hermes.broker import EmbeddedBroker
from skill.hermes.messages import intent_topic
from skill.language.nlu import Recognizer
from skill.language.responses import ResponseBook, response_path
from skill.voice.audio import wav_bytes

NAME = "Zephyrine"
PLAYLIST = "Velvet Tides"
SAID = [
    "could we do the long aftercare please",
    "breathe with us for seven minutes",
    "i'm feeling anxious",
    "i need a blanket",
    "play the velvet tides playlist",
    "call me zephyrine",
    "what do you remember about us",
    "red",
]


class SilentVoice:
    """A fake voice: a short quiet WAV per sentence, instantly."""

    identity = "silent-test"
    sample_rate = 16000

    def synthesize(self, sentence: str) -> bytes:
        return wav_bytes(b"\x01\x00" * 1600, self.sample_rate)


@pytest.mark.asyncio
async def test_info_logs_hold_no_words_slots_names_or_response_text(
    mosquitto: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(
        {
            "mqtt": {"host": "127.0.0.1", "port": mosquitto.port},
            "data_dir": str(tmp_path / "data"),
            "names": [NAME],
            "cooldown": {"playlists": [PLAYLIST]},
            "devices": [{"name": "p", "play": {"topic": "p/set", "payload": "{playlist}"}}],
        }
    )
    recognizer = Recognizer.load(
        project_dir() / "intents",
        playlists=(config.cooldown.playlist, PLAYLIST),
        safewords=config.safewords,
        names=config.names,
    )
    caplog.set_level(logging.DEBUG)
    async with Runtime(config, time_scale=0.01, synthesizer=SilentVoice()) as runtime:
        with MqttRecorder(runtime.host, runtime.port, ["hermes/#"]) as client:
            for number, text in enumerate(SAID):
                intent = recognizer.recognize(text, site_id="bedroom", session_id=f"s{number}")
                assert intent is not None, text
                topic = intent_topic(intent.intent.intent_name)
                await asyncio.to_thread(client.publish, topic, intent.payload())
                await asyncio.sleep(0.3)
    responses = ResponseBook.load(response_path(project_dir() / "responses", "en"))
    secrets = {NAME.lower(), PLAYLIST.lower(), "blanket", "anxious", "seven", "minutes': 7"}
    secrets |= {text.lower() for text in SAID}
    every_key = responses.keys()
    spoken = {variant.lower() for key in every_key for variant in responses.variants(key)}
    info = [r.getMessage().lower() for r in caplog.records if r.levelno >= logging.INFO]
    assert info, "expected some INFO logging"
    for message in info:
        for secret in secrets:
            found = re.search(rf"\b{re.escape(secret)}\b", message)
            assert found is None, f"{secret!r} leaked into: {message}"
        for line in spoken:
            assert line not in message, f"response text leaked into: {message}"
    # DEBUG may show slot values: that is the documented opt-in.
    assert any(r.levelno == logging.DEBUG and "Slots" in r.getMessage() for r in caplog.records)


def test_data_files_are_private(tmp_path: Path) -> None:
    from skill.care.store import Store
    from skill.voice.clips import ClipCache

    data = tmp_path / "data"
    with Store.open(data / "aftercare.sqlite3") as store:
        store.update_preferences("bedroom", names=(NAME,))
    cache = ClipCache(SilentVoice(), data / "cache")
    cache.render_now("Hello there.")
    cache.close()
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(data / "cache").st_mode) == 0o700
    for path in [data / "aftercare.sqlite3", *(data / "cache").iterdir()]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
