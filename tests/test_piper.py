"""The real bundled Piper voice: speech comes out, the cache is private and works, errors help.

These tests load the real voice (en_US joe, medium) once per module and synthesize a few
sentences; the last one starts the whole skill with it against Mosquitto.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import stat
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from support.fakes import SITE, make_config, make_intent
from support.mqtt_recorder import MqttRecorder

from skill.app import Runtime
from skill.base.errors import VoiceError
from skill.config.settings import VoiceSettings
from skill.hermes.broker import EmbeddedBroker
from skill.voice.clips import ClipCache
from skill.voice.piper import PiperSynthesizer, bundled_model
from skill.voice.worker import VOICE_NICE, VoiceProcess

pytestmark = [pytest.mark.piper, pytest.mark.timeout(90)]

SENTENCE = "If you'd like, a sip of water might feel good."
FULL_SCALE = 32767


@pytest.fixture(scope="module")
def piper() -> PiperSynthesizer:
    """The bundled voice with the default settings (loaded once: about a second)."""
    return PiperSynthesizer(VoiceSettings())


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """Where a test's clip cache lives (not created yet)."""
    return tmp_path / "data" / "cache"


@pytest.fixture
def open_cache_dir(cache_dir: Path) -> Path:
    """cache_dir, created beforehand with mode 0755 (too open for a private cache)."""
    cache_dir.mkdir(parents=True)
    cache_dir.chmod(0o755)
    return cache_dir


@pytest.fixture
def make_cache(piper: PiperSynthesizer, cache_dir: Path) -> Iterator[Callable[[], ClipCache]]:
    """ClipCaches on cache_dir with the real voice; every one is closed at teardown."""
    made: list[ClipCache] = []

    def make() -> ClipCache:
        made.append(ClipCache(piper, cache_dir))
        return made[-1]

    yield make
    for cache in made:
        cache.close()


def samples(wav: bytes) -> tuple[NDArray[np.float64], int]:
    """Mono int16 samples as floats, and the sample rate (asserting the format)."""
    assert wav[:4] == b"RIFF"
    with wave.open(io.BytesIO(wav), "rb") as reader:
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        frames = reader.readframes(reader.getnframes())
        return np.frombuffer(frames, dtype="<i2").astype(np.float64), reader.getframerate()


