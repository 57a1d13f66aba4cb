"""Breathing patterns: the shipped file, user patterns from config.yaml, and their errors."""

from __future__ import annotations

import pytest

from skill.base.errors import ConfigError, DataFileError
from skill.base.vocabulary import PhaseName
from skill.breathing.patterns import (
    Pattern,
    Phase,
    load_patterns,
    load_user_patterns,
    parse_patterns,
)
from skill.breathing.plan import BreathingPlan
from skill.language import keys

PATTERNS = load_patterns()
CONFIG = "/etc/aftercare/config.yaml"


# --- Shipped patterns ------------------------------------------------------------------


def test_only_patterns_with_holds_are_opt_in_and_capped() -> None:
    for pattern in PATTERNS.values():
        assert pattern.opt_in == pattern.has_holds
        assert pattern.max_rounds == (4 if pattern.has_holds else None)


# --- User patterns ------------------------------------------------------------------------


def user(phases_: list[dict[str, object]], **extra: object) -> dict[str, object]:
    """config.yaml's breathing.patterns with one pattern, `mine`."""
    return {"mine": {"phases": phases_, **extra}}


IN4 = {"phase": "inhale", "seconds": 4}
OUT6 = {"phase": "exhale", "seconds": 6}
KEY = "breathing.patterns.mine"


