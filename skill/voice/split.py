"""A Piper voice in two parts, so a sentence of any length renders in a bounded memory.

A Piper (VITS) model turns phonemes into a latent spectrum (the text side: encoder,
durations, flow), then its decoder turns that spectrum into samples. Nearly all of a
render's memory is the decoder's, and it grows with the length of the sentence (about
0.23 MiB per frame of 256 samples). The decoder is convolutional: each sample depends
only on the frames near it, so it can run over the spectrum in windows of a fixed size
that overlap by `PAD` frames on each side, and the joined samples are those of one pass
(to within 1e-6 of full scale, checked in tests/test_split.py). Every window but a
sentence's last has the same shape, so onnxruntime reuses the same buffers for each.

The model file is split here by reading its protobuf wire format directly (the two parts
share nothing but the boundary tensor). The running skill keeps the parts in its data
folder (`cache/voice`, private, erased by `aftercare forget`), split once per voice file
(about 0.1 s) and read at every later start; elsewhere they go to a temporary folder.
A model that is not shaped like Piper's export (no `/dec/` nodes, or a decoder that needs
more than the spectrum, as a multi-speaker voice's does) is not split: the caller then
renders it whole, phrase by phrase.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

DECODER_PREFIX = "/dec/"
"""Name prefix of the decoder's nodes in Piper's ONNX export."""
WINDOW = 128
"""Frames the decoder renders in one run (output plus context on both sides): about
1.5 s of speech, about 30 MiB of buffers."""
PAD = 16
"""Frames of context on each side of a window's output. With the bundled voice, 12 give
the whole model's samples exactly and 8 leave seams of 28 steps of 16-bit audio."""

_MODEL_GRAPH = 7
_GRAPH_NODE, _GRAPH_NAME, _GRAPH_INITIALIZER = 1, 2, 5
_GRAPH_INPUT, _GRAPH_OUTPUT = 11, 12
_NODE_INPUT, _NODE_OUTPUT, _NODE_NAME, _NODE_ATTRIBUTE = 1, 2, 3, 5
_TENSOR_NAME = 8
_LENGTH_DELIMITED = 2
TEXT_SIDE, DECODER, BOUNDARY = "text.onnx", "decoder.onnx", "boundary"
"""File names of the parts in their folder (BOUNDARY: the boundary tensor's name)."""


@dataclass(frozen=True)
class SplitModel:
    """The two parts of a split voice, written as ONNX files."""

    text_side: Path
    """Phonemes, lengths and scales in; the latent spectrum (`boundary`) out."""
    decoder: Path
    """The spectrum in; the samples out, as the whole model gives them."""
    boundary: str
    """Name of the tensor between the parts: shape [1, channels, frames]."""


def kept_parts(model: Path, folder: Path) -> SplitModel | None:
    """The model's parts kept in `folder`, split now if they are not there yet.

    One subfolder per voice file (its size, time and path); the parts of any other voice
    file are removed when a new one is split. A model that can't be split is remembered
    as such (a file `none`). Folders 0700, files 0600.
    """
    facts = model.stat()
    key = f"{facts.st_size}:{facts.st_mtime_ns}:{model.resolve()}"
    kept = folder / hashlib.sha256(key.encode()).hexdigest()[:16]
    if (kept / "none").exists():
        return None
    if all((kept / name).exists() for name in (TEXT_SIDE, DECODER, BOUNDARY)):
        return _parts(kept, (kept / BOUNDARY).read_text(encoding="utf-8"))
    for missing in [*reversed(folder.parents), folder]:
        if not missing.exists():
            missing.mkdir(mode=0o700)  # private from the first missing folder down
    fresh = Path(tempfile.mkdtemp(dir=folder, prefix=".split-"))
    try:
        made = split_model(model, fresh)
        with _private(fresh / ("none" if made is None else BOUNDARY)) as out:
            out.write(b"" if made is None else made.boundary.encode("utf-8"))
        for old in folder.iterdir():
            if old != fresh:
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        fresh.rename(kept)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return None if made is None else _parts(kept, made.boundary)


def _parts(folder: Path, boundary: str) -> SplitModel:
    return SplitModel(folder / TEXT_SIDE, folder / DECODER, boundary)


