"""The live stream of a Home Assistant site: sounds at exact sample offsets, released in time."""

from __future__ import annotations

import asyncio
import random
import struct
import time
from array import array

import pytest

from skill.voice.audio import wav_bytes
from skill.voice.stream import BLOCK, LAG, TAIL, LiveStream, samples_of, stream_header

RATE = 16000


class FakeTime:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def tone(value: int, count: int) -> bytes:
    return wav_bytes(array("h", [value] * count).tobytes(), RATE)


def pcm(data: bytes) -> array[int]:
    out = array("h")
    out.frombytes(data)
    return out


def test_the_header_is_16_bit_mono_pcm_of_unknown_length() -> None:
    header = stream_header(22050)
    assert header[:4] == b"RIFF"
    assert header[8:16] == b"WAVEfmt "
    size, fmt, channels, rate, rate_bytes, align, bits = struct.unpack("<IHHIIHH", header[16:36])
    assert (size, fmt, channels, rate, rate_bytes, align, bits) == (16, 1, 1, 22050, 44100, 2, 16)
    assert header[36:40] == b"data"
    assert struct.unpack("<I", header[40:44])[0] == 0xFFFFFFFF
    assert len(header) == 44


def test_a_sound_lands_on_the_sample_of_its_planned_moment() -> None:
    now = FakeTime()
    stream = LiveStream(RATE, now=now)
    offset = stream.place(tone(1000, 100), at=stream.start + 1.5)
    assert offset == 24000
    block = pcm(stream.block(23990, 120))
    assert list(block[:10]) == [0] * 10
    assert list(block[10:110]) == [1000] * 100
    assert list(block[110:]) == [0] * 10


def test_overlapping_sounds_are_mixed_and_clipped() -> None:
    now = FakeTime()
    stream = LiveStream(RATE, now=now)
    stream.place(tone(20000, 50), at=stream.start + 1.0)
    stream.place(tone(20000, 50), at=stream.start + 1.0 + 25 / RATE)
    mixed = pcm(stream.block(16000, 100))
    assert list(mixed[:25]) == [20000] * 25
    assert list(mixed[25:50]) == [32767] * 25  # clipped, never wrapped round
    assert list(mixed[50:75]) == [20000] * 25
    assert list(mixed[75:]) == [0] * 25


