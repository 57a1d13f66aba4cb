"""Issue #17: the answers to the planning questions, and no sentence taken from another intent.

AftercarePlanAnswer is recognized only inside the planning conversation, whose listening
sessions name it in their intent filter beside the intents the planning code reads as
answers itself (PLANNING_FILTER, skill.site.planning.PLAN_ANSWERS). Rhasspy, though, sees
every intent at once outside a session: so no sentence another intent matches, and no
sentence of any test set, may be a plan answer, or Rhasspy could hand a bare "quiet" to
the plan intent and the skill would ignore it.

tests/data/plan_answers.yaml holds answers to each question with the intent and slots they
must give under the planning filter; a slot said more than once is a list, in order.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hassil import Intents, recognize_all
from hassil.expression import (
    Alternative,
    Expression,
    Group,
    ListReference,
    Permutation,
    RuleReference,
    TextChunk,
)
from hassil.intents import RangeSlotList, TextSlotList
from rhasspyhermes.nlu import NluIntent

from benchmarks.recognition import recognizer, utterance_sets
from skill.base.vocabulary import CONTEXT_ONLY, Intent
from skill.language.keys import PLAN_QUESTIONS
from skill.language.nlu import Recognizer
from skill.routines.runner import CHECKIN_ANSWERS
from skill.site.planning import PLAN_ANSWERS as PLANNING_FILTER

ANSWERS_FILE = Path(__file__).resolve().parent / "data" / "plan_answers.yaml"
TARGET = 0.95

PLAN_INTENTS: tuple[str, ...] = (Intent.PLAN_ANSWER, Intent.PLAN, Intent.PLAN_RECALL)
SETS = utterance_sets()
"""Every test set (benchmarks.recognition): the blind one, the held-out ones, the tuning one."""

EXCEPTIONS: Mapping[str, str] = {
    # Held-out set B writes it as a request for the cool-down music, but no template of
    # AftercareCooldown takes it (the benchmark counts it a miss), so no intent is robbed of
    # it: outside a session Rhasspy now publishes AftercarePlanAnswer for it, which the skill
    # does not act on, as before it acted on nothing. As an answer to "music afterwards?"
    # it is the plainest yes there is.
    "music please": "held-out B: no template matches it; a plain answer to the music question",
}
"""Sentences of the test sets that may be plan answers, each with why."""

Slots = dict[str, str | int | list[str | int]]


@dataclass(frozen=True)
class Answer:
    """One answer to a planning question, with what the planning filter must make of it."""

    question: str
    text: str
    intent: str
    slots: Slots


def load_answers(path: Path = ANSWERS_FILE) -> list[Answer]:
    """tests/data/plan_answers.yaml: a list of {question, text, intent, slots?}."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, list), f"{path}: expected a list of answers"
    answers: list[Answer] = []
    for index, entry in enumerate(document):
        assert isinstance(entry, dict), f"{path}[{index}]: expected a mapping"
        assert {"question", "text", "intent"} <= set(entry), f"{path}[{index}]"
        assert set(entry) <= {"question", "text", "intent", "slots"}, f"{path}[{index}]"
        slots = entry.get("slots") or {}
        assert isinstance(slots, dict), f"{path}[{index}]: slots must be a mapping"
        answers.append(
            Answer(str(entry["question"]), str(entry["text"]), str(entry["intent"]), slots)
        )
    return answers


def read_slots(result: NluIntent) -> Slots:
    """The slots as the planning code reads them: a value each, or a list when said twice."""
    values: dict[str, list[str | int]] = {}
    for slot in result.slots or ():
        value = (slot.value or {}).get("value")
        assert isinstance(value, str | int), slot
        values.setdefault(slot.slot_name, []).append(value)
    return {name: found[0] if len(found) == 1 else found for name, found in values.items()}


def guess(nlu: Recognizer, text: str, intent_filter: tuple[str, ...]) -> tuple[str | None, Slots]:
    """The intent and slots of text under intent_filter ((None, {}) for nothing)."""
    result = nlu.recognize(text, intent_filter=intent_filter)
    if result is None:
        return None, {}
    return result.intent.intent_name, read_slots(result)