def split_model(model: Path, folder: Path) -> SplitModel | None:
    """Write `model`'s text side and decoder into `folder` (TEXT_SIDE, DECODER), or None
    when it can't be split.

    Reads the file through a memory map, so only its small records are copied; the
    weights go from the map to the new files.
    """
    with model.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        view = memoryview(data)
        try:
            return _split(view, folder)
        finally:
            view.release()


def _split(data: memoryview, folder: Path) -> SplitModel | None:
    top = list(_fields(data))
    graph_fields = [f for f in top if f.number == _MODEL_GRAPH]
    if len(graph_fields) != 1:
        return None
    graph = graph_fields[0]
    body = data[graph.start : graph.end]
    fields = list(_fields(body))
    nodes: list[_Node] = []
    initializers: list[tuple[str, _Field]] = []
    outputs: list[str] = []
    for field in fields:
        payload = body[field.start : field.end]
        if field.number == _GRAPH_NODE:
            nodes.append(_node(payload, field))
        elif field.number == _GRAPH_INITIALIZER:
            initializers.append((_string_field(payload, _TENSOR_NAME), field))
        elif field.number == _GRAPH_OUTPUT:
            outputs.append(_string_field(payload, 1))
    cut = _cut(nodes, outputs, {name for name, _ in initializers})
    if cut is None:
        return None
    boundary, decoder_nodes = cut
    decoder_inputs = {name for node in decoder_nodes for name in node.inputs}
    text_inputs = {name for node in nodes if node not in decoder_nodes for name in node.inputs}
    parts = _parts(folder, boundary)
    head = [f for f in top if f.number != _MODEL_GRAPH]
    boundary_info = _value_info(boundary)
    kept: list[bytes | memoryview]
    with _private(parts.text_side) as out:
        kept = [
            *(body[f.key : f.end] for f in fields if f.number not in _REBUILT),
            *(body[n.field.key : n.field.end] for n in nodes if n not in decoder_nodes),
            *(body[f.key : f.end] for name, f in initializers if name in text_inputs),
            *(body[f.key : f.end] for f in fields if f.number == _GRAPH_INPUT),
            _record(_GRAPH_OUTPUT, boundary_info),
        ]
        _write_model(out, data, head, kept)
    with _private(parts.decoder) as out:
        kept = [
            _record(_GRAPH_NAME, b"decoder"),
            *(body[n.field.key : n.field.end] for n in nodes if n in decoder_nodes),
            *(body[f.key : f.end] for name, f in initializers if name in decoder_inputs),
            _record(_GRAPH_INPUT, boundary_info),
            *(body[f.key : f.end] for f in fields if f.number == _GRAPH_OUTPUT),
        ]
        _write_model(out, data, head, kept)
    return parts


_REBUILT = {_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT, 13}
"""Graph fields written anew for each part (13: value_info, shapes onnxruntime infers)."""


def _cut(
    nodes: Sequence[_Node], outputs: Sequence[str], weights: set[str]
) -> tuple[str, set[_Node]] | None:
    """The boundary tensor and the decoder's nodes, or None when the model is not Piper's."""
    first = next((n for n in nodes if n.name.startswith(DECODER_PREFIX)), None)
    if first is None or not first.inputs or first.has_subgraph:
        return None
    boundary = first.inputs[0]
    decoder = _ancestors(nodes, set(outputs), stop=boundary)
    produced = {name for node in decoder for name in node.outputs}
    needs = {name for node in decoder for name in node.inputs if name and name not in produced}
    if needs - weights != {boundary} or any(n.has_subgraph for n in decoder):
        return None
    if _ancestors(nodes, {boundary}, stop=None) & decoder:
        return None
    return boundary, decoder


def _ancestors(nodes: Sequence[_Node], wanted: set[str], stop: str | None) -> set[_Node]:
    """Nodes that `wanted` depends on (nodes are in topological order), not beyond `stop`."""
    needed = set(wanted)
    found: set[_Node] = set()
    for node in reversed(nodes):
        if needed.intersection(node.outputs):
            found.add(node)
            needed.update(name for name in node.inputs if name and name != stop)
    return found


def decoder_windows(frames: int) -> Iterator[tuple[int, int, int, int]]:
    """(input start, input end, output start, output end) frames of each decoder run.

    Each run reads at most WINDOW frames (all of them but the last exactly WINDOW) and
    keeps only frames at least PAD away from a cut; the sentence's own ends need no
    context, so the first window keeps all but its last PAD frames.
    """
    start = 0
    while start < frames:
        low = max(0, start - PAD)
        high = min(frames, low + WINDOW)
        end = frames if high == frames else high - PAD
        yield low, high, start, end
        start = end


