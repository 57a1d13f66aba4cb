"""Breathing chimes, synthesized with numpy at startup: no audio files ship with the skill.

Every chime is quiet (peak at most 0.3 of full scale), starts and ends on silence with
raised-cosine fades, so it never clicks, and glides are phase-continuous: the phase is the
running integral of the frequency, never a jump from one sine to the next.
"""

from __future__ import annotations

import functools
from typing import Final, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from skill.voice.audio import wav_bytes

CHIME_RATE = 22050
"""Sample rate the chimes are rendered at (the voice's rate: one format on the wire)."""

ChimeKind = Literal["inhale", "exhale", "end", "soft"]

CHIME_KINDS: Final[tuple[str, ...]] = get_args(ChimeKind)
"""Every chime the breathing plan may ask for."""
FULL_SCALE: Final = 32767
"""Largest int16 sample value."""

_FloatArray = NDArray[np.float64]


def _fade(n: int, attack: float, release: float, sample_rate: int) -> _FloatArray:
    """1 in the middle, raised-cosine ramps from exactly 0 at the first and last sample."""
    envelope = np.ones(n)
    a = max(2, round(attack * sample_rate))
    r = max(2, round(release * sample_rate))
    envelope[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    envelope[n - r :] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(r) / (r - 1))
    return envelope


def _glide(low: float, high: float, seconds: float, sample_rate: int) -> _FloatArray:
    """A soft tone whose pitch moves smoothly from `low` to `high` Hz."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    ease = 0.5 - 0.5 * np.cos(np.pi * np.clip(t / (0.8 * seconds), 0.0, 1.0))
    frequency = low * (high / low) ** ease
    phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
    # A faint octave keeps it warm rather than a bare test tone.
    wave = np.sin(phase) + 0.12 * np.sin(2 * phase)
    return wave * _fade(len(t), 0.12, 0.35, sample_rate)


def _bell(seconds: float, sample_rate: int) -> _FloatArray:
    """A soft major chord (C5, E5, G5) with a faint high partial, decaying like a bell."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    partials = ((523.25, 1.0, 0.55), (659.26, 0.7, 0.45), (783.99, 0.55, 0.4), (1046.5, 0.15, 0.25))
    wave = sum(
        (level * np.exp(-t / decay) * np.sin(2 * np.pi * f * t) for f, level, decay in partials),
        start=np.zeros(len(t)),
    )
    return wave * _fade(len(t), 0.01, 0.25, sample_rate)


def _tone(frequency: float, seconds: float, sample_rate: int) -> _FloatArray:
    """A single plain tone with a slow swell and fade."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return np.sin(2 * np.pi * frequency * t) * _fade(len(t), 0.2, 0.45, sample_rate)


def render_chime(kind: ChimeKind, sample_rate: int) -> NDArray[np.int16]:
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
    scaled = wave * (peak * FULL_SCALE / float(np.max(np.abs(wave))))
    samples: NDArray[np.int16] = np.round(scaled).astype(np.int16)
    return samples


@functools.lru_cache(maxsize=16)
def chime_wav(kind: ChimeKind, sample_rate: int) -> bytes:
    """One chime as a complete WAV file (rendered once per kind and rate, then cached)."""
    return wav_bytes(render_chime(kind, sample_rate).astype("<i2").tobytes(), sample_rate)
