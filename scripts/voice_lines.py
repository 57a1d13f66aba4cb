#!/usr/bin/env python3
"""Render every line the voice can say with the real Piper voice, to read and listen to.

For each variant of each key in responses/<language>.yaml (placeholders filled with the
values the code passes, every emergency-number form included), sentence by sentence as the
skill speaks them: the seconds it takes, the longest pause inside it, and the phonemes
Piper reads it as (how numbers, names and abbreviations come out). WAV files go to
--wav-dir when given, to listen to.

    .venv/bin/python scripts/voice_lines.py [--keys PREFIX...] [--wav-dir DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import array
import io
import itertools
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skill.config.settings import VoiceSettings  # noqa: E402
from skill.language import keys, spoken  # noqa: E402
from skill.language.responses import ResponseBook, response_path  # noqa: E402
from skill.voice.piper import PiperSynthesizer, split_sentences  # noqa: E402

SAMPLES: dict[str, tuple[object, ...]] = {
    "minutes": (2, 5, 25),
    "rounds": (4,),
    "name": ("Sam",),
    "names": ("Sam and Alex",),
    "playlist": ("Rain sounds",),
    "routine": ("long",),
    "pattern": ("four seven eight",),
    "style": ("fewer words",),
    "where": ("your local emergency number", spoken.digits("112"), spoken.digits("911")),
    "time": ("about twenty-five to twelve at night", "about a quarter past seven in the morning"),
    "playlists": ("Cool down or Rain sounds", "Cool down, Rain sounds or Mum's Lullabies"),
    "plan": (
        "a few soft words, Cool down played softly and a morning check-in",
        "mostly quiet, no music, no guided breathing, the lights as they are"
        " and no questions from me",
    ),
    "items": (
        "some water and a blanket",
        "some water, a snack, a blanket, a towel and some tissues",
    ),
}
"""Values the code passes for each placeholder (numbers become words when picked)."""
QUIET = 300
"""A sample this close to zero is silence, for finding pauses."""


def filled(book: ResponseBook, key: str) -> Iterator[str]:
    """Every variant of a key, once per sample value of its placeholder (if any)."""
    needed = sorted(keys.PLACEHOLDERS.get(key, frozenset()))
    for variant in book.variants(key):
        if not needed:
            yield variant
            continue
        name = needed[0]
        for value in SAMPLES[name]:
            values = {n: SAMPLES[n][0] for n in needed} | {name: value}
            words = {n: spoken.number(v) if isinstance(v, int) else v for n, v in values.items()}
            yield variant.format(**words)


def longest_pause(wav: bytes) -> float:
    """Seconds of the longest quiet stretch between the first and last sound."""
    with wave.open(io.BytesIO(wav)) as reader:
        rate: int = reader.getframerate()
        samples = array.array("h", reader.readframes(reader.getnframes()))
    loud = [i for i, s in enumerate(samples) if abs(s) > QUIET]
    if not loud:
        return 0.0
    gaps = [b - a for a, b in itertools.pairwise(loud)]
    return float(max(gaps, default=0)) / rate


def main() -> int:
    """Render the lines and print one Markdown table row per sentence."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--language", default="en")
    parser.add_argument("--keys", nargs="*", default=[], help="only keys starting with these")
    parser.add_argument("--wav-dir", type=Path, help="write each sentence's WAV here")
    parser.add_argument("--out", type=Path, help="write the table here (default: stdout)")
    args = parser.parse_args()
    book = ResponseBook.load(response_path(ROOT / "responses", args.language))
    voice = PiperSynthesizer(VoiceSettings())
    rows = ["| key | sentence | seconds | longest pause | phonemes |", "|---|---|---|---|---|"]
    if args.wav_dir:
        args.wav_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for key in sorted(book.keys()):
        if args.keys and not key.startswith(tuple(args.keys)):
            continue
        for line in filled(book, key):
            for sentence in split_sentences(line):
                wav = voice.synthesize(sentence)
                with wave.open(io.BytesIO(wav)) as reader:
                    seconds = reader.getnframes() / reader.getframerate()
                phonemes = " | ".join(voice.phonemes(sentence))
                rows.append(
                    f"| {key} | {sentence} | {seconds:.2f} | {longest_pause(wav):.2f} "
                    f"| {phonemes} |"
                )
                if args.wav_dir:
                    count += 1
                    (args.wav_dir / f"{count:04d}-{key}.wav").write_bytes(wav)
    table = "\n".join(rows) + "\n"
    if args.out:
        args.out.write_text(table, encoding="utf-8")
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