def run_split(
    text_side: Any, decoder: Any, boundary: str, feed: dict[str, Any], last: Any = None
) -> Any:
    """Samples for one input, shaped as the whole model's run gives them.

    `last`: onnxruntime RunOptions for the text side's run and the decoder's last window
    (the arena's shrinkage: the buffers one sentence used go back when it is done, and
    the windows between reuse theirs).
    """
    import numpy as np

    (spectrum,) = text_side.run([boundary], feed, last)
    windows = list(decoder_windows(int(spectrum.shape[2])))
    parts = []
    for index, (low, high, start, end) in enumerate(windows):
        window = np.ascontiguousarray(spectrum[:, :, low:high])
        options = last if index == len(windows) - 1 else None
        (samples,) = decoder.run(None, {boundary: window}, options)
        hop = samples.shape[-1] // (high - low)  # samples per frame: 256 in Piper's voices
        parts.append(samples[..., (start - low) * hop : (end - low) * hop])
    return np.concatenate(parts, axis=-1)


@dataclass(frozen=True)
class _Field:
    number: int
    key: int
    """Offset of the field's key (where its record starts)."""
    start: int
    """Offset of its value (a length-delimited field's payload)."""
    end: int


@dataclass(frozen=True, eq=False)
class _Node:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    has_subgraph: bool
    field: _Field


def _node(payload: memoryview, field: _Field) -> _Node:
    name = ""
    inputs: list[str] = []
    outputs: list[str] = []
    attributes = False
    for part in _fields(payload):
        if part.number == _NODE_ATTRIBUTE:
            attributes = attributes or _has_graph(payload[part.start : part.end])
            continue
        if part.number not in (_NODE_INPUT, _NODE_OUTPUT, _NODE_NAME):
            continue
        text = bytes(payload[part.start : part.end]).decode("utf-8")
        if part.number == _NODE_INPUT:
            inputs.append(text)
        elif part.number == _NODE_OUTPUT:
            outputs.append(text)
        else:
            name = text
    return _Node(name, tuple(inputs), tuple(outputs), attributes, field)


def _has_graph(attribute: memoryview) -> bool:
    """Whether an AttributeProto holds a graph (fields 6 and 11: g, graphs)."""
    return any(f.number in (6, 11) for f in _fields(attribute))


def _string_field(payload: memoryview, number: int) -> str:
    for field in _fields(payload):
        if field.number == number:
            return bytes(payload[field.start : field.end]).decode("utf-8")
    return ""


def _fields(data: memoryview) -> Iterator[_Field]:
    """The fields of one protobuf message, in order."""
    pos = 0
    size = len(data)
    while pos < size:
        key_at = pos
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, end = _varint(data, pos)
            start = pos
        elif wire == 1:
            start, end = pos, pos + 8
        elif wire == 5:
            start, end = pos, pos + 4
        elif wire == _LENGTH_DELIMITED:
            length, start = _varint(data, pos)
            end = start + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if end > size:
            raise ValueError("truncated protobuf message")
        yield _Field(number, key_at, start, end)
        pos = end


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated protobuf varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _record(number: int, payload: bytes) -> bytes:
    """One length-delimited field."""
    return _encode_varint(number << 3 | _LENGTH_DELIMITED) + _encode_varint(len(payload)) + payload


def _value_info(name: str) -> bytes:
    """ValueInfoProto of a float tensor of rank 3 with named (free) dimensions."""
    dims = b"".join(_record(1, _record(2, f"{name}:{i}".encode())) for i in range(3))
    tensor = _encode_varint(1 << 3) + _encode_varint(1) + _record(2, dims)  # elem_type FLOAT
    return _record(1, name.encode()) + _record(2, _record(1, tensor))


def _private(path: Path) -> BinaryIO:
    """A new file only its owner can read (0600), open for writing."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def _write_model(
    out: BinaryIO, data: memoryview, head: Sequence[_Field], graph: Sequence[bytes | memoryview]
) -> None:
    """A ModelProto: the original's fields but its graph, then the given graph fields."""
    for field in head:
        out.write(data[field.key : field.end])
    out.write(_encode_varint(_MODEL_GRAPH << 3 | _LENGTH_DELIMITED))
    out.write(_encode_varint(sum(len(part) for part in graph)))
    for part in graph:
        out.write(part)
