"""The synthesized chimes: quiet, click-free, the right length, and telling inhale from exhale."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from skill.voice.audio import wav_duration, wav_pcm
from skill.voice.chimes import CHIME_KINDS, FULL_SCALE, ChimeKind, chime_wav, render_chime

RATES = (16000, 22050, 44100)
KINDS: tuple[ChimeKind, ...] = ("inhale", "exhale", "end", "soft")
HIGHEST_PITCH = 1100.0
"""No chime has a partial above this many Hz."""
MAX_PEAK = 0.3 * FULL_SCALE


def samples(kind: ChimeKind, rate: int) -> NDArray[np.float64]:
    """A chime as floats in sample units."""
    return np.asarray(render_chime(kind, rate), dtype=np.float64)


def dominant_pitch(part: NDArray[np.float64], rate: int) -> float:
    """The strongest frequency of a stretch of samples, from a Hann-windowed FFT."""
    padded = np.zeros(1 << 16)
    padded[: len(part)] = part * np.hanning(len(part))
    spectrum = np.abs(np.fft.rfft(padded))
    return float(np.argmax(spectrum)) * rate / len(padded)


def steepest_smooth_step(rate: int) -> float:
    """The largest sample-to-sample change a click-free tone at MAX_PEAK can make."""
    return 2 * math.pi * HIGHEST_PITCH / rate * MAX_PEAK


def clicks(wave: NDArray[np.float64], rate: int) -> bool:
    """True when a jump is steeper than any smooth tone could make, or bends too sharply."""
    bend_limit = (2 * math.pi * HIGHEST_PITCH / rate) ** 2 * MAX_PEAK
    first = float(np.max(np.abs(np.diff(wave))))
    second = float(np.max(np.abs(np.diff(wave, 2))))
    return first > steepest_smooth_step(rate) or second > bend_limit


def test_every_kind_the_plan_asks_for_exists() -> None:
    assert set(CHIME_KINDS) == set(KINDS)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("kind", KINDS)
def test_quiet_short_and_click_free(kind: ChimeKind, rate: int) -> None:
    raw = np.asarray(render_chime(kind, rate))
    assert render_chime(kind, rate).itemsize == 2  # int16
    assert raw.ndim == 1
    wave = raw.astype(np.float64)
    assert 0.5 <= len(wave) / rate <= 1.5
    peak = float(np.max(np.abs(wave)))
    assert 0.02 * FULL_SCALE < peak <= MAX_PEAK
    assert np.max(np.abs(wave)) < FULL_SCALE, "no clipping"
    assert abs(wave[0]) <= 1
    assert abs(wave[-1]) <= 1
    edge = round(0.005 * rate)
    assert np.max(np.abs(wave[:edge])) < 0.25 * peak, "fades in"
    assert np.max(np.abs(wave[-edge:])) < 0.25 * peak, "fades out"
    assert not clicks(wave, rate)


def test_the_click_detector_catches_a_jump() -> None:
    wave = samples("inhale", 44100)
    broken = wave.copy()
    broken[len(broken) // 2 :] += 0.1 * FULL_SCALE
    assert clicks(broken, 44100)
    assert not clicks(wave, 44100)


def test_soft_is_much_quieter_than_the_others() -> None:
    soft = float(np.max(np.abs(samples("soft", 22050))))
    assert soft <= 0.1 * FULL_SCALE
    for kind in ("inhale", "exhale", "end"):
        assert soft < 0.5 * float(np.max(np.abs(samples(kind, 22050))))


@pytest.mark.parametrize("rate", RATES)
def test_inhale_rises_and_exhale_falls(rate: int) -> None:
    glides: tuple[tuple[ChimeKind, bool], ...] = (("inhale", True), ("exhale", False))
    for kind, rises in glides:
        wave = samples(kind, rate)
        third = len(wave) // 3
        start, end = dominant_pitch(wave[:third], rate), dominant_pitch(wave[-third:], rate)
        assert (end / start > 1.1) if rises else (start / end > 1.1), (kind, start, end)


def test_the_glide_is_phase_continuous() -> None:
    wave = samples("inhale", 44100)
    middle = wave[len(wave) // 8 : -len(wave) // 4]  # away from the quiet fades
    crossings = np.nonzero(np.diff(np.signbit(middle)))[0]
    periods = np.diff(crossings[::2])  # full cycles between upward crossings
    assert np.max(np.abs(np.diff(periods))) <= 3, "the period drifts, it never jumps"


def test_the_end_chime_is_a_chord_that_decays() -> None:
    rate = 22050
    wave = samples("end", rate)
    padded = np.zeros(1 << 16)
    padded[: len(wave)] = wave * np.hanning(len(wave))
    spectrum = np.abs(np.fft.rfft(padded))
    freqs = np.fft.rfftfreq(len(padded), 1 / rate)
    strong = spectrum > 0.3 * spectrum.max()
    notes = {round(float(f) / 25) for f in freqs[strong]}
    assert len(notes) >= 3, "several notes at once"
    tenth = len(wave) // 10
    early = float(np.sqrt(np.mean(wave[tenth : 2 * tenth] ** 2)))
    late = float(np.sqrt(np.mean(wave[7 * tenth : 8 * tenth] ** 2)))
    assert late < 0.5 * early


def test_the_kinds_are_distinct() -> None:
    rate = 22050
    fingerprints = {}
    for kind in KINDS:
        wave = samples(kind, rate)
        third = len(wave) // 3
        fingerprints[kind] = (
            len(wave),
            round(dominant_pitch(wave[:third], rate)),
            round(dominant_pitch(wave[-third:], rate)),
        )
    assert len(set(fingerprints.values())) == len(KINDS), fingerprints


@pytest.mark.parametrize("kind", KINDS)
def test_chime_wav_is_a_complete_wav_file(kind: ChimeKind) -> None:
    wav = chime_wav(kind, 22050)
    assert wav[:4] == b"RIFF"
    assert wav[8:12] == b"WAVE"
    pcm, rate = wav_pcm(wav)
    assert rate == 22050
    assert np.array_equal(np.frombuffer(pcm, dtype="<i2"), np.asarray(render_chime(kind, 22050)))
    assert wav_duration(wav) == len(render_chime(kind, 22050)) / 22050


def test_unknown_kinds_and_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="choose one of: inhale, exhale, end, soft"):
        render_chime("gong", 22050)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample_rate"):
        render_chime("inhale", 100)
