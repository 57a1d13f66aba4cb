"""A live audio stream: a breathing session as one continuous WAV, its timing inside the audio.

A Home Assistant satellite cannot keep time with one announcement per cue (it takes
seconds to start each one), so a session on such a site is one stream. Every sound the
runner sends is placed at the sample offset of its planned moment (`at`, on the monotonic
clock) and the rest is silence. Nothing is rendered ahead: block k is released only when
its last sample's moment (plus `LAG`) has passed, so a pace change, a pause or a stop
applies from the next phase, as on a Hermes site.

Each reader renders the blocks itself from the placed sounds, starting at the first
sample: a satellite that connects seconds late still hears every cue at its offset (it
catches up at once and then plays in real time). Plain Python, no numpy.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import struct
import time
from array import array
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from skill.voice.audio import wav_pcm

log = logging.getLogger(__name__)

BLOCK = 1024
"""Samples per block written to a reader (46 ms at 22 050 Hz)."""
LAG = 0.15
"""Seconds a block is held past its end, for a sound placed a little late to still fit."""
TAIL = 0.5
"""Seconds of silence after the last sound when a stream ends by itself."""
_UNKNOWN_LENGTH = 0xFFFFFFFF
"""RIFF and data sizes of a stream whose length is not known (players read to the end)."""


@dataclass(frozen=True)
class Placed:
    """One sound in the stream."""

    offset: int
    """First sample."""
    samples: array[int]
    """16-bit mono samples at the stream's rate."""

    @property
    def end(self) -> int:
        """One past the last sample."""
        return self.offset + len(self.samples)


def stream_header(sample_rate: int) -> bytes:
    """A WAV header for 16-bit mono PCM of unknown length."""
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", _UNKNOWN_LENGTH),
            b"WAVEfmt ",
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16),
            b"data",
            struct.pack("<I", _UNKNOWN_LENGTH),
        )
    )


def samples_of(wav: bytes, sample_rate: int) -> array[int]:
    """A WAV clip's 16-bit mono samples at `sample_rate` (resampled linearly if needed)."""
    pcm, rate = wav_pcm(wav)
    samples = array("h")
    samples.frombytes(pcm)
    if rate == sample_rate or not samples:
        return samples
    count = max(1, round(len(samples) * sample_rate / rate))
    step = (len(samples) - 1) / max(1, count - 1)
    out = array("h", bytes(2 * count))
    for i in range(count):
        position = i * step
        left = int(position)
        right = min(left + 1, len(samples) - 1)
        fraction = position - left
        out[i] = round(samples[left] * (1 - fraction) + samples[right] * fraction)
    return out


class LiveStream:
    """One session's audio, placed at exact sample offsets and read in real time."""

    def __init__(self, sample_rate: int, *, now: Callable[[], float] = time.monotonic) -> None:
        self.sample_rate = sample_rate
        self._now = now
        self.start = now()
        """Monotonic time of sample 0."""
        self._sounds: list[Placed] = []
        self._longest = 0
        """Samples in the longest sound placed: no sound starting earlier than a block's
        first sample minus this reaches into it."""
        self._samples: dict[int, tuple[bytes, array[int]]] = {}
        """Each distinct clip converted once (a cue repeats hundreds of times a session)."""
        self._end: int | None = None
        self._stopped = False
        self._changed = asyncio.Event()
        self.late = 0
        """Sounds placed after their block was released (moved to the first free sample)."""

    def offset(self, at: float) -> int:
        """The sample of monotonic moment `at`."""
        return round((at - self.start) * self.sample_rate)

    def released(self) -> int:
        """Samples every reader may have read by now (whole blocks past `LAG`)."""
        if self._end is not None:
            return self._end
        ready = self.offset(self._now() - LAG)
        return max(0, ready - ready % BLOCK)

    def place(self, wav: bytes, at: float) -> int:
        """Put a clip in the stream at moment `at`; the sample it starts at."""
        if self._end is not None:
            return -1
        offset = self.offset(at)
        released = self.released()
        if offset < released:
            self.late += 1
            log.debug("A sound came %d samples late for its block", released - offset)
            offset = released
        known = self._samples.get(id(wav))
        if known is None or known[0] is not wav:
            known = self._samples[id(wav)] = (wav, samples_of(wav, self.sample_rate))
        bisect.insort(self._sounds, Placed(offset, known[1]), key=lambda placed: placed.offset)
        self._longest = max(self._longest, len(known[1]))
        return offset

    def finish(self) -> None:
        """End by itself: readers hear every sound out, then a short tail of silence."""
        if self._end is None:
            last = max((s.end for s in self._sounds), default=0)
            now = self.offset(self._now())
            self._end = max(last + round(TAIL * self.sample_rate), now)
            self._changed.set()

    def stop(self) -> None:
        """End at once: every reader closes now, whatever it has not played yet."""
        self._stopped = True
        if self._end is None:
            self._end = self.offset(self._now())
        self._changed.set()

    @property
    def stopped(self) -> bool:
        """True once stopped (its URL then serves nothing)."""
        return self._stopped

    @property
    def ended(self) -> bool:
        """True once finished or stopped."""
        return self._end is not None

    @property
    def sounds(self) -> tuple[Placed, ...]:
        """Every sound placed so far, in offset order."""
        return tuple(self._sounds)

    def block(self, first: int, count: int) -> bytes:
        """Samples [first, first + count) mixed, as little-endian 16-bit PCM."""
        out = array("h", bytes(2 * count))
        mixed = 0
        # Only the sounds that can reach this block: a session of half an hour holds a
        # thousand, and every block of every reader would otherwise scan them all.
        begin = bisect.bisect_left(
            self._sounds, first - self._longest, key=lambda placed: placed.offset
        )
        for sound in itertools.islice(self._sounds, begin, None):
            if sound.offset >= first + count:
                break
            if sound.end <= first:
                continue
            lo = max(first, sound.offset)
            hi = min(first + count, sound.end)
            part = sound.samples[lo - sound.offset : hi - sound.offset]
            if mixed == 0:
                out[lo - first : hi - first] = part
            else:
                for i, value in enumerate(part, lo - first):
                    out[i] = max(-32768, min(32767, out[i] + value))
            mixed += 1
        return out.tobytes()

    async def read(self) -> AsyncIterator[bytes]:
        """The stream from its first sample: the header, then blocks as they are released."""
        yield stream_header(self.sample_rate)
        position = 0
        while not self._stopped:
            released = self.released()
            if position < released:
                count = min(released - position, 16 * BLOCK)
                yield self.block(position, count)
                position += count
                continue
            if self._end is not None:
                return
            self._changed.clear()
            delay = self.start + (position + BLOCK) / self.sample_rate + LAG - self._now()
            if delay > 0:
                try:
                    async with asyncio.timeout(delay):
                        await self._changed.wait()
                except TimeoutError:
                    pass
