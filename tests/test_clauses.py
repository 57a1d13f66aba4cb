"""A request said in clauses (skill.language.clauses): what it joins, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from skill.base.vocabulary import Intent
from skill.language.clauses import best
from skill.language.nlu import Recognizer

INTENTS_DIR = Path(__file__).resolve().parent.parent / "intents"

Slots = dict[str, list[str]]


@pytest.fixture(scope="module")
def nlu() -> Recognizer:
    return Recognizer.load(
        INTENTS_DIR,
        playlists=("Cool down", "Rain sounds"),
        names=("Sam", "Alex"),
        safewords=("red",),
        caution_words=("yellow",),
    )


def heard(nlu: Recognizer, text: str) -> tuple[str | None, Slots]:
    found = nlu.recognize(text)
    if found is None:
        return None, {}
    slots: Slots = {}
    for one in found.slots or []:
        slots.setdefault(one.slot_name, []).append(str(one.value["value"]))
    return found.intent.intent_name, slots


@pytest.mark.parametrize(
    ("text", "intent", "slots"),
    [
        # an aside before the request
        ("that was a lot. can you breathe with us", Intent.BREATHE, {}),
        ("thank you, we're done, can you start the aftercare", Intent.START, {}),
        ("we're going to sleep, rest breathing please", Intent.BREATHE, {"pattern": ["rest"]}),
        # slot parts join the request
        (
            "coherent breathing, twelve minutes",
            Intent.BREATHE,
            {"minutes": ["12"], "pattern": ["coherent"]},
        ),
        (
            "box breathing, fifteen minutes, just chimes",
            Intent.BREATHE,
            {"minutes": ["15"], "pattern": ["box"], "style": ["chime"]},
        ),
        # "remember that" makes a request a lasting preference
        ("the long aftercare, remember that", Intent.PREFER, {"routine": ["long"]}),
        ("box breathing, remember that for next time", Intent.PREFER, {"pattern": ["box"]}),
        # the safeword beside another way of saying stop
        ("stop, red", Intent.STOP, {}),
        # as a speech recognizer writes it: no punctuation
        ("start breathing and then just chimes", Intent.BREATHE, {"style": ["chime"]}),
        ("we're back so carry on", Intent.RESUME, {}),
    ],
)
def test_clauses_that_make_one_request(
    nlu: Recognizer, text: str, intent: str, slots: Slots
) -> None:
    whole = best(nlu.templates.utterance(text), nlu.templates.intents)
    assert whole is None, "the templates match it as a whole: not a test of clauses"
    got_intent, got_slots = heard(nlu, text)
    assert got_intent == intent
    assert {k: sorted(v) for k, v in got_slots.items()} == slots


@pytest.mark.parametrize(
    "text",
    [
        # a clause nothing understands makes the whole sentence mean nothing
        "okay, what's the weather like",
        "start breathing, then call my mum",
        "box breathing, bake a cake",
        # two different requests
        "no, not yet",
        "start aftercare, stop",
        # the safeword never inside another sentence, the caution word only ever alone
        "red, okay",
        "i'm tired, red",
        "yellow, stop",
        "box breathing, yellow",
        # forgetting cannot be undone: only a whole sentence that says so
        "we're back, forget our settings",
        # a part that does not fit the request, or says a slot twice with two values
        "turn the music off, ten minutes",
        "box breathing, four seven eight breathing",
        # "remember that" with nothing to keep
        "start aftercare, remember that",
        "i'm tired, remember that",
        # parts alone are no request
        "ten minutes, just chimes",
        "we're back, thank you",
    ],
)
def test_clauses_that_mean_nothing(nlu: Recognizer, text: str) -> None:
    assert nlu.recognize(text) is None


def test_a_composed_intent_reads_like_rhasspys(nlu: Recognizer) -> None:
    """Slots point into the input as Rhasspy's do: the value substituted at its range."""
    found = nlu.recognize("Box breathing, ten minutes!")
    assert found is not None
    assert found.input == "box breathing 10 minutes"
    assert found.raw_input == "Box breathing, ten minutes!"
    assert found.intent.confidence_score == 1.0
    for one in found.slots or []:
        assert one.range is not None
        assert found.input[one.range.start : one.range.end] == str(one.value["value"])


def test_the_intent_filter_holds_for_clauses(nlu: Recognizer) -> None:
    """A check-in that listens only for feelings never gets a breathing request in parts."""
    text = "box breathing, ten minutes"
    assert nlu.recognize(text, intent_filter=[Intent.FEELING]) is None
    found = nlu.recognize(text, intent_filter=[Intent.BREATHE])
    assert found is not None
    assert found.intent.intent_name == Intent.BREATHE


def test_whole_sentences_still_win(nlu: Recognizer) -> None:
    """A sentence the templates match as a whole is never cut: "water and a blanket"."""
    assert heard(nlu, "i need water and a blanket") == (
        Intent.NEED,
        {"need": ["water", "blanket"]},
    )


@pytest.mark.parametrize(
    ("text", "intent", "slots"),
    [
        ("that was a lot can you breathe with us", Intent.BREATHE, {}),
        ("we're going to sleep rest breathing please", Intent.BREATHE, {"pattern": ["rest"]}),
        (
            "box breathing fifteen minutes just chimes",
            Intent.BREATHE,
            {"minutes": ["15"], "pattern": ["box"], "style": ["chime"]},
        ),
        ("the long aftercare remember that", Intent.PREFER, {"routine": ["long"]}),
        ("stop red", Intent.STOP, {}),
    ],
)
def test_clauses_without_punctuation_as_a_speech_recognizer_writes(
    nlu: Recognizer, text: str, intent: str, slots: Slots
) -> None:
    """Rhasspy's rawInput has no commas: the sentence is also tried cut at every word."""
    got_intent, got_slots = heard(nlu, text)
    assert got_intent == intent
    assert {k: sorted(v) for k, v in got_slots.items()} == slots


@pytest.mark.parametrize(
    "text",
    ["red okay", "okay what's the weather like", "i'm tired red", "we're back forget our settings"],
)
def test_cut_at_every_word_still_means_nothing_when_a_part_is_not_understood(
    nlu: Recognizer, text: str
) -> None:
    assert nlu.recognize(text) is None


def test_a_long_sentence_is_not_cut_at_every_word(nlu: Recognizer) -> None:
    """Past SPLIT_WORDS_MAX words only punctuation and conjunctions cut it (bounded cost)."""
    assert nlu.recognize("okay okay start aftercare") is not None
    assert nlu.recognize(", ".join(["okay"] * 15) + ", start aftercare") is not None
    assert nlu.recognize(" ".join(["okay"] * 15) + " start aftercare") is None
