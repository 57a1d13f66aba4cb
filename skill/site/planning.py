"""Planning aftercare together beforehand: a few questions, each answered or skipped.

`answer_wishes` reads one answer in the light of the question it answers (a bare "quiet"
means few words to the first question and silence to the music one); `Planning` holds the
conversation: it asks each question once, keeps what was said after every answer (so a
"stop" halfway loses nothing), ends after two unanswered questions or its time, and reads
the plan back. `plan_texts` is that read-back, also for "what's our plan".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from rhasspyhermes.nlu import NluIntent

from skill.base.clock import Clock
from skill.base.vocabulary import Intent
from skill.care.plan import ANY_PATTERN, ITEMS, NO_BREATHING, Plan, Wish, merged
from skill.hermes.dialogue import Answer, Unclear
from skill.hermes.messages import slot, slot_values
from skill.language import keys
from skill.site.handlers import AGREE_WORDS, DECLINE_WORDS, FILLERS, core_words

log = logging.getLogger(__name__)

PLAN_ANSWERS: Final[tuple[str, ...]] = (
    Intent.PLAN_ANSWER,
    Intent.NEED,
    Intent.QUIET,
    Intent.MUSIC_OFF,
    Intent.BREATHE,
    Intent.COOLDOWN,
    Intent.FOLLOW_UP,
    Intent.CANCEL_FOLLOW_UP,
    Intent.SKIP,
    Intent.NOT_NOW,
    Intent.AFFIRM,
    Intent.FEELING,
    Intent.HELP,
    Intent.CAUTION,
    Intent.STOP,
)
"""What a planning question listens for: its answers, and the words that always work."""
HANDED_ON: Final = frozenset({Intent.STOP, Intent.FEELING, Intent.HELP, Intent.CAUTION})
"""Answers that end the conversation and are handled as they are anywhere else."""
ANSWER_SECONDS: Final = 20.0
"""How long each question listens (skill time); silence skips the question."""
UNANSWERED_IN_A_ROW: Final = 2
"""Questions met with silence, one after another, that end the conversation."""
TIME_LIMIT: Final = 120.0
"""No question is begun after this many seconds (skill time). At its slowest the talk then
ends within 120 + a question (about 7 s) + ANSWER_SECONDS + the longest read-back (about
18 s, measured with the bundled voice): under three minutes."""

# A choice said in a plan answer (its `choice` slot): the part of the plan it sets, and to
# what; and the parts a "no_..." choice leaves out.
CHOICES: Final[Mapping[str, tuple[str, str]]] = {
    "words": ("words", "words"),
    "quiet": ("words", "quiet"),
    "music": ("music", "music"),
    "no_music": ("music", "none"),
    "breathing": ("breathing", ANY_PATTERN),
    "no_breathing": ("breathing", NO_BREATHING),
    "dim": ("lights", "dim"),
    "leave_lights": ("lights", "leave"),
    "tonight": ("later", "tonight"),
    "morning": ("later", "morning"),
    "no_later": ("later", "none"),
}
LEFT_OUT: Final = {
    "no_questions": "questions",
    "no_kind_words": "kind_words",
    "no_offers": "offers",
}
# "yes" and "no" mean what the question offered.
_YES: Final[Mapping[str, tuple[str, str]]] = {
    "words": ("words", "words"),
    "music": ("music", "music"),
    "breathing": ("breathing", ANY_PATTERN),
    "lights": ("lights", "dim"),
}
_NO: Final[Mapping[str, tuple[str, str]]] = {
    "words": ("words", "quiet"),
    "music": ("music", "none"),
    "breathing": ("breathing", NO_BREATHING),
    "lights": ("lights", "leave"),
    "later": ("later", "none"),
}


@dataclass(frozen=True)
class Reading:
    """What one answer means for the plan."""

    wishes: tuple[Wish, ...] = ()
    """One wish, or two (one person's and the other's); none: nothing usable was heard."""
    skip: bool = False
    """The question was skipped ("skip", "not sure")."""
    declined: bool = False
    """A plain "no" to a question with nothing to leave out: answered, nothing changes."""
    hand_on: bool = False
    """Stop, a feeling, help or a caution word: the conversation ends, the skill answers."""


def answer_wishes(question: str, answer: NluIntent) -> Reading:
    """What an answer to `question` means (pure; unknown values are ignored)."""
    name = answer.intent.intent_name
    said = core_words(answer.input or "")
    if name == Intent.FEELING and said and set(said.split()) <= AGREE_WORDS | FILLERS:
        # "okay", "yeah okay": a yes to the question, not how someone feels
        return _plan_answer(question, answer, choices=["yes"])
    if name in HANDED_ON:
        return Reading(hand_on=True)
    if name == Intent.PLAN_ANSWER:
        return _plan_answer(question, answer)
    if name in (Intent.SKIP, Intent.NOT_NOW):
        if name == Intent.SKIP and said not in DECLINE_WORDS:
            return Reading(skip=True)
        return _said_no(question)
    return _other_answer(question, answer)


def _other_answer(question: str, answer: NluIntent) -> Reading:
    """An answer another intent recognized ("water and a blanket", "no music")."""
    name = answer.intent.intent_name
    if name == Intent.NEED:
        items = tuple(item for item in slot_values(answer, "need") if item in ITEMS)
        if items:
            return Reading((Wish(nearby=items),))
        if "quiet" in slot_values(answer, "need"):
            return Reading((Wish({"words": "quiet"}),))
        return Reading()
    if name == Intent.QUIET:
        field = "music" if question == "music" else "words"
        return Reading((Wish({field: "none" if field == "music" else "quiet"}),))
    if name == Intent.MUSIC_OFF:
        return Reading((Wish({"music": "none"}),))
    if name == Intent.COOLDOWN:
        playlist = slot(answer, "playlist")
        named = playlist if isinstance(playlist, str) else None
        return Reading((Wish({"music": "music"}, playlist=named),))
    if name == Intent.BREATHE:
        pattern = slot(answer, "pattern")
        return Reading((Wish({"breathing": str(pattern) if pattern else ANY_PATTERN}),))
    if name == Intent.FOLLOW_UP:
        when = slot(answer, "when")
        return Reading((Wish({"later": "tonight" if when == "tonight" else "morning"}),))
    if name == Intent.CANCEL_FOLLOW_UP:
        return Reading((Wish({"later": "none"}),))
    if name == Intent.AFFIRM and question == "words":
        return Reading((Wish({"words": "words"}),))  # "some kind words"
    return Reading()


def _plan_answer(
    question: str, answer: NluIntent, *, choices: Sequence[str] | None = None
) -> Reading:
    if choices is None:
        choices = slot_values(answer, "choice")
    first = _wish(question, choices, answer)
    if first is None:
        return Reading(skip=True)
    second = _wish(question, slot_values(answer, "other_choice"), None)
    wishes = (first,) if second is None or second.is_empty() else (first, second)
    if all(wish.is_empty() for wish in wishes):
        if "no" in choices or "nothing" in choices:
            return _said_no(question)
        return Reading()
    return Reading(wishes)


def _wish(question: str, choices: Sequence[str], answer: NluIntent | None) -> Wish | None:
    """One person's wish from the choices said; None when they were unsure or skipped.

    Unsure with a playlist or a pattern named ("maybe rain sounds", "maybe the box one")
    is a choice said softly: the one named is taken."""
    playlist = pattern = None
    if answer is not None:
        named = slot(answer, "playlist")
        playlist = named if isinstance(named, str) else None
        said_pattern = slot(answer, "pattern")
        pattern = said_pattern if isinstance(said_pattern, str) else None
    if "unsure" in choices and playlist is None and pattern is None:
        return None
    values: dict[str, str] = {}
    leave_out: list[str] = []
    nearby: tuple[str, ...] | None = None
    for choice in choices:
        if choice == "quiet" and question == "music":
            values["music"] = "none"  # "quiet" to the music question: silence
        elif choice in CHOICES:
            part, value = CHOICES[choice]
            values[part] = value
        elif choice in LEFT_OUT:
            leave_out.append(LEFT_OUT[choice])
        elif choice == "yes" and question in _YES:
            part, value = _YES[question]
            values[part] = value
        elif choice in ("no", "nothing"):
            if question == "nearby":
                nearby = ()
            elif question in _NO:
                part, value = _NO[question]
                values[part] = value
    if playlist and values.get("music") != "none":
        values["music"] = "music"
    if pattern and values.get("breathing") != NO_BREATHING:
        values["breathing"] = pattern
    return Wish(values, nearby=nearby, leave_out=tuple(leave_out), playlist=playlist)


def _said_no(question: str) -> Reading:
    if question == "nearby":
        return Reading((Wish(nearby=()),))
    if question in _NO:
        part, value = _NO[question]
        return Reading((Wish({part: value}),))
    return Reading(declined=True)  # nothing to leave out


def answered(plan: Plan, question: str) -> bool:
    """True when an earlier answer already settled what `question` asks (never ask twice)."""
    settled = {
        "words": plan.words is not None,
        "nearby": plan.nearby is not None,
        "music": plan.music is not None,
        "breathing": plan.breathing is not None,
        "lights": plan.lights is not None,
        "later": plan.later is not None,
        "leave_out": bool(plan.leave_out),
    }
    return settled[question]


Pick = Callable[..., str]
"""ResponseBook.pick: a key (and its values) to one line."""


def plan_texts(plan: Plan, pick: Pick, *, spoken: Callable[[str], str], playlist: str) -> list[str]:
    """The plan read back: one sentence of its parts, "both were heard" when an answer named
    two wishes, and an invitation to put the chosen things nearby now. `playlist` is the
    one the music plays when the plan names none."""
    parts = [
        pick(keys.plan_part(part), **values) for part, values in _parts(plan, spoken, playlist)
    ]
    texts = [pick(keys.PLAN_READBACK, plan=_joined(parts))] if parts else []
    if plan.both:
        texts.append(pick(keys.PLAN_BOTH))
    if plan.nearby:
        items = _joined([pick(keys.plan_item(item)) for item in plan.nearby])
        texts.append(pick(keys.PLAN_READY, items=items))
    return texts or [pick(keys.PLAN_EMPTY)]


def _parts(
    plan: Plan, spoken: Callable[[str], str], usual_playlist: str
) -> list[tuple[str, dict[str, str]]]:
    parts: list[tuple[str, dict[str, str]]] = []
    if plan.words is not None:
        parts.append((plan.words, {}))
    playlist = {"playlist": plan.playlist or usual_playlist}
    if plan.music == "none":
        parts.append(("no_music", {}))
    elif plan.music in ("music", "soft"):
        parts.append(("soft_music" if plan.music == "soft" else "music", playlist))
    if plan.breathing == NO_BREATHING:
        parts.append(("no_breathing", {}))
    elif plan.breathing is not None:
        pattern = "calm" if plan.breathing == ANY_PATTERN else plan.breathing
        parts.append(("breathing", {"pattern": spoken(pattern)}))
    if plan.lights == "dim":
        parts.append(("dim", {}))
    elif plan.lights == "leave":
        parts.append(("leave_lights", {}))
    if plan.later is not None:
        parts.append(("no_later" if plan.later == "none" else plan.later, {}))
    parts.extend(("no_" + part, {}) for part in plan.leave_out)
    return parts


def _joined(words: Sequence[str]) -> str:
    """ "a, b and c"."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + ("," if len(words) > 2 else "") + " and " + words[-1]