def test_a_late_sound_moves_to_the_first_sample_not_yet_released() -> None:
    now = FakeTime()
    stream = LiveStream(RATE, now=now)
    now.t += 2.0
    released = stream.released()
    assert released % BLOCK == 0
    assert released == ((round((2.0 - LAG) * RATE)) // BLOCK) * BLOCK
    offset = stream.place(tone(1, 10), at=stream.start + 0.5)
    assert offset == released
    assert stream.late == 1
    on_time = stream.place(tone(1, 10), at=now.t)
    assert on_time == round(2.0 * RATE)
    assert stream.late == 1


def test_a_clip_at_another_rate_is_resampled() -> None:
    samples = samples_of(wav_bytes(array("h", [0, 100, 200, 300]).tobytes(), 8000), 16000)
    assert len(samples) == 8
    assert samples[0] == 0
    assert samples[-1] == 300
    assert list(samples) == sorted(samples)


@pytest.mark.asyncio
async def test_a_reader_gets_blocks_only_once_their_moment_has_passed() -> None:
    stream = LiveStream(RATE)
    stream.place(tone(500, 200), at=stream.start + 0.1)
    got = bytearray()
    reader = stream.read()
    header = await anext(reader)
    assert header == stream_header(RATE)

    async def read_all() -> None:
        async for chunk in reader:
            got.extend(chunk)

    task = asyncio.create_task(read_all())
    await asyncio.sleep(0.05)
    assert len(got) == 0  # nothing before its time (plus the lag)
    await asyncio.sleep(0.5)
    assert len(got) > 0
    samples = pcm(bytes(got))
    start = round(0.1 * RATE)
    assert list(samples[start : start + 200]) == [500] * 200
    assert all(s == 0 for s in samples[:start])
    stream.finish()
    await asyncio.wait_for(task, 2.0)
    assert stream.ended


@pytest.mark.asyncio
async def test_finish_plays_every_sound_out_and_a_short_tail() -> None:
    stream = LiveStream(RATE)
    stream.place(tone(700, 4000), at=stream.start + 0.05)  # 0.25 s of sound
    stream.finish()
    data = bytearray()
    async for chunk in stream.read():
        data.extend(chunk)
    samples = pcm(bytes(data[44:]))
    assert len(samples) == round(0.05 * RATE) + 4000 + round(TAIL * RATE)
    assert samples[round(0.05 * RATE) + 3999] == 700


@pytest.mark.asyncio
async def test_stop_ends_every_reader_at_once() -> None:
    stream = LiveStream(RATE)
    stream.place(tone(700, RATE * 5), at=stream.start)  # five seconds of sound
    received: list[bytes] = []

    async def read_all() -> None:
        async for chunk in stream.read():
            received.append(chunk)

    task = asyncio.create_task(read_all())
    await asyncio.sleep(0.3)
    stopped_after = time.monotonic() - stream.start
    stream.stop()
    await asyncio.wait_for(task, 0.5)
    played = sum(len(c) for c in received[1:]) / 2 / RATE
    # Only what had been released when it stopped (however long the sleep really took),
    # not the five seconds placed.
    assert played <= stopped_after - LAG + BLOCK / RATE
    assert played < 5.0
    assert stream.stopped
    assert stream.place(tone(1, 10), at=stream.start) == -1  # nothing more goes in


@pytest.mark.asyncio
async def test_a_reader_that_connects_late_still_hears_everything_from_the_start() -> None:
    stream = LiveStream(RATE)
    stream.place(tone(900, 100), at=stream.start + 0.02)
    await asyncio.sleep(0.4)
    stream.finish()
    data = bytearray()
    async for chunk in stream.read():
        data.extend(chunk)
    samples = pcm(bytes(data[44:]))
    first = round(0.02 * RATE)
    assert list(samples[first : first + 100]) == [900] * 100


def test_a_clip_placed_again_and_again_is_converted_once() -> None:
    now = FakeTime()
    stream = LiveStream(RATE, now=now)
    cue = tone(300, 50)
    for second in range(1, 40):
        stream.place(cue, at=stream.start + second)
    samples = {id(placed.samples) for placed in stream.sounds}
    assert len(samples) == 1
    assert [placed.offset for placed in stream.sounds] == [s * RATE for s in range(1, 40)]


def test_a_long_session_mixes_each_block_from_exactly_the_sounds_that_reach_it() -> None:
    """Hundreds of sounds, short and long and overlapping: every block equals a plain mix
    of every sound (the block looks only at the sounds that can reach it)."""
    rng = random.Random(17)
    clock = FakeTime()
    stream = LiveStream(RATE, now=clock)
    lengths = [40, 300, 2000, 9000]
    clips = {length: tone(rng.choice([-9000, 500, 7000]), length) for length in lengths}
    for _ in range(400):
        at = clock.t + rng.uniform(0, 60)  # a minute of sound, placed in any order
        stream.place(clips[rng.choice(lengths)], at)
    placed = stream.sounds
    assert len({len(s.samples) for s in placed}) == len(lengths)
    for first in [0, *sorted(rng.randrange(0, 60 * RATE) for _ in range(60))]:
        want = [0] * BLOCK
        for sound in placed:
            for i in range(max(first, sound.offset), min(first + BLOCK, sound.end)):
                j = i - first
                want[j] = max(-32768, min(32767, want[j] + sound.samples[i - sound.offset]))
        assert list(pcm(stream.block(first, BLOCK))) == want, first
