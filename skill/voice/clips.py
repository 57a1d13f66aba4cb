"""Rendered clips: each (text, voice) synthesized once, kept on disk and in a little memory.

Renders go through one thread of their own at a lower CPU priority than the event loop (the
voice itself runs in a child process, voice/worker.py), so a render, or the voice loading,
never takes a core from a breathing cue that is due.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from skill.base.errors import VoiceError
from skill.voice.audio import trim_silence, wav_duration
from skill.voice.piper import Clip, Synthesizer
from skill.voice.worker import lower_priority

log = logging.getLogger(__name__)

MEMORY_BYTES = 8 * 1024 * 1024
"""WAV bytes kept in memory besides pinned clips (about three minutes of speech)."""


class ClipCache:
    """Renders each (text, voice) once: on disk (private, 0600) and in a small memory cache.

    Memory holds the most recently used clips up to `memory_bytes`, plus pinned clips
    (the breathing cues and the urgent replies, which must never wait); everything else
    is a page-cache read from disk away (well under a millisecond), so the process stays
    small. Renders run on the voice thread (`VOICE_NICE`), one at a time.
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
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="voice", initializer=lower_priority
        )
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-reader")
        self._inflight: dict[str, asyncio.Future[Clip]] = {}
        self.renders = 0
        """How many sentences were actually synthesized (cache misses)."""
        self.warming = False
        """True while the skill is still bringing its fixed prompts in (after a start)."""
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

    async def load_voice(self) -> None:
        """Load the voice on the voice thread (a no-op for voices that need no loading)."""
        load = getattr(self._synth, "load", None)
        if load is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, load)

    def _key(self, text: str, trim: bool) -> str:
        mode = "trim" if trim else "full"
        return hashlib.sha256(f"{self._synth.identity}\n{mode}\n{text}".encode()).hexdigest()

    def cached(self, text: str, *, trim: bool = False) -> Clip | None:
        """The clip from memory, if it is there."""
        key = self._key(text, trim)
        return self._pinned.get(key) or self._memory.get(key)

    async def clip(self, text: str, *, trim: bool = False, pin: bool = False) -> Clip:
        """The clip for one sentence, synthesizing off the event loop only when needed.

        `trim` cuts the quiet lead-in and tail (breathing cues start on the boundary);
        `pin` keeps it in memory for good.
        """
        key = self._key(text, trim)
        hit = self._pinned.get(key) or self._memory.get(key)
        if hit is not None:
            if key in self._memory:
                self._memory.move_to_end(key)
        else:
            future = self._inflight.get(key)
            if future is None:
                future = asyncio.ensure_future(self._read_or_render(key, text, trim))
                self._inflight[key] = future
                future.add_done_callback(lambda done: self._settle(key, done))
            # shield: a stopped activity must not cancel a render another waiter needs
            hit = await asyncio.shield(future)
        if pin:
            self._forget(key)
            self._pinned[key] = hit
        return hit

    def drop(self, text: str, *, trim: bool = False) -> None:
        """Forget a clip in memory (pinned or not); the disk copy stays."""
        key = self._key(text, trim)
        self._forget(key)
        self._pinned.pop(key, None)

    def _settle(self, key: str, done: asyncio.Future[Clip]) -> None:
        self._inflight.pop(key, None)
        if not done.cancelled() and done.exception() is None:
            self._remember(key, done.result())

    def render_now(self, text: str, *, trim: bool = False, pin: bool = False) -> Clip:
        """Blocking render (`aftercare check`, scripts, tests); `pin` keeps it in memory."""
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
        except VoiceError:
            raise
        except Exception as err:
            raise VoiceError(f"synthesis failed ({type(err).__name__})") from err
        self.renders += 1
        if self._folder is not None:
            _write_private(self._folder / f"{key}.wav", data)
        return Clip(data, wav_duration(data))

    def close(self) -> None:
        """Stop the voice (its process, if it has one) and the reader thread; fetches still
        waiting are cancelled."""
        for future in list(self._inflight.values()):
            future.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._reader.shutdown(wait=True, cancel_futures=True)
        close = getattr(self._synth, "close", None)
        if close is not None:
            close()


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
