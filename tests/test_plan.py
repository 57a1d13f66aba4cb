"""Issue #17: a plan made together: its model, how answers are read, the conversation,
the routine it assembles, and how "start aftercare" follows it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest
from rhasspyhermes.intent import Intent, Slot
from rhasspyhermes.nlu import NluIntent

from skill.base.clock import Clock
from skill.base.vocabulary import Intent as Name
from skill.care.plan import Plan, Wish, merged
from skill.care.store import Preferences, Store, StoreError
from skill.config.loader import parse_config
from skill.hermes.dialogue import Answer, Unclear
from skill.language import keys
from skill.routines.from_plan import plan_routine
from skill.routines.model import (
    BreatheStep,
    CheckinStep,
    LightsStep,
    MusicStep,
    OfferStep,
    SayStep,
)
from skill.site.actions import (
    RecallPlan,
    ScheduleFollowUp,
    StartPlanning,
    StartRoutine,
)
from skill.site.handlers import decide
from skill.site.planning import (
    ANSWER_SECONDS,
    PLAN_ANSWERS,
    TIME_LIMIT,
    PlanningTools,
    Reading,
    answer_wishes,
    converse,
    plan_texts,
)

CONFIG = parse_config({})
PATTERNS = frozenset({"calm", "box", "settle", "together"})


def said(name: str, text: str = "", **slots: object) -> NluIntent:
    """An intent as a recognizer gives it; a list value gives one slot per item, in order."""
    found: list[Slot] = []
    for slot_name, value in slots.items():
        for one in value if isinstance(value, list) else [value]:
            found.append(
                Slot(
                    entity=slot_name,
                    slot_name=slot_name,
                    value={"kind": "Unknown", "value": one},
                    raw_value=str(one),
                )
            )
    return NluIntent(
        input=text,
        intent=Intent(intent_name=name, confidence_score=1.0),
        site_id="bedroom",
        slots=found,
    )


def answer(**slots: object) -> NluIntent:
    return said(Name.PLAN_ANSWER, "", **slots)


# --- the plan, and two wishes ----------------------------------------------------------


def test_a_plan_goes_to_json_and_back() -> None:
    plan = Plan(
        words="few",
        nearby=("water", "blanket"),
        music="soft",
        playlist="Rain sounds",
        breathing="box",
        lights="dim",
        later="morning",
        leave_out=("questions",),
        both=True,
    )
    assert Plan.from_json(plan.to_json()) == plan
    assert Plan.from_json(Plan(nearby=()).to_json()) == Plan(nearby=())
    assert Plan().is_empty()
    assert not Plan(nearby=()).is_empty()


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"words": "shout"}',
        '{"nearby": ["water", "knife"]}',
        '{"secret": 1}',
        '{"both": "yes"}',
        '{"playlist": ""}',
        '{"leave_out": ["everything"]}',
    ],
)
def test_a_stored_plan_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Plan.from_json(text)


def test_two_different_wishes_become_the_gentler_form_of_both() -> None:
    words_quiet = merged(Plan(), [Wish({"words": "words"}), Wish({"words": "quiet"})])
    assert (words_quiet.words, words_quiet.both) == ("few", True)
    music = merged(Plan(), [Wish({"music": "music"}), Wish({"music": "none"})])
    assert (music.music, music.both) == ("soft", True)
    # "I'd like quiet but they'd like music": a quiet voice, and the music plays softly
    quiet_music = merged(Plan(), [Wish({"words": "quiet"}), Wish({"music": "music"})])
    assert (quiet_music.words, quiet_music.music, quiet_music.both) == ("quiet", "soft", True)
    lights = merged(Plan(), [Wish({"lights": "dim"}), Wish({"lights": "leave"})])
    assert lights.lights == "leave"
    later = merged(Plan(), [Wish({"later": "morning"}), Wish({"later": "tonight"})])
    assert later.later == "tonight"
    declined = merged(Plan(), [Wish({"later": "morning"}), Wish({"later": "none"})])
    assert declined.later == "none"  # a check-in someone declined is not made
    breathing = merged(Plan(), [Wish({"breathing": "box"}), Wish({"breathing": "none"})])
    assert breathing.breathing == "box"  # always offered first, and can be declined then


def test_one_wish_said_once_is_not_two_people() -> None:
    plan = merged(Plan(), [Wish(nearby=("water", "blanket"))])
    assert (plan.nearby, plan.both) == (("water", "blanket"), False)
    same = merged(Plan(), [Wish({"music": "music"}), Wish({"music": "music"})])
    assert (same.music, same.both) == ("music", False)
    later = merged(plan, [Wish(leave_out=("questions",))])
    assert later.nearby == ("water", "blanket")
    assert later.leave_out == ("questions",)


# --- reading one answer, in the light of its question -----------------------------------


def wish_of(reading: Reading) -> Plan:
    return merged(Plan(), reading.wishes)


@pytest.mark.parametrize(
    ("question", "intent", "expected"),
    [
        ("words", answer(choice="words"), Plan(words="words")),
        ("words", said(Name.QUIET, "quiet"), Plan(words="quiet")),
        ("music", said(Name.QUIET, "silence"), Plan(music="none")),
        ("music", answer(choice="quiet"), Plan(music="none")),
        ("music", said(Name.MUSIC_OFF, "no music"), Plan(music="none")),
        (
            "music",
            said(Name.COOLDOWN, "play rain sounds", playlist="Rain sounds"),
            Plan(music="music", playlist="Rain sounds"),
        ),
        (
            "music",
            answer(playlist="Rain sounds"),
            Plan(music="music", playlist="Rain sounds"),
        ),
        (
            "music",
            answer(choice="unsure", playlist="Rain sounds"),  # "maybe rain sounds"
            Plan(music="music", playlist="Rain sounds"),
        ),
        (
            "nearby",
            said(Name.NEED, "water and a blanket", need=["water", "blanket"]),
            Plan(nearby=("water", "blanket")),
        ),
        ("nearby", said(Name.NOT_NOW, "nothing"), Plan(nearby=())),
        ("nearby", answer(choice="nothing"), Plan(nearby=())),
        ("breathing", said(Name.BREATHE, "box breathing", pattern="box"), Plan(breathing="box")),
        ("breathing", answer(choice="yes"), Plan(breathing="yes")),
        ("breathing", said(Name.SKIP, "no thanks"), Plan(breathing="none")),
        ("breathing", answer(choice="no_breathing"), Plan(breathing="none")),
        ("lights", answer(choice="dim"), Plan(lights="dim")),
        ("lights", said(Name.NOT_NOW, "no"), Plan(lights="leave")),
        ("later", said(Name.FOLLOW_UP, "tomorrow", when="morning"), Plan(later="morning")),
        ("later", answer(choice="tonight"), Plan(later="tonight")),
        ("later", said(Name.CANCEL_FOLLOW_UP, "don't check on us"), Plan(later="none")),
        (
            "leave_out",
            answer(choice=["no_questions", "no_music"]),
            Plan(music="none", leave_out=("questions",)),
        ),
        (
            "words",
            answer(choice="quiet", other_choice="music"),
            Plan(words="quiet", music="soft", both=True),
        ),
        (
            "music",
            answer(choice="quiet", other_choice="music"),
            Plan(music="soft", both=True),
        ),
    ],
)
def test_an_answer_means_what_its_question_asked(
    question: str, intent: NluIntent, expected: Plan
) -> None:
    assert wish_of(answer_wishes(question, intent)) == expected


def test_okay_is_a_yes_to_the_question_not_a_feeling_that_ends_the_talk() -> None:
    okay = said(Name.FEELING, "yeah okay", feeling="okay")
    assert wish_of(answer_wishes("breathing", okay)) == Plan(breathing="yes")
    assert answer_wishes("later", okay) == Reading()  # tonight or tomorrow: left open
    sad = said(Name.FEELING, "i feel sad", feeling="sad")
    assert answer_wishes("breathing", sad) == Reading(hand_on=True)


def test_skips_stops_and_what_is_not_an_answer() -> None:
    assert answer_wishes("music", said(Name.SKIP, "skip")) == Reading(skip=True)
    assert answer_wishes("music", answer(choice="unsure")) == Reading(skip=True)
    assert answer_wishes("leave_out", said(Name.NOT_NOW, "no")) == Reading(declined=True)
    for name in (Name.STOP, Name.HELP, Name.FEELING, Name.CAUTION):
        assert answer_wishes("words", said(name)) == Reading(hand_on=True)
    # "yes" to an either-or of two times, or a need that is not a thing to have nearby
    assert answer_wishes("later", answer(choice="yes")) == Reading()
    assert answer_wishes("nearby", said(Name.NEED, "a hug", need="cuddle")) == Reading()


def test_every_planning_question_listens_for_stop_and_help() -> None:
    assert {Name.STOP, Name.HELP, Name.CAUTION, Name.PLAN_ANSWER} <= set(PLAN_ANSWERS)
    assert ANSWER_SECONDS < 60


# --- the conversation --------------------------------------------------------------------


class Talk:
    """Tools for `converse` that answer from a script and record what was said."""

    def __init__(self, answers: dict[str, Answer | None], *, scale: float = 0.001) -> None:
        self.answers = answers
        self.log: list[str] = []
        self.saved: list[Plan] = []
        self.handed: list[str] = []
        self.clock = Clock(scale)

    def tools(self) -> PlanningTools:
        async def ask(question: str) -> Answer | None:
            self.log.append(f"ask {question}")
            return self.answers.get(question)

        async def say(key: str) -> None:
            self.log.append(key)

        async def say_texts(texts: Sequence[str]) -> None:
            self.log.extend(f"text {t}" for t in texts)

        async def save(plan: Plan) -> None:
            self.saved.append(plan)

        return PlanningTools(
            ask=ask,
            say=say,
            say_texts=say_texts,
            save=save,
            hand_on=lambda intent: self.handed.append(intent.intent.intent_name),
            read_back=lambda plan: [plan.to_json()],
            clock=self.clock,
        )


ALL = keys.PLAN_QUESTIONS


def test_a_whole_conversation_asks_each_question_once_and_reads_the_plan_back() -> None:
    talk = Talk(
        {
            "words": answer(choice="quiet", other_choice="words"),
            "nearby": said(Name.NEED, "water and tissues", need=["water", "tissues"]),
            "music": said(Name.SKIP, "skip"),
            "breathing": said(Name.BREATHE, "calm breathing", pattern="calm"),
            "lights": answer(choice="dim"),
            "later": answer(choice="morning"),
            "leave_out": said(Name.NOT_NOW, "no"),
        }
    )
    plan = asyncio.run(converse(ALL, talk.tools()))
    assert plan == Plan(
        words="few",
        nearby=("water", "tissues"),
        breathing="calm",
        lights="dim",
        later="morning",
        both=True,
    )
    asked = [line for line in talk.log if line.startswith("ask")]
    assert asked == [f"ask {q}" for q in ALL]
    assert talk.log[0] == keys.PLAN_OPEN
    assert talk.log[-1] == f"text {plan.to_json()}"
    assert talk.saved[-1] == plan  # kept after every answer: a stop loses nothing
    assert len(talk.saved) == 5


def test_nothing_is_asked_twice() -> None:
    talk = Talk({"words": answer(choice=["quiet", "no_breathing", "no_music"])})
    plan = asyncio.run(converse(ALL, talk.tools()))
    asked = [line for line in talk.log if line.startswith("ask")]
    assert "ask breathing" not in asked
    assert "ask music" not in asked
    assert (plan.words, plan.music, plan.breathing) == ("quiet", "none", "none")


def test_two_unanswered_questions_end_it_and_keep_what_was_said() -> None:
    talk = Talk({"words": answer(choice="words")})  # then silence, silence
    plan = asyncio.run(converse(ALL, talk.tools()))
    assert plan == Plan(words="words")
    assert [line for line in talk.log if line.startswith("ask")] == [
        "ask words",
        "ask nearby",
        "ask music",
    ]
    assert talk.log[-2:] == [keys.PLAN_REST_LATER, f"text {plan.to_json()}"]


def test_a_new_talk_with_no_answer_keeps_the_plan_made_before_and_reads_it_back() -> None:
    kept = Plan(words="quiet", later="tonight")
    talk = Talk({})  # silence, silence
    assert asyncio.run(converse(ALL, talk.tools(), kept=kept)) == kept
    assert talk.saved == []
    assert talk.log[-1] == f"text {kept.to_json()}"
    replaced = Talk({"words": answer(choice="words")})
    assert asyncio.run(converse(ALL, replaced.tools(), kept=kept)) == Plan(words="words")


def test_unclear_and_skipped_answers_move_on_gently() -> None:
    talk = Talk(
        {
            "words": Unclear("bedroom"),
            "nearby": answer(choice="unsure"),
            "music": answer(choice="music"),
        }
    )
    asyncio.run(converse(("words", "nearby", "music"), talk.tools()))
    assert talk.log[1:7] == [
        "ask words",
        keys.PLAN_UNCLEAR,
        "ask nearby",
        keys.PLAN_SKIPPED,
        "ask music",
        keys.PLAN_NOTED,
    ]


def test_stop_or_a_feeling_ends_it_and_the_skill_answers() -> None:
    talk = Talk({"words": answer(choice="words"), "nearby": said(Name.FEELING, feeling="sad")})
    plan = asyncio.run(converse(ALL, talk.tools()))
    assert plan == Plan(words="words")
    assert talk.saved == [plan]
    assert talk.handed == [Name.FEELING]
    assert not any(line.startswith("text") for line in talk.log)  # no read-back over it
    stop = Talk({"words": said(Name.STOP, "stop")})
    asyncio.run(converse(ALL, stop.tools()))
    assert stop.handed == []  # the skill already stops everything on "stop"


class SteppedClock(Clock):
    """Skill time that moves only when told to."""

    def __init__(self) -> None:
        super().__init__(1.0)
        self.at = 1000.0

    def now(self) -> float:  # type: ignore[override]
        return self.at


def test_no_question_is_begun_after_the_time_limit() -> None:
    talk = Talk({q: answer(choice="unsure") for q in ALL})
    clock = talk.clock = SteppedClock()
    tools = talk.tools()

    async def slow_ask(question: str) -> Answer | None:
        clock.at += TIME_LIMIT * 0.4  # each answer takes two fifths of the limit
        return await tools.ask(question)

    asyncio.run(converse(ALL, dataclasses.replace(tools, ask=slow_ask)))
    asked = [line for line in talk.log if line.startswith("ask")]
    assert len(asked) == 3
    assert keys.PLAN_REST_LATER in talk.log


def test_the_read_back_names_each_part_and_invites_to_get_things_ready() -> None:
    def pick(key: str, **values: object) -> str:
        return key + "".join(f"[{v}]" for v in values.values())

    plan = Plan(
        words="quiet",
        nearby=("water", "blanket"),
        music="soft",
        breathing="yes",
        later="morning",
        leave_out=("kind_words",),
        both=True,
    )
    texts = plan_texts(plan, pick, spoken=str.upper, playlist="Cool down")
    assert texts == [
        "plan.readback[plan.part.quiet, plan.part.soft_music[Cool down], "
        "plan.part.breathing[CALM], plan.part.morning, and plan.part.no_kind_words]",
        keys.PLAN_BOTH,
        "plan.ready[plan.item.water and plan.item.blanket]",
    ]
    assert plan_texts(Plan(), pick, spoken=str, playlist="x") == [keys.PLAN_EMPTY]


# --- the routine a plan assembles ------------------------------------------------------


def test_the_routine_keeps_only_what_was_chosen() -> None:
    plan = Plan(
        nearby=("tissues", "snack"),
        music="none",
        breathing="box",
        lights="leave",
        later="tonight",
        leave_out=("questions",),
    )
    steps = plan_routine(plan, PATTERNS).steps
    assert [s.offer for s in steps if isinstance(s, OfferStep)] == ["tissues", "snack"]
    assert [s.pattern for s in steps if isinstance(s, BreatheStep)] == ["box"]
    assert not any(isinstance(s, CheckinStep | MusicStep | LightsStep) for s in steps)
    said_keys = [s.key for s in steps if isinstance(s, SayStep)]
    assert keys.ROUTINE_LATER_TONIGHT in said_keys
    assert keys.ROUTINE_KIND_WORDS in said_keys


def test_an_unsaid_part_keeps_the_usual_routine() -> None:
    steps = plan_routine(Plan(words="words"), PATTERNS).steps
    assert [s.offer for s in steps if isinstance(s, OfferStep)] == ["water", "warmth"]
    assert [s.pattern for s in steps if isinstance(s, BreatheStep)] == ["calm"]
    assert [s.question for s in steps if isinstance(s, CheckinStep)] == ["feeling", "need"]
    assert MusicStep("play") in steps
    assert LightsStep("scene") in steps


def test_two_wishes_make_a_gentle_routine() -> None:
    steps = plan_routine(Plan(words="few", music="soft", breathing="gone"), PATTERNS).steps
    assert not any(isinstance(s, OfferStep | CheckinStep) for s in steps)
    assert MusicStep("soft") in steps
    breathe = next(s for s in steps if isinstance(s, BreatheStep))
    assert (breathe.pattern, breathe.style) == ("calm", "fewer-words")  # unknown: the usual
    quiet = plan_routine(Plan(words="quiet"), PATTERNS).steps
    assert quiet[0] == SayStep(keys.ROUTINE_QUIET_OPENING)


# --- "let's plan", "what's our plan", and "start aftercare" with a plan -----------------


def test_planning_intents_decide_their_actions() -> None:
    assert decide(said(Name.PLAN), CONFIG, PATTERNS) == [StartPlanning()]
    assert decide(said(Name.PLAN_RECALL), CONFIG, PATTERNS) == [RecallPlan()]
    # a plan answer heard outside a planning conversation does nothing
    assert decide(answer(choice="music"), CONFIG, PATTERNS) == []


def test_start_aftercare_follows_the_plan_and_schedules_its_check_in() -> None:
    plan = Plan(words="quiet", playlist="Rain sounds", later="morning")
    prefs = Preferences(plan=plan, playlist="Cool down")
    actions = decide(said(Name.START), CONFIG, PATTERNS, prefs)
    assert actions == [
        ScheduleFollowUp("morning", announce=False),
        StartRoutine("plan", quiet=True, playlist="Rain sounds", plan=plan),
    ]
    named = decide(said(Name.START, routine="long"), CONFIG, PATTERNS, prefs)
    assert named == [StartRoutine("long", playlist="Cool down")]  # a routine named wins


# --- the store --------------------------------------------------------------------------


def test_the_plan_is_stored_with_the_preferences_and_erased_with_them(tmp_path: Path) -> None:
    db = tmp_path / "data" / "aftercare.db"
    plan = Plan(words="few", nearby=(), both=True)
    with Store.open(db) as store:
        store.update_preferences("bedroom", names=("Sam",))
        assert store.update_preferences("bedroom", plan=plan).plan == plan
    with Store.open(db) as store:
        assert store.preferences("bedroom") == Preferences(names=("Sam",), plan=plan)
        assert store.update_preferences("bedroom", plan=Plan()).plan is None  # empty: erased
        store.update_preferences("bedroom", plan=plan)
        store.forget_site("bedroom")
        assert store.preferences("bedroom") == Preferences()
    assert (db.stat().st_mode & 0o777) == 0o600


def test_a_plan_the_store_cannot_read_names_the_file(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "data" / "aftercare.db"
    Store.open(db).close()
    connection = sqlite3.connect(db)
    connection.execute(
        "INSERT INTO preferences (site_id, names, plan) VALUES ('bedroom', '[]', '{\"x\":1}')"
    )
    connection.commit()
    connection.close()
    with Store.open(db) as store, pytest.raises(StoreError, match=r"aftercare\.db"):
        store.preferences("bedroom")
