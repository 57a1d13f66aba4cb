"""The pure parts of benchmarks/reach.py: onsets, pairing, pacing, the stream header, stats.

No broker, no skill process, no voice: a live stream is built by the skill's own
LiveStream on a fake clock, with synthetic sounds at known sample offsets.
"""

from __future__ import annotations

import math
from array import array

import pytest

from benchmarks.harness import bench_config
from benchmarks.reach import (
    BREATHE,
    HEADER,
    LEVEL,
    SENTENCES,
    arrival_of,
    clause_only,
    cue_errors,
    first_sound,
    leads,
    onsets,
    pcm,
    spread,
    stream_format,
)
from skill.app import project_dir
from skill.assets import load_recognizer
from skill.voice.audio import wav_bytes
from skill.voice.stream import BLOCK, LiveStream, stream_header

RATE = 22050


def burst(length: int, *, fade: int = 0, peak: int = 8000) -> array[int]:
    """A sound: `fade` samples rising from zero, then a square wave at `peak`."""
    sound = array("h", bytes(2 * length))
    for i in range(length):
        level = peak * min(1.0, (i + 1) / fade) if fade else peak
        sound[i] = round(level if i % 2 else -level)
    return sound


def test_onsets_find_each_sound_after_silence_and_ignore_gaps_inside_it() -> None:
    samples = array("h", bytes(2 * 20_000))
    for at in (0, 5_000, 12_000):
        samples[at : at + 1_000] = burst(1_000)
    samples[12_500:12_550] = array("h", bytes(100))  # a short dip inside the third sound
    assert onsets(samples, LEVEL, gap=2_000) == [0, 5_000, 12_000]
    assert onsets(samples, LEVEL, gap=40) == [0, 5_000, 12_000, 12_550]


def test_onsets_count_from_the_first_sample_above_the_level() -> None:
    sound = burst(400, fade=100)
    lead = onsets(sound, LEVEL, gap=10)
    assert len(lead) == 1
    assert 0 < lead[0] < 100
    assert abs(sound[lead[0]]) > LEVEL >= abs(sound[lead[0] - 1])


def test_first_sound_and_level() -> None:
    samples = array("h", [0, 0, 5, -400, 0])
    assert first_sound(samples) == 2
    assert first_sound(samples, LEVEL) == 3
    assert first_sound(array("h", bytes(8))) is None


def test_cue_errors_pair_the_nearest_onset_within_the_window() -> None:
    found = [100, 1_000, 1_030, 5_000]
    assert cue_errors([95, 1_020, 3_000, 5_400], found, window=200) == [5, 10, None, None]
    assert cue_errors([], found, window=10) == []
    assert cue_errors([7], [], window=10) == [None]


def test_a_live_stream_puts_every_sound_at_its_planned_sample() -> None:
    """The skill's LiveStream on a fake clock: sounds placed at moments land at
    round(seconds * rate), and the detector finds them there to the sample."""
    now = [100.0]
    stream = LiveStream(RATE, now=lambda: now[0])
    planned = [0.25, 1.5, 3.0, 4.125]
    sound = burst(2_000, fade=50)
    wav = wav_bytes(sound.tobytes(), RATE)
    lead = onsets(sound, LEVEL, gap=100)[0]
    for seconds in planned:
        assert stream.place(wav, 100.0 + seconds) == round(seconds * RATE)
    now[0] += 5.0
    stream.finish()
    data = stream_header(RATE) + stream.block(0, stream.released())
    assert stream_format(data) == (RATE, "")
    found = onsets(pcm(data), LEVEL, round(0.1 * RATE))
    expected = [round(s * RATE) + lead for s in planned]
    assert cue_errors(expected, found, window=BLOCK) == [0, 0, 0, 0]


def test_stream_format_names_what_is_wrong() -> None:
    assert stream_format(b"RIFF") == (0, "only 4 bytes")
    fixed = bytearray(wav_bytes(bytes(200), RATE)[:HEADER])
    rate, problem = stream_format(bytes(fixed))
    assert rate == RATE
    assert "sizes" in problem


def test_arrival_of_gives_the_chunk_that_held_a_sample() -> None:
    chunks = [(1.0, HEADER), (2.0, HEADER + 200), (3.0, HEADER + 400)]
    assert arrival_of(0, chunks) == 2.0
    assert arrival_of(99, chunks) == 2.0
    assert arrival_of(100, chunks) == 3.0
    assert math.isnan(arrival_of(200, chunks))


def test_leads_compare_audio_received_with_wall_time() -> None:
    start = 10.0
    one_second = HEADER + 2 * RATE
    chunks = [(10.0, HEADER), (11.2, one_second), (12.1, one_second + 2 * RATE)]
    found = leads(chunks, start, RATE)
    assert [t for t, _ in found] == [11.2, 12.1]
    assert [round(lead, 6) for _, lead in found] == [-0.2, -0.1]


def test_spread_reports_runs_median_p95_and_max_in_ms() -> None:
    assert spread([0.010, 0.020, 0.030]) == ["3", "20", "29", "30"]
    assert spread([]) == ["0", "—", "—", "—"]


def test_the_sentences_mean_breathing_only_in_clauses() -> None:
    """Rhasspy's templates are the skill's own: none of the sentences matches them as a
    whole, so Rhasspy sends intentNotRecognized; the built-in recognizer joins the
    clauses into AftercareBreathe."""
    recognizer = load_recognizer(bench_config(project_dir() / "unused"), project_dir())
    for sentence in SENTENCES:
        assert sentence == sentence.lower()
        assert "," not in sentence
        assert clause_only(recognizer, sentence) == BREATHE, sentence
    assert clause_only(recognizer, "start breathing") is None


@pytest.mark.parametrize("odd", [0, 1])
def test_pcm_skips_the_header_and_a_trailing_odd_byte(odd: int) -> None:
    data = stream_header(RATE) + array("h", [1, -2, 3]).tobytes() + bytes(odd)
    assert list(pcm(data)) == [1, -2, 3]