def assert_speech(wav: bytes, words: int | None = None) -> None:
    """Loud enough to be a voice, with the ups and downs of speech, as long as the words."""
    audio, rate = samples(wav)
    seconds = len(audio) / rate
    if words is not None:
        assert 0.15 * words <= seconds <= 1.0 * words + 0.5, f"{seconds:.2f} s for {words} words"
    rms = float(np.sqrt(np.mean(audio**2)))
    assert rms > 0.03 * FULL_SCALE, f"RMS {rms:.0f}: too quiet for speech"
    frame = rate // 50  # 20 ms
    energy = np.sqrt(np.mean(audio[: len(audio) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    voiced = float(np.mean(energy > 0.02 * FULL_SCALE))
    assert 0.3 < voiced < 0.99, f"{voiced:.0%} of 20 ms frames loud: not speech-like"
    assert float(energy.min()) < 0.01 * FULL_SCALE  # pauses and edges are quiet


def test_a_sentence_renders_to_speech(piper: PiperSynthesizer) -> None:
    """A WAV with speech in it, about as long as the sentence, at the voice's rate."""
    wav = piper.synthesize(SENTENCE)
    assert_speech(wav, len(SENTENCE.split()))
    _, rate = samples(wav)
    assert rate == piper.sample_rate == 22050
    short, _ = samples(piper.synthesize("Hello."))
    assert len(short) < len(samples(wav)[0]) / 2  # more words, a longer clip


def _status_mib(pid: int, field: str) -> float:
    """One memory line of /proc/<pid>/status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def _nice(pid: int) -> int:
    """A process's nice value (/proc/<pid>/stat, field 19)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_the_voice_process_renders_at_a_lower_priority_in_bounded_memory() -> None:
    """The child runs VOICE_NICE below the skill, a sentence's length costs no memory, and
    what a render used goes back.

    The voice's decoder renders in windows of one size (voice/split.py) and a sentence
    past WHOLE_CHARS in phrases, so one of 280 characters needs no more than one of 140;
    rendered whole by the unsplit model, the longer one needed about 100 MiB more.
    """
    voice = VoiceProcess(VoiceSettings())
    try:
        voice.load()
        pid = voice.pid
        assert pid is not None
        assert _nice(pid) == min(19, os.nice(0) + VOICE_NICE)
        voice.synthesize("Hello.")
        loaded = _status_mib(pid, "VmRSS")
        half = (
            "Let your shoulders soften as the room grows still, and let the quiet "
            "settle in around the two of you, with nothing that needs doing right now"
        )
        assert_speech(voice.synthesize(f"{half}."), len(half.split()))
        once = _status_mib(pid, "VmHWM")
        assert_speech(voice.synthesize(f"{half}, {half.lower()}."), 2 * len(half.split()))
        assert _status_mib(pid, "VmHWM") - once < 6
        assert once - loaded < 40
        assert _status_mib(pid, "VmRSS") - loaded < 10  # and what it used went back
    finally:
        voice.close()


def modes(folder: Path) -> tuple[int, list[int]]:
    """Permission bits of a folder and of every file in it, its subfolders' included."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return stat.S_IMODE(folder.stat().st_mode), [stat.S_IMODE(f.stat().st_mode) for f in files]


def folder_modes(folder: Path) -> set[int]:
    """Permission bits of every folder inside a folder."""
    return {stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_dir()}


@pytest.mark.asyncio
async def test_the_cache_is_private_and_renders_each_text_once(
    make_cache: Callable[[], ClipCache], open_cache_dir: Path
) -> None:
    """0700 folder, 0600 files; the same text again is a hit, also for a new cache."""
    first = make_cache()
    clip = await first.clip(SENTENCE)
    assert first.renders == 1
    assert modes(open_cache_dir) == (0o700, [0o600])  # the 0755 folder was tightened
    again = await first.clip(SENTENCE)
    assert first.renders == 1
    assert again.wav == clip.wav
    second = make_cache()  # a restart: memory is empty, the disk is not
    from_disk = await second.clip(SENTENCE)
    assert second.renders == 0
    assert from_disk.wav == clip.wav
    assert from_disk.seconds == pytest.approx(clip.seconds)
    await second.clip("Hello.")
    assert second.renders == 1  # a new text is rendered
    assert modes(open_cache_dir) == (0o700, [0o600, 0o600])


def test_trimmed_cues_are_shorter(make_cache: Callable[[], ClipCache]) -> None:
    """A cue clip is cut to its words: shorter than the same words untrimmed, still speech."""
    cache = make_cache()
    full = cache.render_now("Breathe in.")
    cue = cache.render_now("Breathe in.", trim=True)
    assert cue.seconds < full.seconds - 0.05
    assert cache.renders == 2  # trimmed and untrimmed are cached apart
    assert_speech(cue.wav, 2)


def test_a_missing_voice_says_how_to_fix_it(tmp_path: Path) -> None:
    """A model path that does not exist: VoiceError naming the key and the fix."""
    missing = tmp_path / "nowhere" / "voice.onnx"
    with pytest.raises(VoiceError) as caught:
        PiperSynthesizer(VoiceSettings(model=str(missing)))
    message = str(caught.value)
    assert "voice.model" in message
    assert str(missing) in message
    assert "voice.model: bundled" in message


def test_a_voice_without_its_json_says_how_to_fix_it(tmp_path: Path) -> None:
    """The .onnx.json must sit beside the model: the message says so."""
    model = tmp_path / "voice.onnx"
    shutil.copy(bundled_model(), model)
    with pytest.raises(VoiceError, match=r"voice\.onnx\.json is missing.*beside"):
        PiperSynthesizer(VoiceSettings(model=str(model)))


def test_a_corrupt_voice_says_how_to_fix_it(tmp_path: Path) -> None:
    """Garbage in the .onnx file: VoiceError saying to download it again or use the bundled one."""
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"this is not an onnx model" * 40)
    shutil.copy(f"{bundled_model()}.json", f"{model}.json")
    with pytest.raises(VoiceError) as caught:
        PiperSynthesizer(VoiceSettings(model=str(model)))
    message = str(caught.value)
    assert "corrupt" in message
    assert "download it again" in message
    assert "voice.model: bundled" in message


@pytest.mark.asyncio
async def test_the_skill_speaks_with_the_real_voice(
    mosquitto: EmbeddedBroker, tmp_path: Path
) -> None:
    """Runtime with the real voice (cold cache) on Mosquitto: "start breathing" is heard."""
    config = make_config(mosquitto.host, mosquitto.port, tmp_path / "data")
    play = f"hermes/audioServer/{SITE}/playBytes/+"
    async with Runtime(config, time_scale=0.05) as runtime:
        with MqttRecorder(runtime.host, runtime.port, [play]) as recorder:
            topic, payload, _ = make_intent("start breathing")
            await asyncio.to_thread(recorder.publish, topic, payload)
            first = await asyncio.to_thread(recorder.wait_for, play, 20.0)
            cue = await asyncio.to_thread(
                recorder.wait_for, lambda m: m.topic.startswith(play[:-1]) and m.t > first.t, 20.0
            )
    assert_speech(first.payload)  # the pattern's opening line
    assert_speech(cue.payload)  # then the next sentence, or the first cue
    folder, files = modes(tmp_path / "data" / "cache")
    assert folder == 0o700
    assert files
    assert set(files) == {0o600}
    assert folder_modes(tmp_path / "data" / "cache") == {0o700}  # the voice's split model


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"this is not an onnx model" * 40, id="found-before-online"),
        pytest.param(b"\x08" + b"this is not an onnx model" * 40, id="found-when-it-loads"),
    ],
)
async def test_a_broken_voice_falls_back_to_hermes_tts_when_configured(
    mosquitto: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    """voice.fallback: hermes: a warning with the fix, then speech as text on hermes/tts/say,
    whether the file is refused at once or only when the voice loads after `online`."""
    model = tmp_path / "voice.onnx"
    model.write_bytes(content)
    shutil.copy(f"{bundled_model()}.json", f"{model}.json")
    config = make_config(
        mosquitto.host,
        mosquitto.port,
        tmp_path / "data",
        voice={"model": str(model), "fallback": "hermes"},
    )
    say, play = "hermes/tts/say", f"hermes/audioServer/{SITE}/playBytes/+"
    async with Runtime(config, time_scale=0.05) as runtime:
        await runtime.voice_ready()
        assert runtime.config.voice.engine == "hermes"
        with MqttRecorder(runtime.host, runtime.port, [say, play]) as recorder:
            topic, payload, _ = make_intent("start aftercare")
            await asyncio.to_thread(recorder.publish, topic, payload)
            first = await asyncio.to_thread(recorder.wait_for, say, 20.0)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("download it again" in w and "hermes/tts/say" in w for w in warnings)
    message = json.loads(first.payload)
    assert message["siteId"] == SITE
    assert message["text"]
    assert not recorder.messages(play)