@pytest.fixture(scope="module")
def nlu() -> Recognizer:
    """The benchmark's recognizer: playlists Cool down and Rain sounds, safeword red."""
    return recognizer()


@pytest.fixture(scope="module")
def answers() -> list[Answer]:
    return load_answers()


# --- the answers ---------------------------------------------------------------------


def test_the_answers_cover_every_question_and_the_other_intents(answers: list[Answer]) -> None:
    assert Intent.PLAN_ANSWER in PLANNING_FILTER
    assert len(answers) >= 120
    assert len({a.text.lower() for a in answers}) == len(answers), "duplicate answers"
    per_question = Counter(a.question for a in answers)
    assert set(per_question) == set(PLAN_QUESTIONS)
    assert min(per_question.values()) >= 12, per_question
    assert {a.intent for a in answers} <= set(PLANNING_FILTER)
    others = {a.intent for a in answers} - {Intent.PLAN_ANSWER}
    assert len(others) >= 10, others
    plan = [a for a in answers if a.intent == Intent.PLAN_ANSWER]
    assert len(plan) >= 80
    assert sum("other_choice" in a.slots for a in plan) >= 6, "two people's wishes"
    assert sum(isinstance(a.slots.get("choice"), list) for a in plan) >= 6, "compound answers"
    assert any("playlist" in a.slots for a in plan)
    assert any("pattern" in a.slots for a in plan)


def test_planning_filter_gets_the_answers_right(nlu: Recognizer, answers: list[Answer]) -> None:
    """At least 95 % of the answers give exactly their intent and slots."""
    misses = []
    for answer in answers:
        got = guess(nlu, answer.text, PLANNING_FILTER)
        if got != (answer.intent, answer.slots):
            misses.append(
                f"[{answer.question}] {answer.text!r}: want {answer.intent} {answer.slots}, "
                f"got {got[0]} {got[1]}"
            )
    hits = len(answers) - len(misses)
    assert hits / len(answers) >= TARGET, f"{hits}/{len(answers)}\n" + "\n".join(misses)


def test_answers_of_other_intents_are_no_plan_answer(
    nlu: Recognizer, answers: list[Answer]
) -> None:
    """What another intent takes, AftercarePlanAnswer does not take too (no overlap)."""
    overlap = [
        a.text
        for a in answers
        if a.intent != Intent.PLAN_ANSWER
        and nlu.recognize(a.text, intent_filter=[Intent.PLAN_ANSWER]) is not None
    ]
    assert overlap == []


def test_plan_answers_are_recognized_only_when_listened_for(
    nlu: Recognizer, answers: list[Answer]
) -> None:
    """Outside a session (no filter) a plan answer is nothing, never a plan answer."""
    assert {Intent.PLAN_ANSWER} == CONTEXT_ONLY
    for answer in answers:
        result = nlu.recognize(answer.text)
        assert result is None or result.intent.intent_name != Intent.PLAN_ANSWER, answer.text
        if answer.intent == Intent.PLAN_ANSWER:
            assert result is None, (answer.text, result.intent.intent_name)


# --- nothing taken from another intent, nothing unrelated -------------------------------


def _report(name: str, found: list[str], blind: bool) -> str:
    """The sentences found, or for the blind set only how many (nobody reads its misses)."""
    if blind:
        return f"{len(found)} sentences of blind set {name}"
    return f"set {name}: " + ", ".join(repr(text) for text in found)


# Some 3,900 sentences in all, each recognized twice or three times: about 15 s a set on one
# core of a 2-core VM, and the CI machine is slower.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("index", range(len(SETS)), ids=[one.name for one in SETS])
def test_no_sentence_of_any_set_is_taken_by_the_plan_intents(nlu: Recognizer, index: int) -> None:
    """Every request of every set (but the plan intents' own) and every unrelated sentence,
    recognized with only the plan intents listened for, is nothing (EXCEPTIONS aside)."""
    one = SETS[index]
    texts = [c.text for c in one.cases if c.intent not in PLAN_INTENTS] + one.unrelated
    found = [
        text
        for text in texts
        if text not in EXCEPTIONS and nlu.recognize(text, intent_filter=PLAN_INTENTS) is not None
    ]
    assert found == [], _report(one.name, found, one.blind)
    for case in one.cases:
        if case.intent in PLAN_INTENTS:
            others = [name for name in PLAN_INTENTS if name != case.intent]
            assert nlu.recognize(case.text, intent_filter=others) is None, case.text


