"""Breathing chimes, synthesized at startup in plain Python: no audio files ship with the skill.

Every chime is quiet (peak at most 0.3 of full scale), starts and ends on silence with
raised-cosine fades, so it never clicks, and glides are phase-continuous: the phase is the
running integral of the frequency, never a jump from one sine to the next. Plain Python
(about 0.15 s for all four) rather than numpy keeps numpy's import (0.3 s) off the start:
the chimes are what people hear while the voice is still loading.
"""

from __future__ import annotations

import functools
import math
import sys
from array import array
from typing import Final, Literal, get_args

from skill.voice.audio import wav_bytes

CHIME_RATE = 22050
"""Sample rate the chimes are rendered at (the voice's rate: one format on the wire)."""

ChimeKind = Literal["inhale", "exhale", "end", "soft"]

CHIME_KINDS: Final[tuple[str, ...]] = get_args(ChimeKind)
"""Every chime the breathing plan may ask for."""
FULL_SCALE: Final = 32767
"""Largest int16 sample value."""


def _fade(wave: list[float], attack: float, release: float, sample_rate: int) -> list[float]:
    """The wave with raised-cosine ramps from exactly 0 at its first and last sample."""
    n = len(wave)
    a = max(2, round(attack * sample_rate))
    r = max(2, round(release * sample_rate))
    out = list(wave)
    for i in range(min(a, n)):
        out[i] *= 0.5 - 0.5 * math.cos(math.pi * i / a)
    for j in range(r):
        out[n - r + j] *= 0.5 + 0.5 * math.cos(math.pi * j / (r - 1))
    return out


def _glide(low: float, high: float, seconds: float, sample_rate: int) -> list[float]:
    """A soft tone whose pitch moves smoothly from `low` to `high` Hz."""
    n = round(seconds * sample_rate)
    span = 0.8 * seconds
    ratio = high / low
    step = 2 * math.pi / sample_rate
    wave: list[float] = []
    phase = 0.0
    for i in range(n):
        ease = 0.5 - 0.5 * math.cos(math.pi * min(1.0, i / sample_rate / span))
        phase += step * low * ratio**ease
        # A faint octave keeps it warm rather than a bare test tone.
        wave.append(math.sin(phase) + 0.12 * math.sin(2 * phase))
    return _fade(wave, 0.12, 0.35, sample_rate)


def _bell(seconds: float, sample_rate: int) -> list[float]:
    """A soft major chord (C5, E5, G5) with a faint high partial, decaying like a bell."""
    partials = ((523.25, 1.0, 0.55), (659.26, 0.7, 0.45), (783.99, 0.55, 0.4), (1046.5, 0.15, 0.25))
    wave = [0.0] * round(seconds * sample_rate)
    for frequency, level, decay in partials:
        turn = 2 * math.pi * frequency / sample_rate
        fall = math.exp(-1.0 / (decay * sample_rate))
        gain = level
        for i in range(len(wave)):
            wave[i] += gain * math.sin(turn * i)
            gain *= fall
    return _fade(wave, 0.01, 0.25, sample_rate)


def _tone(frequency: float, seconds: float, sample_rate: int) -> list[float]:
    """A single plain tone with a slow swell and fade."""
    turn = 2 * math.pi * frequency / sample_rate
    wave = [math.sin(turn * i) for i in range(round(seconds * sample_rate))]
    return _fade(wave, 0.2, 0.45, sample_rate)


def render_chime(kind: ChimeKind, sample_rate: int) -> array[int]:
    """Mono int16 samples of one chime: inhale rises, exhale falls, end is a bell, soft is faint."""
    if kind not in CHIME_KINDS:
        raise ValueError(f"unknown chime {kind!r}; choose one of: {', '.join(CHIME_KINDS)}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}")
    if kind == "inhale":
        wave, peak = _glide(392.0, 523.25, 0.9, sample_rate), 0.22
    elif kind == "exhale":
        wave, peak = _glide(523.25, 392.0, 1.1, sample_rate), 0.22
    elif kind == "end":
        wave, peak = _bell(1.4, sample_rate), 0.25
    else:
        wave, peak = _tone(440.0, 0.8, sample_rate), 0.08
    scale = peak * FULL_SCALE / max(abs(x) for x in wave)
    return array("h", (round(x * scale) for x in wave))


@functools.lru_cache(maxsize=16)
def chime_wav(kind: ChimeKind, sample_rate: int) -> bytes:
    """One chime as a complete WAV file (rendered once per kind and rate, then cached)."""
    samples = render_chime(kind, sample_rate)
    if sys.byteorder == "big":  # pragma: no cover - WAV is little-endian
        samples.byteswap()
    return wav_bytes(samples.tobytes(), sample_rate)