@pytest.mark.parametrize(
    ("raw", "key", "problem"),
    [
        (
            user([IN4, {"phase": "exhale", "seconds": 25}]),
            f"{KEY}.phases[1].seconds",
            "expected a number from 1 to 20, got 25",
        ),
        (
            user([IN4, {"phase": "exhale", "seconds": 0.5}]),
            f"{KEY}.phases[1].seconds",
            "expected a number from 1 to 20, got 0.5",
        ),
        (
            user([{"phase": "inhale", "seconds": "ten"}, OUT6]),
            f"{KEY}.phases[0].seconds",
            'expected a number from 1 to 20, got "ten"',
        ),
        (
            user([{"phase": "inhale", "seconds": True}, OUT6]),
            f"{KEY}.phases[0].seconds",
            "got true",
        ),
        (
            user([{"phase": "breathe", "seconds": 4}, OUT6]),
            f"{KEY}.phases[0].phase",
            'expected one of: inhale, top-up, hold, exhale, rest, got "breathe"',
        ),
        (
            user([IN4, {"phase": "hold", "seconds": 8}, OUT6]),
            f"{KEY}.phases[1].seconds",
            "a hold may last at most 7 seconds, got 8",
        ),
        (
            user([IN4, {"phase": "hold", "seconds": 4}]),
            f"{KEY}.phases",
            "expected at least one inhale and one exhale, got inhale, hold",
        ),
        (user([]), f"{KEY}.phases", "expected a list of 1 to 8 phases"),
        (
            user([IN4, {"phase": "exhale", "secs": 6}]),
            f"{KEY}.phases[1].secs",
            "unknown key; allowed keys: phase, seconds",
        ),
        (
            user([IN4, OUT6], speed=2),
            f"{KEY}.speed",
            "unknown key; allowed keys: description, phases, opt_in",
        ),
        (user([IN4, OUT6], opt_in="yes"), f"{KEY}.opt_in", 'expected true or false, got "yes"'),
        ({"mine": {"description": "no phases"}}, f"{KEY}.phases", "missing"),
        ({"mine": [IN4, OUT6]}, KEY, "expected a mapping with keys description, phases, opt_in"),
        ({"calm": {"phases": [IN4, OUT6]}}, "breathing.patterns.calm", "is a built-in pattern"),
        ({"Mine!": {"phases": [IN4, OUT6]}}, "breathing.patterns", 'got "Mine!"'),
        ({478: {"phases": [IN4, OUT6]}}, "breathing.patterns", "in quotes"),
        ([IN4], "breathing.patterns", "expected a mapping of pattern names"),
    ],
)
def test_user_pattern_errors_name_the_key_and_the_limit(
    raw: object, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_user_patterns(raw, config_path=CONFIG)
    assert caught.value.path == CONFIG
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{CONFIG}: {key}: ")


def test_user_patterns_load_and_merge() -> None:
    raw = {
        "evening": {
            "description": "Long and slow.",
            "phases": [IN4, {"phase": "exhale", "seconds": 8}],
        },
        "little box": {"phases": [IN4, {"phase": "hold", "seconds": 2}, OUT6]},
    }
    mine = load_user_patterns(raw, config_path=CONFIG)
    assert load_user_patterns(None, config_path=CONFIG) == {}
    evening = mine["evening"]
    assert evening.phases == (Phase(PhaseName.INHALE, 4.0), Phase(PhaseName.EXHALE, 8.0))
    assert (evening.description, evening.opt_in, evening.source) == (
        "Long and slow.",
        False,
        CONFIG,
    )
    assert evening.intro in keys.ALL_KEYS
    assert evening.close in keys.ALL_KEYS
    box = mine["little box"]
    assert box.opt_in, "holds make a pattern opt-in unless told otherwise"
    assert box.max_rounds == 4
    assert box.description == "Your own pattern: inhale 4 s, hold 2 s, exhale 6 s."
    assert not load_user_patterns(
        {"x": {"phases": [IN4, {"phase": "hold", "seconds": 2}, OUT6], "opt_in": False}},
        config_path=CONFIG,
    )["x"].opt_in
    merged = load_patterns(mine)
    assert set(merged) == set(PATTERNS) | {"evening", "little box"}
    plan = BreathingPlan.build(box, minutes=10)
    assert len({cue.cycle for cue in plan.cues if cue.kind == "phase"}) == 4


def test_a_user_pattern_never_silently_replaces_a_shipped_one() -> None:
    impostor = Pattern(
        "calm",
        "Not the real one.",
        (Phase(PhaseName.INHALE, 2), Phase(PhaseName.EXHALE, 2)),
        "x",
        source=CONFIG,
    )
    with pytest.raises(ConfigError, match="built-in") as caught:
        load_patterns({"calm": impostor})
    assert caught.value.path == CONFIG


# --- The shipped data file -----------------------------------------------------------------

GOOD = """
patterns:
  easy:
    description: Easy.
    intro: breathing.intro.calm
    default: true
    phases: [{phase: inhale, seconds: 4}, {phase: exhale, seconds: 6}]
"""


def test_a_valid_pattern_file_parses() -> None:
    parsed = parse_patterns(GOOD, source="x.yaml")
    assert parsed["easy"].phases == (Phase(PhaseName.INHALE, 4.0), Phase(PhaseName.EXHALE, 6.0))
    assert parsed["easy"].source == "x.yaml"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (
            GOOD.replace("default: true", "default: false"),
            "patterns",
            "exactly one pattern with default: true",
        ),
        (
            GOOD.replace(
                "{phase: exhale, seconds: 6}",
                "{phase: hold, seconds: 4}, {phase: exhale, seconds: 6}",
            ),
            "patterns.easy.opt_in",
            "must be opt_in: true",
        ),
        (
            GOOD.replace("intro: breathing.intro.calm", "intro: breathing.intro.nope"),
            "patterns.easy.intro",
            "response key",
        ),
        (
            GOOD + "    ramp: {start: [{phase: exhale, seconds: 3}, {phase: inhale, seconds: 2}],"
            " seconds: 60}\n",
            "patterns.easy.ramp.start",
            "expected the phases of the pattern: inhale, exhale",
        ),
        (GOOD + "    colour: blue\n", "patterns.easy.colour", "unknown key"),
        ("patterns: [1, 2]", "patterns", "expected one top-level key"),
        ("patterns: {a: [", "", "not valid YAML"),
    ],
)
def test_pattern_file_errors_name_the_file_and_key(text: str, key: str, problem: str) -> None:
    with pytest.raises(DataFileError) as caught:
        parse_patterns(text, source="x.yaml")
    assert (caught.value.path, caught.value.key) == ("x.yaml", key)
    assert problem in caught.value.problem