def test_the_exceptions_are_plan_answers_no_other_intent_takes(nlu: Recognizer) -> None:
    """Each exception is in a set, is a plan answer, and matches nothing else as a whole."""
    texts = {c.text for one in SETS for c in one.cases}
    others = _intents_without(nlu, Intent.PLAN_ANSWER)
    for text in EXCEPTIONS:
        assert text in texts, text
        assert guess(nlu, text, (Intent.PLAN_ANSWER,))[0] == Intent.PLAN_ANSWER, text
        assert nlu.recognize(text) is None, text
        assert not list(recognize_all(nlu.templates.utterance(text), others)), text


def _intents_without(nlu: Recognizer, name: str) -> Intents:
    intents = nlu.templates.intents
    return Intents(
        language=intents.language,
        intents={n: i for n, i in intents.intents.items() if n != name},
        slot_lists=intents.slot_lists,
        expansion_rules=intents.expansion_rules,
        skip_words=intents.skip_words,
        settings=intents.settings,
    )


def _sampler(intents: Intents, seed: int, empty: float) -> Callable[[Expression], str]:
    """Random sentences of a template: one alternative, list value and order each time; an
    optional part left out with probability `empty`."""
    rng = random.Random(seed)

    def words(expression: Expression) -> Iterator[str]:
        if isinstance(expression, TextChunk):
            yield expression.text
        elif isinstance(expression, Permutation):
            items = list(expression.items)
            rng.shuffle(items)
            for item in items:
                yield from words(item)
        elif isinstance(expression, Alternative):
            if not (expression.is_optional and rng.random() < empty):
                yield from words(rng.choice(expression.items))
        elif isinstance(expression, Group):
            for item in expression.items:
                yield from words(item)
        elif isinstance(expression, RuleReference):
            yield from words(intents.expansion_rules[expression.rule_name].expression)
        elif isinstance(expression, ListReference):
            slot_list = intents.slot_lists[expression.list_name]
            if isinstance(slot_list, RangeSlotList):
                yield str(rng.randint(slot_list.start, slot_list.stop))
            else:
                assert isinstance(slot_list, TextSlotList)
                yield from words(rng.choice(slot_list.values).text_in)
        else:
            raise TypeError(f"unexpected hassil expression {expression!r}")

    return lambda expression: " ".join(" ".join(words(expression)).split())


@pytest.mark.parametrize("intent", PLAN_INTENTS)
def test_no_sentence_of_the_plan_intents_is_another_intents(nlu: Recognizer, intent: str) -> None:
    """Random sentences of each plan intent's templates (short ones, and ones with leads and
    courtesies) match no other intent's templates as a whole: Rhasspy, which sees every
    intent at once, could give either."""
    intents = nlu.templates.intents
    others = _intents_without(nlu, intent)
    templates = [s.expression for data in intents.intents[intent].data for s in data.sentences]
    overlaps: dict[str, set[str]] = {}
    for seed, empty in ((17, 0.9), (18, 0.6)):
        sample = _sampler(intents, seed, empty)
        rng = random.Random(seed)
        for _ in range(700):
            text = sample(rng.choice(templates))
            found = {result.intent.name for result in recognize_all(text, others)}
            if found:
                overlaps[text] = found
    assert overlaps == {}


@pytest.mark.parametrize("text", ["rain sounds", "the rain sounds one", "some rain sounds i think"])
def test_a_playlist_named_alone_is_an_answer_only_to_planning(nlu: Recognizer, text: str) -> None:
    """Built-in only (clauses): under a check-in's filter, or none, it is nothing at all."""
    found = nlu.recognize(text, intent_filter=PLANNING_FILTER)
    assert found is not None
    assert found.intent.intent_name == Intent.PLAN_ANSWER
    assert [slot.slot_name for slot in found.slots or []] == ["playlist"]
    assert nlu.recognize(text) is None
    assert nlu.recognize(text, intent_filter=CHECKIN_ANSWERS) is None
