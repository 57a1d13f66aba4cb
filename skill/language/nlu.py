"""Built-in intent recognizer: text matched against the Templates, Hermes NluIntent out.

First the sentence as a whole, exactly; then, when that finds nothing, the clauses it is said in
(skill.language.clauses).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from hassil import Intents
from rhasspyhermes.intent import Intent, Slot, SlotRange
from rhasspyhermes.nlu import NluIntent

from skill.base.vocabulary import CONTEXT_ONLY
from skill.language.clauses import Clauses, best
from skill.language.templates import DEFAULT_ROUTINES, Templates, load_templates


@dataclass(frozen=True)
class Recognizer:
    """Matches normalized utterances against the templates: whole, then in clauses; never fuzzy."""

    templates: Templates
    """The templates this recognizer matches against."""

    @classmethod
    def load(
        cls,
        intents_dir: Path,
        *,
        language: str = "en",
        playlists: Sequence[str] = (),
        safewords: Sequence[str] = ("red",),
        names: Sequence[str] = (),
        caution_words: Sequence[str] = ("yellow",),
        routines: Sequence[str] = DEFAULT_ROUTINES,
    ) -> Recognizer:
        """Load intents_dir/<language>/*.yaml with the config's playlists, names and words.

        routines: every routine name people can ask for (skill.routines.routine_names).
        """
        templates = load_templates(
            intents_dir,
            language=language,
            playlists=playlists,
            safewords=safewords,
            names=names,
            caution_words=caution_words,
            routines=routines,
        )
        return cls(templates)

    @property
    def intent_names(self) -> frozenset[str]:
        """Names of every intent the templates define."""
        return frozenset(self.templates.intents.intents)

    def recognize(
        self,
        text: str,
        *,
        site_id: str = "default",
        session_id: str | None = None,
        intent_filter: Collection[str] | None = None,
    ) -> NluIntent | None:
        """Return the intent for text as rhasspy-nlu-hermes would publish it, or None.

        An empty or None intent_filter allows every intent, as in Rhasspy, except those
        that are only answers (CONTEXT_ONLY): a session must name them.
        """
        normalized = self.templates.utterance(text)
        if not normalized:
            return None
        intents = self._filtered(intent_filter)
        found = best(normalized, intents)
        slots: Sequence[_Entity]
        if found is not None:
            name, slots = found.intent.name, found.entities_list
        else:
            if intent_filter and best(normalized, self.templates.intents) is not None:
                return None  # it means something as a whole, only not what is listened for
            composed = self._clauses.recognize(text, intents)
            if composed is None:
                return None
            name, slots, normalized = composed.intent, composed.slots, composed.text
        return _to_nlu_intent(
            name,
            slots,
            normalized,
            text,
            site_id=site_id,
            session_id=session_id,
            language=self.templates.language,
        )

    @cached_property
    def _clauses(self) -> Clauses:
        return Clauses(self.templates)

    def _filtered(self, intent_filter: Collection[str] | None) -> Intents:
        """The intents allowed by intent_filter (when it is empty, all of them but those
        that mean something only as an answer: CONTEXT_ONLY)."""
        intents = self.templates.intents
        allowed = set(intent_filter or ()) or set(intents.intents) - CONTEXT_ONLY
        if allowed >= set(intents.intents):
            return intents
        return Intents(
            language=intents.language,
            intents={name: intent for name, intent in intents.intents.items() if name in allowed},
            slot_lists=intents.slot_lists,
            expansion_rules=intents.expansion_rules,
            skip_words=intents.skip_words,
            settings=intents.settings,
        )


# --- recognition -------------------------------------------------------------


def _plain(value: Any) -> str | int | None:
    """A slot value as the skill uses it: whole numbers as int, text as str."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value
    return None


class _Entity(Protocol):
    """A slot as hassil's MatchEntity and clauses.Slot both give it."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> Any: ...
    @property
    def text(self) -> str: ...
    @property
    def text_span(self) -> tuple[int, int] | None: ...


def _to_nlu_intent(
    name: str,
    entities: Sequence[_Entity],
    normalized: str,
    raw_text: str,
    *,
    site_id: str,
    session_id: str | None,
    language: str,
) -> NluIntent:
    """Build the NluIntent, substituting slot values into the input as Rhasspy does."""
    pieces: list[str] = []
    slots: list[Slot] = []
    cursor = 0
    length = 0
    for entity in entities:
        value = _plain(entity.value)
        span = _locate(normalized, entity.text, entity.text_span, cursor)
        if value is None or span is None:
            continue
        raw_start, raw_end = span
        before = normalized[cursor:raw_start]
        pieces.append(before)
        length += len(before)
        substituted = str(value)
        slots.append(
            Slot(
                entity=entity.name,
                slot_name=entity.name,
                value={"kind": "Number" if isinstance(value, int) else "Unknown", "value": value},
                raw_value=normalized[raw_start:raw_end],
                confidence=1.0,
                range=SlotRange(
                    start=length,
                    end=length + len(substituted),
                    raw_start=raw_start,
                    raw_end=raw_end,
                ),
            )
        )
        pieces.append(substituted)
        length += len(substituted)
        cursor = raw_end
    pieces.append(normalized[cursor:])
    substituted_input = "".join(pieces)
    return NluIntent(
        input=substituted_input,
        intent=Intent(intent_name=name, confidence_score=1.0),
        site_id=site_id,
        session_id=session_id,
        slots=slots,
        asr_tokens=[NluIntent.make_asr_tokens(substituted_input.split())],
        raw_input=raw_text,
        lang=language,
    )


def _locate(
    normalized: str, text: str, reported: tuple[int, int] | None, cursor: int
) -> tuple[int, int] | None:
    """Where an entity's words are in the normalized text, at or after cursor.

    hassil 3.12 reports spans too far right after a number spoken as words, so
    its span is used only when it holds the entity's words; otherwise the last
    occurrence at or before the reported start is taken.
    """
    needle = text.strip()
    if not needle:
        return None
    words = re.compile(rf"(?<!\S){re.escape(needle)}(?!\S)")
    if reported is not None:
        reported_text = normalized[reported[0] : reported[1]]
        start = reported[0] + len(reported_text) - len(reported_text.lstrip())
        if start >= cursor and words.match(normalized, start):
            return start, start + len(needle)
    found: tuple[int, int] | None = None
    for match in words.finditer(normalized):
        if match.start() < cursor:
            continue
        if found is not None and reported is not None and match.start() > reported[0]:
            break
        found = match.span()
        if reported is None:
            break
    return found
