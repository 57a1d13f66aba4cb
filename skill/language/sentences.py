"""Export the sentence templates for Rhasspy 2.5 (sentences.ini) and Home Assistant (YAML).

Both exports come from the same hassil templates the built-in recognizer uses,
with the configured playlists, names, routines, safewords and caution words filled in.

The Rhasspy export renders every hassil expression in Rhasspy's own syntax:
hassil lists become rules of `spoken:value` alternatives used as
`(<list_name>){slot}` (`{slot!int}` for numbers), numbers are spelled out
(`(twenty five):25`), and expansion rules become section-local rules. Words
written with digits are left out: Rhasspy's speech recognizer only produces
words, and its trainer would turn digits into integer slots. A template that
cannot match anything (for example one naming `{playlist}` when no playlist is
configured) is left out, and so is an intent left without sentences (AftercareCaution
when no caution word is configured).

Intents that are only answers (skill.base.vocabulary.CONTEXT_ONLY: AftercarePlanAnswer)
go into the Rhasspy export, whose listening sessions name them in their intent filter,
but not into the Home Assistant exports: there the answers come back to the skill as raw
text, which its own recognizer reads.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import yaml
from hassil import (
    Alternative,
    Expression,
    Group,
    ListReference,
    Permutation,
    RangeSlotList,
    RuleReference,
    Sequence,
    SlotList,
    TextChunk,
    TextSlotList,
    parse_sentence,
)
from hassil.numbers import get_rbnf_engine

from skill.base.vocabulary import CONTEXT_ONLY
from skill.language.nlu import Recognizer
from skill.language.templates import Templates

_NOT_RULE_NAME = re.compile(r"\W")
_DIGIT = re.compile(r"\d")
# Characters with a meaning in Rhasspy's sentences.ini (or its ini parser).
_RHASSPY_SPECIAL = re.compile(r"[()\[\]{}<>|:!$=#;%\\]")


def to_rhasspy(source: Recognizer | Templates) -> str:
    """A Rhasspy 2.5 sentences.ini with one section per intent, from the hassil templates."""
    templates = source.templates if isinstance(source, Recognizer) else source
    return _RhasspyWriter(templates).write()


def to_hassil(source: Recognizer | Templates) -> str:
    """A Home Assistant custom-sentences YAML file, with the config's words filled in.

    Answers only (CONTEXT_ONLY) are left out: Assist has no listening session to name them.
    """
    templates = source.templates if isinstance(source, Recognizer) else source
    document = templates.document
    header = (
        "# Home Assistant custom sentences for Aftercare, generated from "
        f"intents/{templates.language}/*.yaml.\n"
        "# Do not edit: change the templates or the config and export again.\n"
    )
    body: dict[str, Any] = {
        "language": document["language"],
        "skip_words": list(document["skip_words"]),
        "expansion_rules": dict(document["expansion_rules"]),
        "lists": dict(document["lists"]),
        "intents": {
            name: intent for name, intent in document["intents"].items() if name not in CONTEXT_ONLY
        },
    }
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=1000)


class _RhasspyWriter:
    """Renders hassil expressions as Rhasspy sentences.ini text, rule by rule."""

    def __init__(self, templates: Templates) -> None:
        self._templates = templates
        self._intents = templates.intents
        self._names: dict[tuple[str, str], str] = {}
        self._bodies: dict[str, str | None] = {}
        self._deps: dict[str, set[str]] = {}

    def write(self) -> str:
        """The whole sentences.ini text."""
        playlists = ", ".join(" ".join(name.split()) for name in self._templates.playlists)
        safewords = ", ".join(self._templates.safewords) or "(none)"
        caution_words = ", ".join(self._templates.caution_words) or "(none)"
        routines = ", ".join(self._templates.routines) or "(none)"
        lines = [
            "# Rhasspy 2.5 sentences for Aftercare, generated from "
            f"intents/{self._templates.language}/*.yaml.",
            "# Do not edit: change the templates or the config and export again.",
            f"# Playlists: {playlists or '(none)'}",
            f"# Routines: {routines}",
            f"# Safewords: {safewords}",
            f"# Caution words: {caution_words}",
        ]
        # The built-in recognizer and hassil drop the template's skip words ("um", "uh")
        # before matching; Rhasspy keeps every word, so a sentence may start with one.
        skip = [w for w in self._templates.document["skip_words"] if not _DIGIT.search(w)]
        hesitation = f"[({' | '.join(skip)})] " if skip else ""
        for intent_name, intent in self._intents.intents.items():
            deps: set[str] = set()
            sentences: list[str] = []
            for data in intent.data:
                for text in data.sentence_texts:
                    rendered = self._render(parse_sentence(text).expression, deps)
                    if rendered and rendered not in sentences:
                        sentences.append(rendered)
            if not sentences:
                continue  # nothing to say: e.g. AftercareCaution with no caution words
            lines.extend(["", f"[{intent_name}]"])
            lines.extend(f"{name} = {self._bodies[name]}" for name in self._closure(deps))
            lines.extend(_escape_line(hesitation + sentence) for sentence in sentences)
        return "\n".join(lines) + "\n"

    def _closure(self, deps: set[str]) -> list[str]:
        """Rule names needed by deps, each after the rules it uses."""
        needed: list[str] = []

        def visit(name: str) -> None:
            if name in needed:
                return
            for dep in sorted(self._deps[name]):
                visit(dep)
            needed.append(name)

        for name in sorted(deps):
            visit(name)
        return needed

    def _render(self, expression: Expression, deps: set[str]) -> str | None:
        """Rhasspy text for expression, "" when it matches nothing, None when it cannot match."""
        if isinstance(expression, TextChunk):
            words = expression.text.split()
            return None if any(_DIGIT.search(word) for word in words) else " ".join(words)
        if isinstance(expression, Group):
            return self._render_group(expression, deps)
        if isinstance(expression, RuleReference):
            return self._rule_reference(expression, deps)
        if isinstance(expression, ListReference):
            return self._list_reference(expression, deps)
        raise TypeError(f"unexpected hassil expression {expression!r}")

    def _render_group(self, group: Group, deps: set[str]) -> str | None:
        """A sequence, an alternative, or a permutation written out as alternatives."""
        if isinstance(group, Permutation):
            orders = [Sequence(items=list(order)) for order in itertools.permutations(group.items)]
            return self._render_alternative(Alternative(items=list(orders)), deps)
        if isinstance(group, Alternative):
            return self._render_alternative(group, deps)
        parts = [self._render(item, deps) for item in group.items]
        if any(part is None for part in parts):
            return None
        return " ".join(part for part in parts if part)

    def _render_alternative(self, alternative: Alternative, deps: set[str]) -> str | None:
        """(a | b), or [a | b] when one choice is empty."""
        optional = alternative.is_optional
        choices: list[str] = []
        for item in alternative.items:
            rendered = self._render(item, deps)
            if rendered == "":
                optional = True
            elif rendered is not None and rendered not in choices:
                choices.append(rendered)
        if not choices:
            return "" if optional else None
        inner = " | ".join(choices)
        return f"[{inner}]" if optional else f"({inner})"

    def _rule_reference(self, reference: RuleReference, deps: set[str]) -> str | None:
        """<rule>, rendering the rule's body on first use; the body itself when it is empty."""
        name = self._name("rule", reference.rule_name)
        if name not in self._bodies:
            rule_deps: set[str] = set()
            sentence = self._intents.expansion_rules[reference.rule_name]
            self._bodies[name] = self._render(sentence.expression, rule_deps)
            self._deps[name] = rule_deps
        if not self._bodies[name]:
            return self._bodies[name]
        deps.add(name)
        return f"<{name}>"

    def _list_reference(self, reference: ListReference, deps: set[str]) -> str | None:
        """(<list_rule>){slot}, with !int for numbers; None if the list is empty."""
        slot_list = self._intents.slot_lists[reference.list_name]
        name = self._name("list", reference.list_name)
        if name not in self._bodies:
            list_deps: set[str] = set()
            self._bodies[name] = self._render_list(slot_list, list_deps)
            self._deps[name] = list_deps
        if self._bodies[name] is None:
            return None
        deps.add(name)
        converter = "!int" if _is_numeric(slot_list) else ""
        return f"(<{name}>){{{reference.slot_name}{converter}}}"

    def _render_list(self, slot_list: SlotList, deps: set[str]) -> str | None:
        """The alternatives of a list, each as spoken:value."""
        choices = list(self._list_choices(slot_list, deps))
        return "(" + " | ".join(dict.fromkeys(choices)) + ")" if choices else None

    def _list_choices(self, slot_list: SlotList, deps: set[str]) -> Iterator[str]:
        """One Rhasspy alternative per list value."""
        if isinstance(slot_list, RangeSlotList):
            engine = get_rbnf_engine(self._templates.language)
            for number in range(slot_list.start, slot_list.stop + 1, slot_list.step):
                rulesets = engine.format_number(number).text_by_ruleset
                words = rulesets.get("spellout-cardinal") or next(iter(rulesets.values()))
                scaled = number * slot_list.multiplier if slot_list.multiplier else number
                yield _substitute(" ".join(words.replace("-", " ").split()), _number(scaled))
        elif isinstance(slot_list, TextSlotList):
            for item in slot_list.values:
                spoken = self._render(item.text_in, deps)
                if not spoken:
                    continue
                out = spoken if item.value_out is None else _rhasspy_value(item.value_out)
                yield _substitute(spoken, out or spoken)

    def _name(self, kind: str, name: str) -> str:
        """A unique Rhasspy rule name for a hassil rule or list."""
        key = (kind, name)
        if key not in self._names:
            base = _NOT_RULE_NAME.sub("_", name if kind == "rule" else f"list_{name}")
            candidate = base
            while candidate in self._names.values():
                candidate += "_"
            self._names[key] = candidate
        return self._names[key]


