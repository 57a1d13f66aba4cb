"""The demo's bedside speaker, against a real broker (mosquitto and amqtt)."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, Protocol

import pytest
from support.mqtt_recorder import Received, RecorderFactory

import skill.demo.speaker
from skill.base.errors import AftercareError, BrokerError
from skill.demo.speaker import BedsideSpeaker, ClipEvent, has_soundcard
from skill.hermes.broker import EmbeddedBroker
from skill.hermes.mosquitto import free_port
from skill.voice.audio import wav_bytes

RATE = 8000
SITE = "bedroom"
PLAY = f"hermes/audioServer/{SITE}/playBytes"
FINISHED = f"hermes/audioServer/{SITE}/playFinished"


class SpeakerFactory(Protocol):
    """The `make_speaker` fixture."""

    def __call__(
        self,
        *,
        output: Literal["auto", "soundcard", "folder"] = "folder",
        time_scale: float = 1.0,
        on_clip: Callable[[ClipEvent], None] | None = None,
    ) -> BedsideSpeaker:
        """A started speaker for SITE writing to tmp_path/clips."""
        ...


def clip(seconds: float, tone: int = 1) -> bytes:
    """A mono 16-bit WAV of `seconds`; `tone` makes the bytes of each clip different."""
    return wav_bytes(bytes([tone, 0]) * round(seconds * RATE), RATE)


def finished_ids(messages: list[Received]) -> list[str]:
    return [json.loads(m.payload)["id"] for m in messages]


@pytest.fixture
def make_speaker(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[SpeakerFactory]:
    """Start BedsideSpeakers on the broker (folder mode by default); stopped at teardown."""
    speakers: list[BedsideSpeaker] = []

    def make(
        *,
        output: Literal["auto", "soundcard", "folder"] = "folder",
        time_scale: float = 1.0,
        on_clip: Callable[[ClipEvent], None] | None = None,
    ) -> BedsideSpeaker:
        speaker = BedsideSpeaker(
            broker.host,
            broker.port,
            SITE,
            output=output,
            folder=tmp_path / "clips",
            time_scale=time_scale,
            on_clip=on_clip,
        )
        speakers.append(speaker)
        speaker.start()
        return speaker

    yield make
    for speaker in speakers:
        speaker.stop()


def test_folder_mode_files_clips_in_order_and_paces_play_finished(
    broker: EmbeddedBroker,
    make_speaker: SpeakerFactory,
    recorder_factory: RecorderFactory,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "clips"
    events: list[ClipEvent] = []
    scale = 0.1
    seconds = [1.0, 2.0, 0.5]  # played as 0.1 s, 0.2 s, 0.05 s
    wavs = [clip(length, tone=i + 1) for i, length in enumerate(seconds)]
    listener = recorder_factory(broker, "hermes/audioServer/#")
    speaker = make_speaker(time_scale=scale, on_clip=events.append)
    assert speaker.output_kind == "folder"

    for i, wav in enumerate(wavs):
        listener.publish(f"{PLAY}/req-{i}", wav)
    finished = listener.wait_count(FINISHED, 3, timeout=10)

    assert [json.loads(m.payload) for m in finished] == [
        {"id": f"req-{i}", "siteId": SITE, "sessionId": None} for i in range(3)
    ]
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["0001.wav", "0002.wav", "0003.wav"]
    assert [(folder / name).read_bytes() for name in names] == wavs
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE((folder / name).stat().st_mode) for name in names} == {0o600}
    assert events == [ClipEvent(i + 1, f"req-{i}", seconds[i], folder / names[i]) for i in range(3)]

    # Paced one after another, never overlapping: clip i cannot finish before the scaled
    # lengths of clips 0..i have passed since clip 0 arrived. Delivery delays only make
    # things later, so these lower bounds hold (20 ms slack: the echo of clip 0 to the
    # listener may lag its delivery to the speaker); the upper bound is generous.
    first_sent = listener.wait_for(f"{PLAY}/req-0").t
    for i in range(3):
        played = sum(seconds[: i + 1]) * scale
        assert finished[i].t - first_sent >= played - 0.02
    assert finished[2].t - first_sent < 5.0


def test_ignores_other_sites_retained_and_non_wav(
    broker: EmbeddedBroker,
    make_speaker: SpeakerFactory,
    recorder_factory: RecorderFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="skill.demo.speaker")
    listener = recorder_factory(broker, "hermes/audioServer/#")
    # Retained before the speaker subscribes: the broker replays it with the retain flag.
    listener.publish(f"{PLAY}/replayed", clip(0.1, tone=9), retain=True)
    make_speaker(time_scale=0.0)

    listener.publish("hermes/audioServer/kitchen/playBytes/k-1", clip(0.1, tone=7))
    listener.publish(f"{PLAY}/broken", b"this is not a WAV file")
    good = clip(0.2, tone=3)
    listener.publish(f"{PLAY}/good", good)
    listener.wait_for(lambda m: m.topic == FINISHED and b'"good"' in m.payload)

    assert [p.name for p in (tmp_path / "clips").iterdir()] == ["0001.wav"]
    assert (tmp_path / "clips" / "0001.wav").read_bytes() == good
    # The broken clip is not played, but answered (as Rhasspy's audio server does), so
    # nothing waits for it forever.
    assert finished_ids(listener.messages(FINISHED)) == ["broken", "good"]
    assert listener.messages("hermes/audioServer/kitchen/playFinished") == []
    deadline = time.monotonic() + 2  # the replay normally came before everything else
    while not any("ignores retained" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the retained clip never reached the speaker"
        time.sleep(0.01)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "'broken'" in warnings[0].getMessage()
    assert "not a WAV file" in warnings[0].getMessage()


def test_numbering_continues_after_existing_clips(
    broker: EmbeddedBroker,
    make_speaker: SpeakerFactory,
    recorder_factory: RecorderFactory,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "clips"
    folder.mkdir(mode=0o755)
    (folder / "0007.wav").write_bytes(clip(0.1))
    (folder / "notes.txt").write_text("not a clip")
    events: list[ClipEvent] = []
    listener = recorder_factory(broker, FINISHED)
    make_speaker(time_scale=0.0, on_clip=events.append)
    listener.publish(f"{PLAY}/next", clip(0.1, tone=4))
    listener.wait_for(FINISHED)
    assert (folder / "0008.wav").read_bytes() == clip(0.1, tone=4)
    assert events == [ClipEvent(1, "next", 0.1, folder / "0008.wav")]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755  # an existing folder keeps its mode


def test_failing_on_clip_callback_does_not_stop_the_speaker(
    broker: EmbeddedBroker,
    make_speaker: SpeakerFactory,
    recorder_factory: RecorderFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(event: ClipEvent) -> None:
        raise RuntimeError("callback bug")

    caplog.set_level(logging.ERROR, logger="skill.demo.speaker")
    listener = recorder_factory(broker, FINISHED)
    make_speaker(time_scale=0.0, on_clip=explode)
    listener.publish(f"{PLAY}/a", clip(0.1))
    listener.publish(f"{PLAY}/b", clip(0.1))
    assert finished_ids(listener.wait_count(FINISHED, 2)) == ["a", "b"]
    assert "on_clip callback failed" in caplog.text


def test_stop_interrupts_a_long_clip_without_play_finished(
    broker: EmbeddedBroker,
    make_speaker: SpeakerFactory,
    recorder_factory: RecorderFactory,
) -> None:
    started: list[ClipEvent] = []
    listener = recorder_factory(broker, "hermes/audioServer/#")
    speaker = make_speaker(time_scale=1.0, on_clip=started.append)
    listener.publish(f"{PLAY}/long", clip(30.0))
    listener.publish(f"{PLAY}/queued", clip(0.1))
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e.request_id for e in started] == ["long"]

    began = time.monotonic()
    speaker.stop()
    assert time.monotonic() - began < 2.5
    time.sleep(0.1)
    assert listener.messages(FINISHED) == []


def _fake_aplay(directory: Path) -> None:
    """An `aplay` that records its arguments and input, and notices overlapping calls."""
    directory.mkdir()
    script = directory / "aplay"
    script.write_text(
        "#!/bin/sh\n"
        'log="$APLAY_LOG"\n'
        '[ -e "$log/busy" ] && touch "$log/overlap"\n'
        'touch "$log/busy"\n'
        'n=$(ls "$log" | grep -c "\\.wav$")\n'
        'echo "$@" > "$log/$n.args"\n'
        'cat > "$log/$n.wav"\n'
        "sleep 0.05\n"
        'rm "$log/busy"\n'
    )
    script.chmod(0o755)


def test_soundcard_mode_plays_each_clip_with_aplay_in_turn(
    broker: EmbeddedBroker,
    make_speaker: SpeakerFactory,
    recorder_factory: RecorderFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = tmp_path / "aplay-log"
    log.mkdir()
    _fake_aplay(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("APLAY_LOG", str(log))
    events: list[ClipEvent] = []
    wavs = [clip(0.1, tone=i + 1) for i in range(3)]
    listener = recorder_factory(broker, FINISHED)
    speaker = make_speaker(output="soundcard", on_clip=events.append)
    assert speaker.output_kind == "soundcard"

    for i, wav in enumerate(wavs):
        listener.publish(f"{PLAY}/s-{i}", wav)
    assert finished_ids(listener.wait_count(FINISHED, 3)) == ["s-0", "s-1", "s-2"]

    assert [(log / f"{i}.wav").read_bytes() for i in range(3)] == wavs
    assert {(log / f"{i}.args").read_text().strip() for i in range(3)} == {"-q"}
    assert not (log / "overlap").exists()
    assert [(e.index, e.path) for e in events] == [(1, None), (2, None), (3, None)]
    assert not (tmp_path / "clips").exists()


def test_auto_output_without_soundcard_writes_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(skill.demo.speaker, "has_soundcard", lambda: False)
    speaker = BedsideSpeaker("127.0.0.1", 1883, SITE, folder=tmp_path)
    assert speaker.output_kind == "folder"


def test_soundcard_output_needs_aplay(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AftercareError, match="aplay"):
        BedsideSpeaker("127.0.0.1", 1883, SITE, output="soundcard", folder=tmp_path)


@pytest.mark.parametrize("site_id", ["", "a/b", "+", "#", "bed#room"])
def test_site_id_that_would_widen_the_subscription_is_refused(site_id: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="site_id"):
        BedsideSpeaker("127.0.0.1", 1883, site_id, folder=tmp_path)


@pytest.mark.parametrize("scale", [-1.0, float("nan"), float("inf")])
def test_bad_time_scale_is_refused(scale: float, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="time_scale"):
        BedsideSpeaker("127.0.0.1", 1883, SITE, folder=tmp_path, time_scale=scale)


def test_start_without_broker_is_a_broker_error(tmp_path: Path) -> None:
    speaker = BedsideSpeaker("127.0.0.1", free_port(), SITE, output="folder", folder=tmp_path)
    with pytest.raises(BrokerError, match="could not subscribe"):
        speaker.start(timeout=0.3)


@pytest.mark.parametrize(
    ("cards", "with_aplay", "expected"),
    [
        (" 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n", True, True),
        (" 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n", False, False),
        ("--- no soundcards ---\n", True, False),
        (None, True, False),
    ],
)
def test_has_soundcard(
    cards: str | None,
    with_aplay: bool,
    expected: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cards_file = tmp_path / "cards"
    if cards is not None:
        cards_file.write_text(cards)
    monkeypatch.setattr(skill.demo.speaker, "_ASOUND_CARDS", cards_file)
    bin_dir = tmp_path / "bin"
    if with_aplay:
        _fake_aplay(bin_dir)
    else:
        bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    assert has_soundcard() is expected
