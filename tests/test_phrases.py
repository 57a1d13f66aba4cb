"""Long sentences are rendered phrase by phrase, so one synthesis stays short."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skill.language.responses import ResponseBook
from skill.voice.piper import PHRASE_CHARS, phrases, split_sentences

ROOT = Path(__file__).resolve().parent.parent

words = st.text(alphabet="abcdefghij", min_size=1, max_size=12)
punctuated = st.sampled_from(["", ",", ";", ":"])


@given(st.lists(st.tuples(words, punctuated), min_size=1, max_size=40), st.integers(13, 80))
def test_parts_are_short_and_keep_every_word(pieces: list[tuple[str, str]], max_chars: int) -> None:
    """Every part fits (no word is longer than the limit here); nothing is lost or moved."""
    sentence = " ".join(word + mark for word, mark in pieces)
    parts = phrases(sentence, max_chars)
    assert all(0 < len(part) <= max_chars for part in parts)
    assert " ".join(parts).split() == sentence.split()


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Short and sweet.", ["Short and sweet."]),
        (
            "If holding feels uncomfortable, skip it and keep breathing gently.",
            ["If holding feels uncomfortable,", "skip it and keep breathing gently."],
        ),
        (
            "Maybe share something you're grateful for, or simply rest.",
            ["Maybe share something you're grateful for,", "or simply rest."],
        ),
        (
            "Sam and Alex are welcome to take every minute they would like tonight.",
            ["Sam and Alex are welcome to take", "every minute they would like tonight."],
        ),
    ],
)
def test_cuts_fall_on_commas_first_then_near_the_middle(sentence: str, expected: list[str]) -> None:
    """A comma is a natural pause; without one, the halves are as even as the words allow."""
    assert phrases(sentence, PHRASE_CHARS) == expected


def test_no_shipped_line_is_cut_between_words() -> None:
    """Every sentence the voice says is short, or has a comma where Piper can pause."""
    book = ResponseBook.load(ROOT / "responses" / "en.yaml")
    mid_phrase = []
    for text in book.all_texts():
        for sentence in split_sentences(text):
            parts = phrases(sentence, PHRASE_CHARS)
            if any(not part.endswith((",", ";", ":")) for part in parts[:-1]):
                mid_phrase.append(sentence)
    assert mid_phrase == []