def _substitute(spoken: str, value: str) -> str:
    """spoken, or spoken:value; multi-word sides in parentheses as Rhasspy requires."""
    if spoken == value:
        return spoken
    left = spoken if re.fullmatch(r"[\w']+", spoken) else f"({spoken})"
    right = value if " " not in value else f"({value})"
    return f"{left}:{right}"


def _rhasspy_value(value: Any) -> str:
    """A slot value as Rhasspy can output it: its special characters become spaces."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(_RHASSPY_SPECIAL.sub(" ", str(value)).split())


def _number(value: float) -> str:
    """A number as text, without a trailing .0 for whole numbers."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _is_numeric(slot_list: SlotList) -> bool:
    """True for number ranges and for lists whose every value is an integer."""
    if isinstance(slot_list, RangeSlotList):
        return True
    return (
        isinstance(slot_list, TextSlotList)
        and bool(slot_list.values)
        and all(
            isinstance(value.value_out, int) and not isinstance(value.value_out, bool)
            for value in slot_list.values
        )
    )


def _escape_line(sentence: str) -> str:
    """A sentence line; a leading [ is escaped so the ini parser does not take it as a section."""
    return "\\" + sentence if sentence.startswith("[") else sentence


def intent_slots(source: Recognizer | Templates) -> dict[str, list[str]]:
    """Every intent with the names of the slots its sentences can fill."""
    slots: dict[str, list[str]] = {}
    current = ""
    for line in to_rhasspy(source).splitlines():
        section = re.fullmatch(r"\[(\w+)\]", line.strip())
        if section:
            current = section.group(1)
            slots[current] = []
            continue
        for name in re.findall(r"\)\{(\w+)(?:!\w+)?\}", line):
            if current and name not in slots[current]:
                slots[current].append(name)
    return slots


