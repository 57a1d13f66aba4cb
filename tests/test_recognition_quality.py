"""Issue #6: natural utterances are recognized, unrelated ones are not.

tests/data/utterances.yaml holds natural utterances written apart from the
templates; tests/data/unrelated.yaml things a bedside speaker hears that are
not for Aftercare. The built-in recognizer must get at least 95 % of intents
and slots right with no false positive, and hassil on the Home Assistant export
at least 95 % of intents. A failure prints the per-intent breakdown and every miss.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.recognition import (
    NAMES,
    PLAYLISTS,
    SAFEWORDS,
    Case,
    Guess,
    Score,
    asr_text,
    builtin_guesser,
    hassil_guesser,
    load_cases,
    load_unrelated,
    recognizer,
    rhasspy_guesses,
    score,
    utterance_sets,
)
from skill.base.vocabulary import CONTEXT_ONLY
from skill.language.nlu import Recognizer

TARGET = 0.95
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_cases()


@pytest.fixture(scope="module")
def unrelated() -> list[str]:
    return load_unrelated()


@pytest.fixture(scope="module")
def nlu() -> Recognizer:
    return recognizer()


@pytest.fixture(scope="module")
def builtin(nlu: Recognizer, cases: list[Case], unrelated: list[str]) -> Score:
    return score("built-in", builtin_guesser(nlu), cases, unrelated)


def test_the_sets_are_big_enough_and_cover_every_intent(
    nlu: Recognizer, cases: list[Case], unrelated: list[str]
) -> None:
    assert len(cases) >= 200
    assert len(unrelated) >= 60
    assert (PLAYLISTS, NAMES, SAFEWORDS) == (
        ("Cool down", "Rain sounds"),
        ("Sam", "Alex"),
        ("red",),
    )
    per_intent = Counter(case.intent for case in cases)
    # Answers only (CONTEXT_ONLY) are never recognized without a session that listens for
    # them: tests/data/plan_answers.yaml and tests/test_plan_recognition.py have those.
    assert set(per_intent) == nlu.intent_names - CONTEXT_ONLY
    assert min(per_intent.values()) >= 5, per_intent
    assert len({case.text for case in cases}) == len(cases), "duplicate utterances"
    assert len(set(unrelated)) == len(unrelated), "duplicate unrelated utterances"


def test_builtin_intent_and_slot_accuracy(builtin: Score) -> None:
    assert builtin.full_accuracy >= TARGET, builtin.breakdown(slots=True)


def test_builtin_has_no_false_positives(builtin: Score) -> None:
    assert not builtin.false_positives, builtin.breakdown(slots=True)


def test_hassil_export_intent_accuracy(
    nlu: Recognizer, cases: list[Case], unrelated: list[str]
) -> None:
    """Home Assistant Assist: hassil on `aftercare sentences --format hassil`."""
    result = score("hassil export", hassil_guesser(nlu), cases, unrelated)
    assert result.intent_accuracy >= TARGET, result.breakdown(slots=False)
    assert not result.false_positives, result.breakdown(slots=False)


# --- issue #13: nothing unrelated is ever recognized, in any set, by any recognizer ----------


@pytest.fixture(scope="module")
def unrelated_sets() -> dict[str, list[str]]:
    """The unrelated sentences of every set, by set name."""
    return {one.name: one.unrelated for one in utterance_sets()}


def _report(set_name: str, found: list[tuple[str, Guess]], blind: bool) -> str:
    """The false positives, or for the blind set only how many (nobody reads its misses)."""
    if blind:
        return f"{len(found)} sentences of blind set {set_name} were recognized"
    return "\n".join(f"{text!r}: {guess.intent} {dict(guess.slots)}" for text, guess in found)


@pytest.mark.parametrize("form", ["as written", "as a speech recognizer writes it"])
def test_no_unrelated_sentence_of_any_set_is_recognized_by_builtin_or_hassil(
    nlu: Recognizer, form: str
) -> None:
    """The built-in recognizer (and hassil on the export) on every set's unrelated
    sentences, as written (`aftercare say`) and as an ASR writes them (the second look)."""
    builtin = builtin_guesser(nlu)
    guessers: tuple[tuple[str, Callable[[str], Guess]], ...]
    if form == "as written":
        guessers = (("built-in", builtin), ("hassil", hassil_guesser(nlu)))
    else:
        guessers = (("built-in on the ASR's text", lambda text: builtin(asr_text(text))),)
    for one in utterance_sets():
        for name, guess in guessers:
            found = [(t, g) for t in one.unrelated if (g := guess(t)).intent is not None]
            assert found == [], f"{name}: " + _report(one.name, found, one.blind)


# On a clean clone this builds Rhasspy's venv, then recognizes ~630 sentences twice; fuzzy
# matching alone took 85 s on one core of a 2-core VM (now split over the cores), and the CI
# machine is slower still: the suite's 120 s would be a flake.
@pytest.mark.timeout(900)
def test_the_real_rhasspy_nlu_recognizes_no_unrelated_sentence_the_skill_would_act_on(
    nlu: Recognizer, unrelated_sets: dict[str, list[str]]
) -> None:
    """Rhasspy 2.5's NLU on the export, fuzzy matching off and on (its default). With fuzzy
    matching on it publishes partial matches ("red wine or white wine" as "red") with a
    confidence below one; the skill acts on none of them (nlu.min_confidence)."""
    built = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "rhasspy_env.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert built.returncode == 0, f"scripts/rhasspy_env.py failed:\n{built.stderr}"
    texts = [t for one in utterance_sets() for t in one.unrelated]
    strict, fuzzy = rhasspy_guesses(texts)
    builtin = builtin_guesser(nlu)

    looked: dict[str, Guess] = {}

    def acts(guesses: dict[str, Guess]) -> dict[str, Guess]:
        """What the skill acts on: the NLU's intent, or its second look at the text as the
        speech recognizer wrote it (each text looked at once)."""

        def look(text: str) -> Guess:
            if text not in looked:
                looked[text] = builtin(asr_text(text))
            return looked[text]

        return {t: g.acted_upon(functools.partial(look, t)) for t, g in guesses.items()}

    rows = (
        ("fuzzy off", strict),
        ("fuzzy off, as the skill acts", acts(strict)),
        ("fuzzy on, as the skill acts", acts(fuzzy)),
    )
    for one in utterance_sets():
        for name, guesses in rows:
            found = [(t, guesses[t]) for t in one.unrelated if guesses[t].intent is not None]
            assert found == [], f"Rhasspy {name}: " + _report(one.name, found, one.blind)
    # The gate is what makes fuzzy matching safe: without it some of these would act.
    assert any(fuzzy[t].intent is not None for t in texts)
