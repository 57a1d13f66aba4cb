"""WAV helpers: the one audio format on the wire (hermes playBytes takes a whole WAV file)."""

from __future__ import annotations

import io
import wave


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
    clip is as short as the words themselves.
    """
    import numpy as np

    pcm, rate = wav_pcm(wav)
    samples = np.frombuffer(pcm, dtype=np.int16)
    if samples.size == 0:
        return wav
    loud = np.nonzero(np.abs(samples.astype(np.int32)) > threshold * max(1, np.abs(samples).max()))
    if loud[0].size == 0:
        return wav
    margin = int(pad * rate)
    start = max(0, int(loud[0][0]) - margin)
    end = min(samples.size, int(loud[0][-1]) + margin)
    cut = samples[start:end].astype(np.float64)
    fade = min(margin, cut.size // 2)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
        cut[:fade] *= ramp
        cut[-fade:] *= ramp[::-1]
    return wav_bytes(cut.round().astype(np.int16).tobytes(), rate)
