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
    loud = [i for i, x in enumerate(samples) if abs(x) > level]
    if not loud:
        return wav
    margin = int(pad * rate)
    start = max(0, loud[0] - margin)
    end = min(len(samples), loud[-1] + margin)
    cut = [float(x) for x in samples[start:end]]
    fade = min(margin, len(cut) // 2)
    if fade > 0:
        step = math.pi / (fade - 1) if fade > 1 else 0.0
        for i in range(fade):
            ramp = 0.5 - 0.5 * math.cos(i * step)
            cut[i] *= ramp
            cut[len(cut) - 1 - i] *= ramp
    out = array("h", (round(x) for x in cut))
    if sys.byteorder == "big":  # pragma: no cover
        out.byteswap()
    return wav_bytes(out.tobytes(), rate)
