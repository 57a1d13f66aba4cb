"""The voice split in two (voice/split.py): the same samples as the whole model, in windows.

The bundled model is split for real and both are run by onnxruntime with no noise, so
their samples can be compared; the windows are checked for every length.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skill.config.settings import VoiceSettings
from skill.voice import split
from skill.voice.piper import PiperSynthesizer, bundled_model
from skill.voice.split import (
    PAD,
    WINDOW,
    SplitModel,
    decoder_windows,
    kept_parts,
    split_model,
)

pytestmark = [pytest.mark.piper, pytest.mark.timeout(120)]

SENTENCES = [
    "Hello.",
    "Breathe in, slowly.",
    "If you'd like some water, or a blanket, or just some quiet, say so and I'll wait.",
    "Whenever you are ready, let your shoulders soften and rest for a while, "
    "and take one slow breath with me, and then another, as slow as you like.",
]


def _session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )


@pytest.fixture(scope="module")
def parts() -> Iterator[SplitModel]:
    with tempfile.TemporaryDirectory() as folder:
        found = split_model(bundled_model(), Path(folder))
        assert found is not None
        yield found


def _feed(text: str) -> dict[str, Any]:
    """Piper's input for a text, with no noise (so two runs can be compared)."""
    from piper import PiperVoice
    from piper.config import PiperConfig

    model = bundled_model()
    config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
    voice = PiperVoice(config=PiperConfig.from_dict(config), session=None)
    ids = [i for sentence in voice.phonemize(text) for i in voice.phonemes_to_ids(sentence)]
    return {
        "input": np.array([ids], dtype=np.int64),
        "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32),
    }


def test_the_split_voice_gives_the_whole_models_samples(parts: SplitModel) -> None:
    """For short and long sentences (one window, several): the same samples to 2e-6."""
    whole = _session(bundled_model())
    text_side, decoder = _session(parts.text_side), _session(parts.decoder)
    frames = []
    for sentence in SENTENCES:
        feed = _feed(sentence)
        expected = whole.run(None, feed)[0]
        got = split.run_split(text_side, decoder, parts.boundary, feed)
        assert got.shape == expected.shape
        assert float(np.abs(got - expected).max()) < 2e-6, sentence
        frames.append(expected.shape[-1] // 256)  # Piper's samples per frame
    assert frames[0] < WINDOW < 3 * WINDOW < frames[-1]  # one window, and many


def test_the_parts_are_smaller_than_the_whole(parts: SplitModel) -> None:
    """Each weight is written to the part that uses it: together about the model's size."""
    whole = bundled_model().stat().st_size
    sizes = parts.text_side.stat().st_size, parts.decoder.stat().st_size
    assert all(size < whole for size in sizes)
    assert abs(sum(sizes) - whole) < 0.01 * whole


def _identity_model(path: Path) -> Path:
    """A valid ONNX model with one Identity node: nothing like Piper's."""
    node = split._record(1, b"x") + split._record(2, b"y") + split._record(4, b"Identity")
    graph = (
        split._record(1, node)
        + split._record(2, b"g")
        + split._record(11, split._value_info("x"))
        + split._record(12, split._value_info("y"))
    )
    opset = split._encode_varint(2 << 3) + split._encode_varint(15)
    path.write_bytes(b"\x08\x08" + split._record(8, opset) + split._record(7, graph))
    return path


def test_a_model_not_shaped_like_piper_is_not_split(tmp_path: Path) -> None:
    """No `/dec/` nodes: None, and the caller renders the model whole."""
    model = _identity_model(tmp_path / "identity.onnx")
    import onnxruntime

    onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])  # it is valid
    assert split_model(model, tmp_path) is None


def test_a_truncated_model_is_an_error_not_a_split(tmp_path: Path) -> None:
    """Half a file: ValueError (the voice then fails to load with its usual message)."""
    model = tmp_path / "half.onnx"
    data = bundled_model().read_bytes()
    model.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        split_model(model, tmp_path)


@given(st.integers(min_value=1, max_value=3000))
def test_the_windows_cover_every_frame_once_with_context(frames: int) -> None:
    """Outputs tile the frames in order; every run reads WINDOW frames but the last (at
    most WINDOW); an output frame is at least PAD from a window's cut edge; a window
    overlaps the one before by no more than the context both need."""
    windows = list(decoder_windows(frames))
    assert [w[2] for w in windows] == [0] + [w[3] for w in windows[:-1]]
    assert windows[-1][3] == frames
    assert all(high - low == WINDOW for low, high, _, _ in windows[:-1])
    for low, high, start, end in windows:
        assert 0 <= low <= start < end <= high <= frames
        assert high - low <= WINDOW
        assert low == 0 or start - low == PAD
        assert high == frames or high - end == PAD
    computed = sum(high - low for low, high, _, _ in windows)
    assert computed <= frames + 2 * PAD * (len(windows) - 1)


def test_a_voice_that_cannot_be_split_renders_whole_by_phrases(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A split that fails (a full disk, say) is logged; the voice still speaks."""

    def no_room(model: Path, folder: Path) -> SplitModel | None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(split, "split_model", no_room)
    voice = PiperSynthesizer(VoiceSettings())
    with caplog.at_level(logging.INFO, logger="skill.voice.piper"):
        voice.load()
    assert "could not split" in caplog.text
    assert voice.phrase_chars < 100
    assert len(voice.synthesize(SENTENCES[-1])) > 44 + 22050 * 2 * 4


def test_the_parts_are_removed_once_loaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing of the split stays on disk: onnxruntime has read both parts."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    voice = PiperSynthesizer(VoiceSettings())
    voice.load()
    assert voice.phrase_chars > 100
    assert list(tmp_path.iterdir()) == []
    assert voice.synthesize("Hello.")


def _modes(folder: Path) -> set[tuple[str, int]]:
    return {(p.name, p.stat().st_mode & 0o777) for p in folder.rglob("*")}


def test_the_parts_are_kept_private_split_once_and_replaced_for_another_voice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A folder per voice file (0700, files 0600); read again without splitting; a new
    voice file's parts replace the old ones; a model that can't be split is remembered."""
    folder = tmp_path / "data" / "cache" / "voice"
    first = kept_parts(bundled_model(), folder)
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    assert first is not None
    assert first.boundary
    (kept,) = folder.iterdir()
    assert _modes(folder) == {
        (kept.name, 0o700),
        ("text.onnx", 0o600),
        ("decoder.onnx", 0o600),
        ("boundary", 0o600),
    }

    def never(model: Path, out: Path) -> SplitModel | None:
        raise AssertionError("split again")

    monkeypatch.setattr(split, "split_model", never)
    assert kept_parts(bundled_model(), folder) == first
    monkeypatch.undo()
    other = _identity_model(tmp_path / "other.onnx")
    assert kept_parts(other, folder) is None
    (remembered,) = folder.iterdir()
    assert remembered != kept
    assert [p.name for p in remembered.iterdir()] == ["none"]
    monkeypatch.setattr(split, "split_model", never)
    assert kept_parts(other, folder) is None
