"""How well planning answers are understood: recognized with the planning filter, then read
in the light of their question, and compared by what they do to the plan.

It scores `tests/data/heldout_plan.yaml`, the blind set: written by a helper who never saw
the templates or the code, from the questions alone, and never tuned against (only totals
are printed). The answers the templates were written with are checked by intent and slots
in tests/test_plan_recognition.py (`tests/data/plan_answers.yaml`).

    python -m benchmarks.planning
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from benchmarks.recognition import asr_text, recognizer
from skill.base.vocabulary import Intent
from skill.care.plan import ANY_PATTERN, ITEMS, NO_BREATHING, Plan, Wish, merged
from skill.language.nlu import Recognizer
from skill.site.planning import CHOICES, LEFT_OUT, PLAN_ANSWERS, answer_wishes

ROOT = Path(__file__).resolve().parent.parent
BLIND = ROOT / "tests" / "data" / "heldout_plan.yaml"

Outcome = Plan | str
"""What an answer does: the plan it makes from nothing, or skip, stop, declined, unclear."""

_YES = {"words": "words", "music": "music", "breathing": "breathing", "lights": "dim"}
_NO = {
    "words": "quiet",
    "music": "no_music",
    "breathing": "no_breathing",
    "lights": "leave_lights",
    "later": "no_later",
}


@dataclass(frozen=True)
class Answer:
    """One answer of a set."""

    question: str
    text: str
    expected: Outcome


def _wish(question: str, choice: str, meaning: Mapping[str, Any], *, first: bool) -> Wish:
    """The wish one named choice stands for (with the answer's playlist and pattern)."""
    if choice == "yes" and question in _YES:
        choice = _YES[question]
    if choice in ("no", "nothing") and question in _NO:
        choice = _NO[question]
    if choice == "quiet" and question == "music":
        choice = "no_music"
    values: dict[str, str] = {}
    if choice in CHOICES:
        part, value = CHOICES[choice]
        values[part] = value
    playlist = meaning.get("playlist") if first else None
    pattern = meaning.get("pattern") if first else None
    if pattern and values.get("breathing") != NO_BREATHING:
        values["breathing"] = str(pattern)
    leave_out = (LEFT_OUT[choice],) if choice in LEFT_OUT else ()
    return Wish(values, leave_out=leave_out, playlist=str(playlist) if playlist else None)


def expected(question: str, meaning: Mapping[str, Any]) -> Outcome:
    """What an answer should do, from the meaning its writer gave it."""
    if "items" in meaning:
        items = [str(item) for item in meaning["items"]]
        if question == "nearby":
            return merged(Plan(), [Wish(nearby=tuple(i for i in ITEMS if i in items))])
        return merged(Plan(), [_wish(question, item, meaning, first=True) for item in items])
    choice = str(meaning["choice"])
    if choice in ("skip", "unsure"):
        return "skip"
    if choice == "stop":
        return "stop"
    if choice == "none":
        return "unclear"
    if choice in ("no", "nothing") and question == "nearby":
        return merged(Plan(), [Wish(nearby=())])
    if choice in ("no", "nothing") and question not in _NO:
        return "declined"
    if choice == "yes" and question not in _YES:
        return "unclear"
    wishes = [_wish(question, choice, meaning, first=True)]
    if "other_choice" in meaning:
        wishes.append(_wish(question, str(meaning["other_choice"]), meaning, first=False))
    return merged(Plan(), wishes)


def outcome(nlu: Recognizer, question: str, text: str) -> Outcome:
    """What the skill does with `text` said to `question`."""
    found = nlu.recognize(text, intent_filter=PLAN_ANSWERS)
    if found is None:
        return "unclear"
    reading = answer_wishes(question, found)
    if reading.hand_on:
        return "stop" if found.intent.intent_name == Intent.STOP else "handed on"
    if reading.skip:
        return "skip"
    if reading.wishes:
        return merged(Plan(), reading.wishes)
    return "declined" if reading.declined else "unclear"


def matches(expected: Outcome, got: Outcome) -> bool:
    """True when `got` does what was meant. A playlist or breathing pattern the writer did
    not name may be any ("cool down please" labelled only as music)."""
    if not isinstance(expected, Plan) or not isinstance(got, Plan):
        return expected == got
    if expected.playlist is None:
        got = replace(got, playlist=None)
    if expected.breathing == ANY_PATTERN and got.breathing not in (None, NO_BREATHING):
        got = replace(got, breathing=ANY_PATTERN)
    return expected == got


def load(path: Path) -> list[Answer]:
    """A set of answers: `answers: [{question, text, meaning}]`."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Answer(str(a["question"]), str(a["text"]), expected(str(a["question"]), a["meaning"]))
        for a in data["answers"]
    ]


@dataclass(frozen=True)
class PlanScore:
    """Answers understood as meant, and the sentences that were no answer but acted on."""

    total: int
    right: int
    false_actions: int
    """Sentences that were no answer at all, yet changed the plan, skipped or stopped."""
    misread: int
    """Answers understood as something else (the rest of the misses went unanswered:
    "that one stays open")."""
    by_question: Mapping[str, tuple[int, int]]

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0


def score(nlu: Recognizer, answers: list[Answer], *, as_asr: bool = False) -> PlanScore:
    """Score every answer (as written, or as a speech recognizer writes it)."""
    right, false_actions, misread = 0, 0, 0
    per: Counter[str] = Counter()
    ok: Counter[str] = Counter()
    for answer in answers:
        text = asr_text(answer.text) if as_asr else answer.text
        got = outcome(nlu, answer.question, text)
        per[answer.question] += 1
        if matches(answer.expected, got):
            right += 1
            ok[answer.question] += 1
        elif answer.expected == "unclear" and got != "unclear":
            false_actions += 1
        elif got != "unclear":
            misread += 1
    by_question = {q: (ok[q], per[q]) for q in sorted(per)}
    return PlanScore(len(answers), right, false_actions, misread, by_question)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=BLIND)
    args = parser.parse_args()
    nlu = recognizer()
    answers = load(args.path)
    for label, as_asr in (("as written", False), ("as a speech recognizer writes it", True)):
        result = score(nlu, answers, as_asr=as_asr)
        print(
            f"{args.path.name} {label}: {result.right}/{result.total} understood as meant "
            f"({result.accuracy:.1%}); {result.misread} understood as something else, the "
            f"rest left open; {result.false_actions} non-answers acted on"
        )
        for question, (good, count) in result.by_question.items():
            print(f"  {question:<10} {good}/{count}")


if __name__ == "__main__":
    main()