@dataclass(frozen=True)
class PlanningTools:
    """What the conversation may do on its site."""

    ask: Callable[[str], Awaitable[Answer | None]]
    """Ask one question (`words`, `nearby`...) and listen; the answer or None."""
    say: Callable[[str], Awaitable[None]]
    """Speak one response key."""
    say_texts: Callable[[Sequence[str]], Awaitable[None]]
    """Speak chosen lines, one after another."""
    save: Callable[[Plan], Awaitable[None]]
    """Keep the plan so far (replacing the site's earlier plan)."""
    hand_on: Callable[[NluIntent], None]
    """Let the skill handle an answer that ends the conversation (stop, help, a feeling)."""
    read_back: Callable[[Plan], list[str]]
    """The plan as lines to say (plan_texts)."""
    clock: Clock
    """Skill time."""


async def converse(
    questions: Collection[str], tools: PlanningTools, kept: Plan | None = None
) -> Plan:
    """The planning conversation: each question once; the plan as it ended. `kept` is the
    plan made before: it stays until a first answer replaces it, so when nothing was
    answered it is the one read back."""
    plan, quiet_in_a_row = Plan(), 0
    started = tools.clock.now()
    await tools.say(keys.PLAN_OPEN)
    for question in keys.PLAN_QUESTIONS:
        if question not in questions or answered(plan, question):
            continue
        if tools.clock.offset(started) > TIME_LIMIT:
            await tools.say(keys.PLAN_REST_LATER)
            break
        answer = await tools.ask(question)
        quiet_in_a_row = quiet_in_a_row + 1 if answer is None else 0
        if quiet_in_a_row >= UNANSWERED_IN_A_ROW:
            await tools.say(keys.PLAN_REST_LATER)
            break
        after = await _take(question, answer, plan, tools)
        if after is None:
            return plan  # ended by an answer the skill handles (stop, help, a feeling)
        plan = after
    if plan.is_empty() and kept is not None:
        await tools.say_texts(tools.read_back(kept))
        return kept
    await tools.say_texts(tools.read_back(plan))
    return plan


async def _take(
    question: str, answer: Answer | None, plan: Plan, tools: PlanningTools
) -> Plan | None:
    """One answer taken in: the plan after it (kept at once), a word back; None when the
    answer ends the talk."""
    if answer is None:
        await tools.say(keys.PLAN_SKIPPED)
        return plan
    if isinstance(answer, Unclear):
        await tools.say(keys.PLAN_UNCLEAR)
        return plan
    reading = answer_wishes(question, answer)
    if reading.hand_on:
        log.info("The planning conversation ended on an answer the skill handles")
        if answer.intent.intent_name != Intent.STOP:  # the skill stops everything itself
            tools.hand_on(answer)
        return None
    if reading.wishes:
        plan = merged(plan, reading.wishes)
        await tools.save(plan)
    if reading.skip:
        key = keys.PLAN_SKIPPED
    elif reading.wishes or reading.declined:
        key = keys.PLAN_NOTED
    else:
        key = keys.PLAN_UNCLEAR
    await tools.say(key)
    return plan
