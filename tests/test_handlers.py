"""Pure intent handling: slots in, actions out; odd values get a gentle answer."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from rhasspyhermes.intent import Intent, Slot
from rhasspyhermes.nlu import NluIntent

from skill.care.replies import CareReply, feeling_reply, most_serious
from skill.care.store import Preferences
from skill.config.loader import parse_config
from skill.language import keys
from skill.language.responses import Say
from skill.site.actions import (
    Care,
    Caution,
    Control,
    MusicOff,
    Skip,
    StartBreathing,
    StartCooldown,
    StartRoutine,
    StopAll,
)
from skill.site.handlers import SiteContext, core_words, decide

CONFIG = parse_config(
    {"breathing": {"pattern": "calm", "minutes": 3}, "cooldown": {"playlists": ["Rain sounds"]}}
)
PATTERNS = ("settle", "calm", "coherent", "box", "478")


def intent(name: str, **slots: object) -> NluIntent:
    return NluIntent(
        input="",
        intent=Intent(intent_name=name, confidence_score=1.0),
        site_id="bedroom",
        session_id="s1",
        slots=[
            Slot(entity=k, slot_name=k, value={"kind": "Unknown", "value": v}, raw_value=str(v))
            for k, v in slots.items()
        ],
    )


def test_stop() -> None:
    assert decide(intent("AftercareStop"), CONFIG, PATTERNS) == [StopAll()]


def test_start_uses_short_routine_by_default() -> None:
    assert decide(intent("AftercareStart"), CONFIG, PATTERNS) == [StartRoutine("short")]
    assert decide(intent("AftercareStart", routine="long"), CONFIG, PATTERNS) == [
        StartRoutine("long")
    ]


def test_breathe_defaults_from_config() -> None:
    assert decide(intent("AftercareBreathe"), CONFIG, PATTERNS) == [
        StartBreathing("calm", 3.0, None)
    ]


def test_breathe_with_slots() -> None:
    [action] = decide(intent("AftercareBreathe", pattern="box", rounds=3), CONFIG, PATTERNS)
    assert action == StartBreathing("box", None, 3)
    [action] = decide(intent("AftercareBreathe", minutes=5.0), CONFIG, PATTERNS)
    assert action == StartBreathing("calm", 5.0, None)


@pytest.mark.parametrize(
    ("minutes", "clamped", "key"),
    [
        (90, 60, keys.BREATHING_MINUTES_LIMIT),
        (0, 1, keys.BREATHING_MINUTES_LIMIT_ONE),
        (-4, 1, keys.BREATHING_MINUTES_LIMIT_ONE),
        (10**9, 60, keys.BREATHING_MINUTES_LIMIT),
    ],
)
def test_minutes_out_of_range_are_brought_to_the_nearest_allowed(
    minutes: int, clamped: int, key: str
) -> None:
    [action] = decide(intent("AftercareBreathe", minutes=minutes), CONFIG, PATTERNS)
    assert isinstance(action, StartBreathing)
    assert action.minutes == clamped
    assert action.notices == (Say(key, (("minutes", clamped),)),)


def test_rounds_out_of_range() -> None:
    [action] = decide(intent("AftercareBreathe", rounds=500), CONFIG, PATTERNS)
    assert isinstance(action, StartBreathing)
    assert action.rounds == 30
    assert action.notices == (Say(keys.BREATHING_ROUNDS_LIMIT, (("rounds", 30),)),)


@pytest.mark.parametrize("value", ["lots", "nan", "inf", ""])
def test_nonsense_numbers_fall_back_to_defaults(value: str) -> None:
    [action] = decide(intent("AftercareBreathe", minutes=value), CONFIG, PATTERNS)
    assert action == StartBreathing("calm", 3.0, None)


def test_unknown_pattern_falls_back_to_default() -> None:
    [action] = decide(intent("AftercareBreathe", pattern="boxx"), CONFIG, PATTERNS)
    assert isinstance(action, StartBreathing)
    assert action.pattern == "calm"


def test_cooldown_playlists() -> None:
    assert decide(intent("AftercareCooldown"), CONFIG, PATTERNS) == [StartCooldown("Cool down")]
    assert decide(intent("AftercareCooldown", playlist="Rain sounds"), CONFIG, PATTERNS) == [
        StartCooldown("Rain sounds")
    ]
    # A playlist nobody configured is never passed on to a device.
    assert decide(intent("AftercareCooldown", playlist="x/#"), CONFIG, PATTERNS) == [
        StartCooldown("Cool down")
    ]


def test_play_cool_down_plays_the_saved_favourite() -> None:
    """ "Play cool-down" names the feature and the default playlist alike: with a saved
    favourite it plays the favourite; another playlist named aloud still wins."""
    prefs = Preferences(playlist="Rain sounds")
    said = intent("AftercareCooldown", playlist="Cool down")
    assert decide(said, CONFIG, PATTERNS, prefs) == [StartCooldown("Rain sounds")]
    assert decide(said, CONFIG, PATTERNS) == [StartCooldown("Cool down")]
    other = Preferences(playlist="Cool down")
    rain = intent("AftercareCooldown", playlist="Rain sounds")
    assert decide(rain, CONFIG, PATTERNS, other) == [StartCooldown("Rain sounds")]


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("AftercareSlower", "slower"),
        ("AftercareFaster", "faster"),
        ("AftercarePause", "pause"),
        ("AftercareResume", "resume"),
    ],
)
def test_controls(name: str, action: str) -> None:
    assert decide(intent(name), CONFIG, PATTERNS) == [Control(action)]


def test_more() -> None:
    assert decide(intent("AftercareMore"), CONFIG, PATTERNS) == [Control("more", 1)]
    assert decide(intent("AftercareMore", minutes=2), CONFIG, PATTERNS) == [Control("more", 2)]
    [action] = decide(intent("AftercareMore", minutes=45), CONFIG, PATTERNS)
    assert action == Control("more", 10, (Say(keys.BREATHING_MINUTES_LIMIT, (("minutes", 10),)),))


def test_unknown_intent_does_nothing() -> None:
    assert decide(intent("SomethingElse"), CONFIG, PATTERNS) == []


def test_style_for_one_session() -> None:
    [action] = decide(intent("AftercareBreathe", style="chime"), CONFIG, PATTERNS)
    assert isinstance(action, StartBreathing)
    assert action.style == "chime"
    [action] = decide(intent("AftercareBreathe", style="loud"), CONFIG, PATTERNS)
    assert isinstance(action, StartBreathing)
    assert action.style is None


# --- Hard moments (issue #12) ------------------------------------------------------------


def feelings(*values: str) -> NluIntent:
    """An AftercareFeeling with one `feeling` slot per value, in the order said."""
    said = intent("AftercareFeeling")
    said.slots = [
        Slot(entity="feeling", slot_name="feeling", value={"kind": "Unknown", "value": v})
        for v in values
    ]
    return said


def care_of(actions: Sequence[object]) -> CareReply:
    (action,) = actions
    assert isinstance(action, Care)
    return action.reply


@pytest.mark.parametrize(
    ("said", "decides"),
    [
        (("okay", "sore"), "sore"),  # "I'm fine but sore"
        (("tired", "hurt"), "hurt"),  # "tired but hurting"
        (("good", "not_okay"), "not_okay"),  # "good but not okay"
        (("sore", "unsafe"), "unsafe"),
        (("sad", "numb", "tearful"), "numb"),
        (("good",), "good"),
        (("nonsense",), "okay"),
    ],
)
def test_the_most_serious_feeling_decides(said: tuple[str, ...], decides: str) -> None:
    reply = care_of(decide(feelings(*said), CONFIG, PATTERNS))
    assert reply == feeling_reply(decides)
    assert most_serious(said) == decides


def test_hurt_and_unsafe_stop_everything_and_never_offer_closeness() -> None:
    hurt = feeling_reply("hurt")
    assert hurt.stop
    assert hurt.lines == (keys.FEELING_HURT, keys.HELP_CALL)  # what it did, then where help is
    unsafe = feeling_reply("unsafe")
    assert unsafe.stop
    assert unsafe.lines == (keys.FEELING_UNSAFE,)
    assert not unsafe.need


@pytest.mark.parametrize(
    "feeling", ["sad", "anxious", "ashamed", "drop", "tearful", "numb", "not_okay", "sore"]
)
def test_heavy_feelings_slow_the_routine_without_stopping_it(feeling: str) -> None:
    reply = feeling_reply(feeling)
    assert reply.slow_down
    assert not reply.stop
    assert reply.lines == (keys.feeling(feeling),)


@pytest.mark.parametrize("feeling", ["good", "okay", "tired"])
def test_light_feelings_change_nothing(feeling: str) -> None:
    assert feeling_reply(feeling) == CareReply((keys.feeling(feeling),))


def test_space_goes_quiet() -> None:
    reply = care_of(decide(intent("AftercareNeed", need="space"), CONFIG, PATTERNS))
    assert reply == CareReply((keys.need("space"),), quiet=True, need="space")


def test_help_stops_everything_and_says_the_one_line() -> None:
    reply = care_of(decide(intent("AftercareHelp"), CONFIG, PATTERNS))
    assert reply == CareReply((keys.HELP_CALL,), stop=True)


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("AftercareSkip", Skip()),
        ("AftercareNotNow", Skip("not_now")),
        ("AftercareMusicOff", MusicOff()),
        ("AftercareCaution", Caution()),
    ],
)
def test_skip_music_off_and_caution(name: str, action: object) -> None:
    assert decide(intent(name), CONFIG, PATTERNS) == [action]


def test_routines_from_config_can_be_started_by_name() -> None:
    routines = ("short", "long", "quiet", "gentle_morning")
    said = intent("AftercareStart", routine="gentle_morning")
    assert decide(said, CONFIG, PATTERNS, routines=routines) == [StartRoutine("gentle_morning")]
    # A routine that is not loaded falls back to the short one.
    assert decide(said, CONFIG, PATTERNS) == [StartRoutine("short")]


# --- Words whose meaning depends on the site (issue #13) -------------------------------


def heard(name: str, text: str, **slots: object) -> NluIntent:
    """An intent as a recognizer gives it for `text`."""
    said = intent(name, **slots)
    said.input = text
    return said


PAUSED = SiteContext(paused=True)
NEAR_THE_END = SiteContext(breathing_left=40.0)
MID_SESSION = SiteContext(breathing_left=300.0)
OFFERING = SiteContext(offering=True)
IDLE = SiteContext()


@pytest.mark.parametrize("name", ["AftercareResume", "AftercareMore"])
@pytest.mark.parametrize("text", ["keep going", "okay keep going", "go on", "continue please"])
def test_keep_going_resumes_while_paused_and_adds_a_minute_near_the_end(
    name: str, text: str
) -> None:
    said = heard(name, text)
    assert decide(said, CONFIG, PATTERNS, context=PAUSED) == [Control("resume")]
    assert decide(said, CONFIG, PATTERNS, context=NEAR_THE_END) == [Control("more", 1)]
    assert decide(said, CONFIG, PATTERNS, context=MID_SESSION) == []
    assert decide(said, CONFIG, PATTERNS, context=IDLE) == []


def test_explicit_words_mean_what_they_say_whatever_runs() -> None:
    more = heard("AftercareMore", "two more minutes", minutes=2)
    assert decide(more, CONFIG, PATTERNS, context=PAUSED) == [Control("more", 2)]
    resume = heard("AftercareResume", "resume")
    assert decide(resume, CONFIG, PATTERNS, context=MID_SESSION) == [Control("resume")]


@pytest.mark.parametrize("text", ["okay", "yes", "yeah okay", "ok"])
def test_okay_or_yes_alone_is_only_an_answer_inside_a_checkin(text: str) -> None:
    said = heard("AftercareFeeling", text, feeling="okay")
    for context in (IDLE, OFFERING, MID_SESSION):
        assert decide(said, CONFIG, PATTERNS, context=context) == []
    # Inside a check-in (no context: the answer is routed to the question) it is a feeling.
    assert decide(said, CONFIG, PATTERNS) == [Care(feeling_reply("okay"))]


@pytest.mark.parametrize(
    ("name", "text"), [("AftercareNotNow", "no"), ("AftercareSkip", "no thanks")]
)
def test_no_alone_declines_an_offer_and_nothing_else(name: str, text: str) -> None:
    said = heard(name, text)
    assert decide(said, CONFIG, PATTERNS, context=OFFERING) == [Skip("not_now")]
    assert decide(said, CONFIG, PATTERNS, context=IDLE) == []


def test_home_assistant_sends_no_text_and_the_intent_stands() -> None:
    said = heard("AftercareMore", "")
    assert decide(said, CONFIG, PATTERNS, context=PAUSED) == [Control("more", 1)]


def test_core_words_drop_fillers_around_the_phrase() -> None:
    assert core_words("Okay, keep going please.") == "keep going"
    assert core_words("okay") == "okay"
