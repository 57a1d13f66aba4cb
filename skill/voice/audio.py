"""WAV helpers: the one audio format on the wire (hermes playBytes takes a whole WAV file)."""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array


def wav_bytes(pcm: bytes, sample_rate: int, *, channels: int = 1, sample_width: int = 2) -> bytes:
    """Wrap raw little-endian PCM in a complete RIFF/WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(sample_width)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


def wav_duration(wav: bytes) -> float:
    """Length in seconds of a WAV file held in memory."""
    with wave.open(io.BytesIO(wav), "rb") as reader:
        return reader.getnframes() / float(reader.getframerate())


def wav_pcm(wav: bytes) -> tuple[bytes, int]:
    """The raw PCM frames and sample rate of a WAV file held in memory."""
    with wave.open(io.BytesIO(wav), "rb") as reader:
        return reader.readframes(reader.getnframes()), reader.getframerate()


def trim_silence(wav: bytes, *, threshold: float = 0.02, pad: float = 0.02) -> bytes:
    """Cut the quiet lead-in and tail of a 16-bit mono WAV, keeping `pad` s with soft edges.

    Breathing cues are trimmed so their first sound lands on the phase boundary and the
    clip is as short as the words themselves. Plain Python (a few milliseconds for a cue),
    so the skill's own process never needs numpy.
    """
    pcm, rate = wav_pcm(wav)
    samples = array("h")
    samples.frombytes(pcm)
    if sys.byteorder == "big":  # pragma: no cover - WAV is little-endian
        samples.byteswap()
    if not samples:
        return wav
    level = threshold * max(1, *samples, -min(samples))
    size = len(samples)
    # Scan in from each end: only the quiet edges are visited sample by sample.
    first = next((i for i in range(size) if abs(samples[i]) > level), None)
    if first is None:
        return wav
    last = next(i for i in range(size - 1, -1, -1) if abs(samples[i]) > level)
    margin = int(pad * rate)
    start = max(0, first - margin)
    end = min(size, last + margin)
    cut = samples[start:end]
    fade = min(margin, len(cut) // 2)
    step = math.pi / (fade - 1) if fade > 1 else 0.0
    for i in range(fade):
        ramp = 0.5 - 0.5 * math.cos(i * step)
        cut[i] = round(cut[i] * ramp)
        cut[len(cut) - 1 - i] = round(cut[len(cut) - 1 - i] * ramp)
    if sys.byteorder == "big":  # pragma: no cover
        cut.byteswap()
    return wav_bytes(cut.tobytes(), rate)
