"""Pure intent handling: slots in, actions out; odd values get a gentle answer."""

from __future__ import annotations

import pytest
from rhasspyhermes.intent import Intent, Slot
from rhasspyhermes.nlu import NluIntent

from skill import keys
from skill.config import parse_config
from skill.handlers import (
    Control,
    Say,
    StartBreathing,
    StartCooldown,
    StartRoutine,
    StopAll,
    decide,
)

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