def to_intent_script(source: Recognizer | Templates, *, site_id: str = "default") -> str:
    """Home Assistant `intent_script:` forwarding every recognized intent to the skill.

    Each intent is published on hermes/intent/<Name> as the NluIntent Rhasspy would
    send, with the slots Home Assistant recognized (an absent slot is left out). Answers
    only (CONTEXT_ONLY) have no script: Assist does not recognize them (`to_hassil`).
    """
    scripts: dict[str, Any] = {}
    for intent, names in intent_slots(source).items():
        if intent in CONTEXT_ONLY:
            continue
        slot_items = ", ".join(
            f'{{"entity": "{n}", "slotName": "{n}", "rawValue": {n} | string, '
            f'"value": {{"kind": "Unknown", "value": {n}}}}} if {n} is defined else none'
            for n in names
        )
        payload = (
            '{{ {"input": "", "intent": {"intentName": "' + intent + '", "confidenceScore": 1.0}, '
            '"siteId": "' + site_id + '", "sessionId": none, '
            '"slots": ([' + slot_items + '] | reject("none") | list)} | to_json }}'
        )
        scripts[intent] = {
            "action": [
                {
                    "service": "mqtt.publish",
                    "data": {"topic": f"hermes/intent/{intent}", "payload": payload},
                }
            ],
        }
    header = (
        "# Home Assistant intent_script for Aftercare: forwards each intent recognized by\n"
        "# Assist (with the custom sentences from `aftercare sentences --format hassil`)\n"
        f"# to the skill over MQTT, for the site '{site_id}'. Generated: do not edit.\n"
    )
    return header + yaml.safe_dump(
        {"intent_script": scripts}, sort_keys=False, allow_unicode=True, width=1000
    )
