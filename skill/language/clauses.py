"""A request said in clauses: the built-in recognizer's second pass.

People rarely say a request in one breath: "box breathing, ten minutes", "that was a lot,
can you start the aftercare", "we like the long routine, remember that". When a sentence
as a whole matches no template, it is cut into clauses (at punctuation, then also at
"and", "but", "so", "then", and before "can you", "could we", "let's" and the like; a
speech recognizer writes no punctuation, so a sentence of up to SPLIT_WORDS_MAX words is
also tried cut at every word, into two clauses and then three), and each clause must be
one of:

- a request: it matches an intent's templates on its own;
- a part (intents/<language>/parts/): a slot ("ten minutes", "with just chimes"),
  "remember that", or an aside that asks for nothing ("okay", "that was a lot").

The sentence means something only when every clause is one of these, all the requests are
the same intent with no slot said twice with two values, and each slot part fits that
intent. A clause that is none of these (a word the templates do not know, another wish)
makes the whole sentence mean nothing: this pass only ever joins what the templates
already understand, so it never finds a request inside a sentence that is not one
("red wine or white wine" stays nothing, as does "okay, what's the weather like").

Never composed: the caution word (only alone, as the templates say), forgetting what is
stored (it cannot be undone), and anything the intent filter leaves out. The safeword counts
as a clause only beside another way of saying stop ("stop, red"), never in another sentence
("red, okay" means nothing).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hassil import Intents, recognize_all
from hassil.recognize import RecognizeResult

from skill.base.vocabulary import Intent
from skill.language.templates import Templates

NEVER_COMPOSED = frozenset({Intent.CAUTION, Intent.FORGET})
"""Intents taken only from a sentence that matches their templates as a whole."""

SLOTS: Mapping[str, frozenset[str]] = {
    Intent.BREATHE: frozenset({"minutes", "rounds", "style", "pattern"}),
    Intent.START: frozenset({"routine"}),
    Intent.MORE: frozenset({"minutes"}),
    Intent.COOLDOWN: frozenset({"playlist"}),
    Intent.PREFER: frozenset({"routine", "style", "pattern", "playlist"}),
    Intent.PLAN_ANSWER: frozenset({"playlist"}),
}
"""The slots a part may add to each intent; other intents take no slot from a part."""

AS_PREFERENCE: Mapping[str, frozenset[str]] = {
    Intent.START: frozenset({"routine"}),
    Intent.BREATHE: frozenset({"style", "pattern"}),
    Intent.COOLDOWN: frozenset({"playlist"}),
    Intent.PREFER: SLOTS[Intent.PREFER] | {"name", "other_name", "quiet"},
}
"""With "remember that": the requests that become a preference, and the slots it keeps
(at least one must be said: "start aftercare, remember that" names nothing to keep)."""

SPLIT_WORDS_MAX = 16
"""Longest sentence (in words) that is also tried cut at every word into two clauses: how
a sentence without punctuation (a speech recognizer's) gets its clauses."""
THREE_CLAUSE_WORDS_MAX = 12
"""Longest sentence also tried cut into three clauses (the cost grows with its square)."""

REPEATABLE = frozenset({"feeling", "need"})
"""Slots a request may carry more than once, as the templates give them ("tired and sore")."""

REMEMBER = "remember"
ASIDE = "aside"
PLAYLIST = "playlist"
"""The part that names a playlist. Named alone ("rain sounds", "the rain sounds one, i
think") it is an answer, and only where an answer is listened for: when the intents
allowed include AftercarePlanAnswer (a listening session names it). Elsewhere it stays
a part that means nothing by itself. The templates cannot say this: a playlist alone in
AftercarePlanAnswer would reach Rhasspy, which hears every intent outside a session."""

_PUNCTUATION = re.compile(r"\s*(?:[,;:!?\u2026]+|\.+|\s[-\u2013\u2014]+\s)\s*")
_CONJUNCTION = re.compile(r"\s+\b(?:and then|and|but|so|then|because|cause)\b\s+")
_LEADING = re.compile(r"^(?:and then|and|but|so|then)\s+")
_OPENER = re.compile(
    r"\s+(?=(?:can|could|would|will) (?:you|we)\b|(?:let's|lets|please|i'd like|we'd like)\b)"
)


@dataclass(frozen=True)
class Slot:
    """A slot found in one clause, placed in the sentence the clauses make together."""

    name: str
    value: Any
    text: str
    text_span: tuple[int, int] | None


@dataclass(frozen=True)
class Composed:
    """What a sentence said in clauses asks for."""

    intent: str
    slots: tuple[Slot, ...]
    text: str
    """The clauses, normalized and joined by spaces: the text the slots' spans point into."""


@dataclass(frozen=True)
class _Clause:
    kind: str
    """The name of the intent (a request) or of the part it matches."""
    request: bool
    slots: tuple[Slot, ...]
    safeword: bool = False
    """The clause is the safeword alone: it counts only beside another way of saying stop."""


class Clauses:
    """The second pass over a sentence that matched no template as a whole."""

    def __init__(self, templates: Templates) -> None:
        self._templates = templates
        self._parts = templates.parts
        self._safewords = frozenset(templates.safewords)
        self._caution_words = frozenset(templates.caution_words)

    def recognize(self, text: str, intents: Intents) -> Composed | None:
        """The one request the clauses of text make together, or None."""
        if self._parts is None:
            return None
        memo: dict[str, _Clause | None] = {}
        tried: set[tuple[str, ...]] = set()
        for clauses in self._cuts(text):
            if not clauses or clauses in tried:
                continue
            tried.add(clauses)
            composed = self._compose(clauses, intents, memo)
            # One clause is a request only as a whole sentence (tried before this pass),
            # but it may be an answer naming a playlist.
            if composed is not None and (len(clauses) > 1 or composed.intent == Intent.PLAN_ANSWER):
                return composed
        words = self._templates.utterance(text).split()
        if len(words) > SPLIT_WORDS_MAX:
            return None
        for count in (2, 3):
            if count == 3 and len(words) > THREE_CLAUSE_WORDS_MAX:
                break
            found = [
                composed
                for clauses in _word_splits(words, count)
                if clauses not in tried
                and (composed := self._compose(clauses, intents, memo)) is not None
            ]
            if len({one.intent for one in found}) > 1:
                return None  # cut in different places it asks for different things
            if found:
                return max(found, key=lambda one: len(one.slots))
        return None

    def _cuts(self, text: str) -> Iterator[tuple[str, ...]]:
        """The clauses of text: at punctuation; also at conjunctions; also before openers."""
        pieces = (self._templates.utterance(p) for p in _PUNCTUATION.split(text))
        clauses = [_LEADING.sub("", p) for p in pieces if p]
        yield tuple(c for c in clauses if c)
        clauses = [c for p in clauses for c in _CONJUNCTION.split(p) if c]
        yield tuple(clauses)
        yield tuple(c for p in clauses for c in _OPENER.split(p) if c)

    def _compose(
        self, clauses: Sequence[str], intents: Intents, memo: dict[str, _Clause | None]
    ) -> Composed | None:
        found: list[_Clause] = []
        offset = 0
        for clause in clauses:
            if clause not in memo:
                memo[clause] = self._classify(clause, intents)
            one = memo[clause]
            if one is None:
                return None
            found.append(_shifted(one, offset))
            offset += len(clause) + 1
        if any(one.safeword for one in found) and not any(
            one.kind == Intent.STOP and not one.safeword for one in found
        ):
            return None  # the safeword inside another sentence ("red, okay") is not one
        intent = _one_request(found, answering=Intent.PLAN_ANSWER in intents.intents)
        slots = _merged(intent, found) if intent is not None else None
        if intent is None or slots is None:
            return None
        return Composed(intent, slots, " ".join(clauses))

    def _classify(self, clause: str, intents: Intents) -> _Clause | None:
        """The safeword, an aside, a request, or another part, in that order; None for
        anything else (the caution word too). The clause is normalized (it is cut from
        Templates.utterance); slot spans are within it."""
        assert self._parts is not None
        if clause in self._caution_words:
            return None
        if clause in self._safewords:
            if Intent.STOP not in intents.intents:
                return None
            return _Clause(Intent.STOP, request=True, slots=(), safeword=True)
        parts = list(recognize_all(clause, self._parts, language=self._parts.language))
        if any(result.intent.name == ASIDE for result in parts):
            return _Clause(ASIDE, request=False, slots=())
        request = best(clause, intents)
        result = request or (min(parts, key=rank) if parts else None)
        if result is None:
            return None
        slots = tuple(_slot(entity) for entity in result.entities_list)
        return _Clause(result.intent.name, request is not None, slots)


def _word_splits(words: Sequence[str], count: int) -> Iterator[tuple[str, ...]]:
    """Every way to cut the words into `count` clauses, in order."""
    for cuts in itertools.combinations(range(1, len(words)), count - 1):
        bounds = (0, *cuts, len(words))
        yield tuple(" ".join(words[a:b]) for a, b in itertools.pairwise(bounds))


def _shifted(clause: _Clause, offset: int) -> _Clause:
    """The clause with its slot spans moved to where it starts in the sentence."""
    if not offset or not clause.slots:
        return clause
    slots = tuple(
        replace(slot, text_span=(slot.text_span[0] + offset, slot.text_span[1] + offset))
        if slot.text_span is not None
        else slot
        for slot in clause.slots
    )
    return replace(clause, slots=slots)


def rank(result: RecognizeResult) -> tuple[bool, int, int, str]:
    """Sort key, best first: Stop, then more slots, then more literal text, then name."""
    return (
        result.intent.name != Intent.STOP,
        -len(result.entities_list),
        -result.text_chunks_matched,
        result.intent.name,
    )


def best(text: str, intents: Intents) -> RecognizeResult | None:
    """The best match of text (by `rank`), or None when nothing matches."""
    results = list(recognize_all(text, intents, language=intents.language))
    return min(results, key=rank) if results else None


def _slot(entity: Any) -> Slot:
    return Slot(entity.name, entity.value, entity.text, entity.text_span)


def _one_request(found: Sequence[_Clause], *, answering: bool) -> str | None:
    """The intent every request of the sentence is ("remember that" makes it a preference).

    With no request at all: an answer, when one is listened for (`answering`) and the
    sentence only names a playlist, besides asides (see PLAYLIST)."""
    requests = {one.kind for one in found if one.request}
    if not requests and answering:
        named = {one.kind for one in found if one.kind != ASIDE}
        return Intent.PLAN_ANSWER if named == {PLAYLIST} else None
    if len(requests) != 1:
        return None
    intent = requests.pop()
    if intent in NEVER_COMPOSED:
        return None
    if not any(one.kind == REMEMBER for one in found):
        return intent
    keep = AS_PREFERENCE.get(intent, frozenset())
    said = [slot for one in found if one.request for slot in one.slots]
    if not said or any(slot.name not in keep for slot in said):
        return None
    return Intent.PREFER.value


def _merged(intent: str, found: Sequence[_Clause]) -> tuple[Slot, ...] | None:
    """Every clause's slots, in order; None when a part's slot does not fit the intent or a
    slot is said twice with two values (only feelings and needs may be several)."""
    slots: list[Slot] = []
    for one in found:
        allowed = None if one.request else SLOTS.get(intent, frozenset())
        for slot in one.slots:
            if allowed is not None and slot.name not in allowed:
                return None
            same = [kept for kept in slots if kept.name == slot.name]
            if slot.name not in REPEATABLE and any(kept.value != slot.value for kept in same):
                return None
            if all(kept.value != slot.value for kept in same):
                slots.append(slot)
    return tuple(slots)
