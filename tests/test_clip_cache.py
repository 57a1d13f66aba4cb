"""The clip cache: bounded memory, pinned cues, the disk behind it."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fakes import FakeVoice

from skill.voice.clips import ClipCache

SENTENCES = [f"Sentence number {n} is here to fill the cache a little." for n in range(40)]


@pytest.mark.asyncio
async def test_memory_stays_within_its_byte_budget(tmp_path: Path) -> None:
    """Forty clips through a cache that holds a few: memory never passes the budget."""
    voice = FakeVoice()
    one = len(voice.synthesize(SENTENCES[0]))
    budget = 5 * one
    cache = ClipCache(voice, tmp_path / "cache", memory_bytes=budget)
    try:
        for sentence in SENTENCES:
            await cache.clip(sentence)
            assert cache.memory_held <= budget + one  # at most one clip over, never more
        assert cache.renders == len(SENTENCES)
        assert cache.cached(SENTENCES[-1]) is not None  # the newest stays
        assert cache.cached(SENTENCES[0]) is None  # the oldest went
    finally:
        cache.close()


@pytest.mark.asyncio
async def test_an_evicted_clip_comes_back_from_disk_not_the_voice(tmp_path: Path) -> None:
    """Out of memory is not out of the cache: the disk copy is read, nothing re-synthesized."""
    voice = FakeVoice()
    cache = ClipCache(voice, tmp_path / "cache", memory_bytes=1)
    try:
        first = await cache.clip(SENTENCES[0])
        for sentence in SENTENCES[1:5]:
            await cache.clip(sentence)
        assert cache.cached(SENTENCES[0]) is None
        again = await cache.clip(SENTENCES[0])
        assert again.wav == first.wav
        assert cache.renders == 5
        assert voice.rendered.count(SENTENCES[0]) == 1
    finally:
        cache.close()


@pytest.mark.asyncio
async def test_pinned_clips_never_leave_memory(tmp_path: Path) -> None:
    """Breathing cues are pinned: a flood of other clips does not push them out."""
    cache = ClipCache(FakeVoice(), tmp_path / "cache", memory_bytes=1)
    try:
        cue = cache.render_now("Breathe in.", trim=True, pin=True)
        for sentence in SENTENCES:
            await cache.clip(sentence)
        assert cache.cached("Breathe in.", trim=True) == cue
        assert await cache.clip("Breathe in.", trim=True) == cue
        assert cache.memory_held >= len(cue.wav)
    finally:
        cache.close()
