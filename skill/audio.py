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
