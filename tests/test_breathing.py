"""The pure breathing schedule: building plans, pace changes, pause, resume and more.

Every test passes explicit offsets: nothing sleeps and nothing reads a clock.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skill.base.vocabulary import CueStyle, PhaseName
from skill.breathing.grid import PACE_STEPS, TICKS_PER_SECOND, Cue, step_allowed, tick_seconds
from skill.breathing.patterns import (
    Pattern,
    Phase,
    default_pattern,
    load_patterns,
    load_user_patterns,
)
from skill.breathing.plan import LONG_SESSION, BreathingPlan
from skill.language import keys
from skill.voice.chimes import ChimeKind

PATTERNS = load_patterns()
CONFIG = "/etc/aftercare/config.yaml"
STYLES: tuple[CueStyle, ...] = tuple(CueStyle)


def active_elapsed(plan: BreathingPlan, now: float) -> float:
    """Breathing seconds done by `now` (opening notes, pauses and lead-ins excluded)."""
    return tick_seconds(plan._done_ticks(now))


def cues_from(plan: BreathingPlan, offset: float) -> tuple[Cue, ...]:
    """Cues at or after `offset`."""
    return tuple(cue for cue in plan.cues if cue.offset >= offset)


def two_seconds(key: str) -> float:
    """Every clip takes two seconds: the breaths start at 3.0 after one note and a 1 s lead-in."""
    return 2.0


def build(name: str, **kwargs: object) -> BreathingPlan:
    """A plan for a shipped pattern with two-second clips and a one-second lead-in."""
    options: dict[str, object] = {"speech_seconds": two_seconds, "lead_in": 1.0}
    options.update(kwargs)
    return BreathingPlan.build(PATTERNS[name], **options)  # type: ignore[arg-type]


def phases(plan: BreathingPlan) -> list[Cue]:
    """The phase cues of a plan."""
    return [cue for cue in plan.cues if cue.kind == "phase"]


def cycles(plan: BreathingPlan) -> int:
    """How many breaths a plan has."""
    return len({cue.cycle for cue in phases(plan)})


def grid(seconds: float) -> float:
    """A length as the schedule stores it: rounded to the 1/1024 s grid."""
    return round(seconds * TICKS_PER_SECOND) / TICKS_PER_SECOND


def assert_contiguous(cues: Sequence[Cue]) -> None:
    """Offsets strictly increase, and each phase ends exactly where the next one starts."""
    offsets = [cue.offset for cue in cues]
    assert offsets == sorted(set(offsets)), "offsets must strictly increase"
    timed = [cue for cue in cues if cue.kind in ("phase", "close")]
    for cue, following in itertools.pairwise(timed):
        assert cue.kind == "phase"
        assert cue.offset + cue.seconds == following.offset


# --- Shipped patterns ------------------------------------------------------------------


def test_every_shipped_pattern_loads_and_builds_in_every_style() -> None:
    assert set(PATTERNS) == {"settle", "calm", "coherent", "sigh", "together", "box", "478", "rest"}
    assert default_pattern(PATTERNS).name == "settle"
    for pattern in PATTERNS.values():
        assert pattern.intro == f"breathing.intro.{pattern.name}"
        assert {pattern.intro, pattern.close} <= keys.ALL_KEYS
        assert pattern.description
        assert "\n" not in pattern.description
        for style in STYLES:
            plan = BreathingPlan.build(pattern, minutes=2, style=style)
            assert_contiguous(plan.cues)
            for cue in plan.cues:
                assert cue.voice_key is None or cue.voice_key in keys.ALL_KEYS


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("calm", [("inhale", 4.0), ("exhale", 6.0)]),
        ("coherent", [("inhale", 5.5), ("exhale", 5.5)]),
        ("sigh", [("inhale", 2.0), ("top-up", 1.0), ("exhale", 6.0)]),
        ("together", [("inhale", 5.0), ("exhale", 5.0)]),
        ("box", [("inhale", 4.0), ("hold", 4.0), ("exhale", 4.0), ("hold", 4.0)]),
        ("478", [("inhale", 4.0), ("hold", 7.0), ("exhale", 8.0)]),
    ],
)
def test_phase_sequences_and_offsets_are_exact(
    name: str, expected: list[tuple[PhaseName, float]]
) -> None:
    plan = build(name, rounds=3)
    start = phases(plan)[0].offset
    breath = sum(seconds for _, seconds in expected)
    want: list[tuple[float, PhaseName, float, int]] = []
    for cycle in range(3):
        offset = start + cycle * breath
        for phase, seconds in expected:
            want.append((offset, phase, seconds, cycle))
            offset += seconds
    assert [(c.offset, c.phase, c.seconds, c.cycle) for c in phases(plan)] == want
    chime: ChimeKind | None = "end" if name == "together" else None  # together ends on chimes
    assert plan.cues[-1] == Cue(start + 3 * breath, "close", None, 0.0, 3, "breathing.close", chime)


def test_settle_ramps_smoothly_from_3_4_to_4_6_over_about_150_seconds() -> None:
    plan = build("settle", minutes=10)
    start = phases(plan)[0].offset
    breaths: dict[int, list[Cue]] = {}
    for cue in phases(plan):
        breaths.setdefault(cue.cycle, []).append(cue)
    pairs = [(b[0].seconds, b[1].seconds) for _, b in sorted(breaths.items())]
    assert pairs[0] == (3.0, 4.0)
    assert pairs[-1] == (4.0, 6.0)
    for (inhale, exhale), (next_in, next_out) in itertools.pairwise(pairs):
        assert inhale <= next_in, "never shortens"
        assert exhale <= next_out, "never shortens"
        assert next_in - inhale < 0.2, "no sudden jumps"
        assert next_out - exhale < 0.4, "no sudden jumps"
    reached = next(
        b for b in sorted(breaths) if (breaths[b][0].seconds, breaths[b][1].seconds) == (4, 6)
    )
    ramp_time = breaths[reached][0].offset - start
    assert 130 <= ramp_time <= 170
    assert all(pair == (4.0, 6.0) for pair in pairs[reached:])


def test_minutes_become_whole_breaths_and_the_session_ends_on_a_breath_boundary() -> None:
    assert cycles(build("calm", minutes=1)) == 6
    assert cycles(build("calm", minutes=1.15)) == 6
    assert cycles(build("coherent", minutes=1)) == 5
    assert cycles(build("sigh", minutes=1)) == 6
    assert cycles(build("478", minutes=0.1)) == 1, "at least one breath"
    for name in ("calm", "sigh", "box", "478", "settle"):
        plan = build(name, minutes=1.7)
        last = phases(plan)[-1]
        assert last.phase == PATTERNS[name].phases[-1].name
        assert plan.cues[-1].offset == last.offset + last.seconds


def test_defaults_when_no_length_is_given() -> None:
    assert build("calm").active_seconds == 300
    assert cycles(build("box")) == 4
    assert build("rest").active_seconds == 300


def test_opt_in_patterns_are_capped_unless_rounds_are_asked_for() -> None:
    assert cycles(build("box", minutes=10)) == 4
    assert cycles(build("478", minutes=10)) == 4
    assert cycles(build("478", minutes=0.5)) == 1
    assert cycles(build("box", rounds=7)) == 7
    assert cycles(build("calm", rounds=7)) == 7


def test_no_drift_over_thirty_minutes() -> None:
    calm = build("calm", minutes=30)
    assert cycles(calm) == 180
    start = phases(calm)[0].offset
    assert phases(calm)[-1].offset == pytest.approx(start + 179 * 10 + 4, abs=1e-9)
    assert calm.cues[-1].offset == start + 1800
    coherent = build("coherent", minutes=30)
    assert cycles(coherent) == 163
    assert coherent.cues[-1].offset == pytest.approx(
        phases(coherent)[0].offset + 163 * 11, abs=1e-9
    )
    settle = build("settle", minutes=30)
    total = math.fsum(cue.seconds for cue in phases(settle))
    assert settle.cues[-1].offset == pytest.approx(phases(settle)[0].offset + total, abs=1e-9)
    assert total <= 1800 < total + 10
    assert_contiguous(settle.cues)


def test_no_drift_with_several_pace_changes() -> None:
    plan = build("calm", minutes=30)
    start = phases(plan)[0].offset
    assert start == 6.0, "intro, safety line (long session), lead-in"
    plan = plan.faster(100.0).plan  # breaths start at 6 + 10k: the next boundary is 106.0
    plan = plan.faster(500.0).plan
    plan = plan.slower(900.0).plan
    plan = plan.slower(1300.0).plan
    plan = plan.slower(1301.0).plan
    assert plan.pace_step == -1
    assert_contiguous(plan.cues)
    cues = phases(plan)
    assert all(c.seconds in (4.0, 6.0) for c in cues if c.offset < 106)
    first_fast = next(c for c in cues if c.offset >= 106)
    assert (first_fast.offset, first_fast.phase, first_fast.seconds) == (
        106.0,
        "inhale",
        grid(3.68),
    )
    # Offsets are exact sums of the phase lengths, whatever the steps did.
    running = start
    for cue in cues:
        assert cue.offset == pytest.approx(running, abs=1e-9)
        running += cue.seconds
    assert plan.cues[-1].offset == pytest.approx(running, abs=1e-9)
    assert abs(plan.active_seconds - 1800) <= 6, "a timed session keeps its length"


# --- Pace changes --------------------------------------------------------------------------


def test_slower_replans_from_the_next_phase_boundary() -> None:
    plan = build("calm", minutes=5)  # inhale 3-7, exhale 7-13, inhale 13-17 ...
    change = plan.slower(8.5)
    assert change.changed
    assert change.plan.pace_step == -1
    before = [cue for cue in plan.cues if cue.offset < 13]
    assert [cue for cue in change.plan.cues if cue.offset < 13] == before, "current phase kept"
    following = [cue for cue in phases(change.plan) if cue.offset >= 13][:2]
    assert [(c.offset, c.phase, c.seconds) for c in following] == [
        (13.0, "inhale", grid(4 * 1.08)),
        (13.0 + grid(4 * 1.08), "exhale", grid(6 * 1.08)),
    ]


def test_a_pace_change_exactly_on_a_boundary_starts_at_the_following_one() -> None:
    plan = build("calm", minutes=5)
    changed = plan.faster(7.0).plan  # the exhale at 7.0 is due now and keeps its length
    exhale = next(c for c in changed.cues if c.offset == 7.0)
    assert exhale.seconds == 6.0
    assert next(c for c in phases(changed) if c.offset > 7.0).seconds == grid(4 * 0.92)


def test_pace_steps_stop_at_the_bounds_and_say_so() -> None:
    plan = build("calm", minutes=5)
    for expected in (-1, -2):
        change = plan.slower(20.0)
        assert change.changed
        assert change.plan.pace_step == expected
        plan = change.plan
    at_bound = plan.slower(20.0)
    assert not at_bound.changed
    assert at_bound.plan is plan
    for expected in (-1, 0, 1, 2):
        plan = plan.faster(30.0).plan
        assert plan.pace_step == expected
    assert not plan.faster(30.0).changed
    assert sorted(PACE_STEPS) == [-2, -1, 0, 1, 2]


def test_bounds_keep_phases_within_1_to_20_seconds_and_holds_within_7() -> None:
    assert not step_allowed(PATTERNS["478"], -1), "the 7 s hold cannot grow"
    assert not build("478", rounds=4).slower(10.0).changed
    assert build("478", rounds=4).faster(10.0).changed
    assert not step_allowed(PATTERNS["rest"], 1)
    assert not step_allowed(PATTERNS["rest"], -1)
    quick = load_user_patterns(
        {
            "quick": {
                "phases": [{"phase": "inhale", "seconds": 1}, {"phase": "exhale", "seconds": 2}]
            }
        },
        config_path=CONFIG,
    )["quick"]
    assert not step_allowed(quick, 1)
    for pattern in (*PATTERNS.values(), quick):
        for step in PACE_STEPS:
            if step_allowed(pattern, step):
                plan = BreathingPlan.build(pattern, minutes=5, pace_step=step)
                for cue in phases(plan):
                    assert (
                        1 <= cue.seconds <= (7 if cue.phase == "hold" else 20) or not pattern.paced
                    )


def test_an_unusable_starting_step_moves_towards_normal() -> None:
    assert build("478", rounds=2, pace_step=-2).pace_step == 0
    assert build("calm", rounds=2, pace_step=-2).pace_step == -2
    with pytest.raises(ValueError, match="pace_step"):
        build("calm", pace_step=3)


def test_pace_change_before_breathing_starts_applies_from_the_first_breath() -> None:
    plan = build("calm", minutes=5).faster(0.5).plan
    assert phases(plan)[0].offset == 3.0
    assert phases(plan)[0].seconds == grid(3.68)


def test_a_breath_count_is_kept_when_the_pace_changes() -> None:
    plan = build("box", rounds=4).slower(5.0).plan
    assert cycles(plan) == 4
    assert_contiguous(plan.cues)


# --- Pause, resume, more ------------------------------------------------------------------


def test_pause_and_resume_keep_the_remaining_time() -> None:
    plan = build("calm", minutes=5)  # 300 s of breathing from 3.0
    paused = plan.pause(126.0)  # 123 s done, 3 s into breath 12's inhale
    assert active_elapsed(plan, 126.0) == active_elapsed(paused, 999.0) == 123.0
    assert active_elapsed(plan, 1.0) == 0.0, "the opening is not breathing time"
    assert paused.paused
    assert paused.cues_after(126.0) == ()
    assert paused.end_offset is None
    assert not paused.finished(1e9)
    resumed = paused.resume(200.0, lead_in=2.0)
    new = [cue for cue in phases(resumed) if cue.offset > 126]
    assert (new[0].offset, new[0].phase, new[0].cycle) == (202.0, "inhale", 13)
    remaining = resumed.cues[-1].offset - 202.0
    assert abs(remaining - (300 - 123)) <= 5, "within half a breath of what was owed"
    assert_contiguous([cue for cue in resumed.cues if cue.offset >= 202])
    assert [cue for cue in resumed.cues if cue.offset <= 126] == [
        cue for cue in plan.cues if cue.offset <= 126
    ]


def test_pause_during_the_opening_resumes_with_the_whole_session() -> None:
    plan = build("calm", minutes=2)
    resumed = plan.pause(1.0).resume(50.0, lead_in=1.0)
    assert phases(resumed)[0].offset == 51.0
    assert phases(resumed)[0].cycle == 0
    assert cycles(resumed) == 12


def test_a_counted_session_breathes_the_interrupted_round_again() -> None:
    plan = build("box", rounds=4)  # breaths of 16 s from 9.0 (three notes before)
    resumed = plan.pause(9.0 + 16 + 5).resume(60.0)
    after = [cue for cue in phases(resumed) if cue.offset > 31]
    assert sorted({cue.cycle for cue in after}) == [2, 3, 4]
    assert len(after) == 12


def test_pause_and_resume_are_no_ops_when_they_do_not_apply() -> None:
    plan = build("calm", minutes=1)
    end = plan.end_offset
    assert end is not None
    assert plan.resume(10.0) is plan
    assert plan.pause(end + 1) is plan
    paused = plan.pause(20.0)
    assert paused.pause(25.0) is paused


def test_more_extends_by_whole_breaths() -> None:
    plan = build("calm", minutes=2)
    longer = plan.more(50.0, 1)
    assert cycles(longer) == 18
    assert longer.cues[-1].offset == plan.cues[-1].offset + 60
    assert [c for c in longer.cues if c.offset <= 50] == [c for c in plan.cues if c.offset <= 50]
    assert_contiguous(longer.cues)
    assert cycles(build("box").more(5.0, rounds=2)) == 6, "asking for more lifts the cap"
    assert cycles(build("calm", minutes=1).more(5.0, 0.05)) == 7, "at least one breath"
    end = plan.end_offset
    assert end is not None
    assert plan.more(end, 1) is plan


def test_more_while_paused_is_added_on_resume() -> None:
    plan = build("calm", minutes=2).pause(43.0)  # 40 s done
    resumed = plan.more(43.0, 1).resume(60.0, lead_in=0.0)
    assert resumed.cues[-1].offset - 60.0 == 140.0


def test_the_slowest_pace_survives_a_pause() -> None:
    plan = build("calm", minutes=5).pause(50.0)
    plan = plan.slower(50.0).plan.resume(60.0, lead_in=0.0)
    assert phases(plan)[-1].seconds == grid(6 * 1.08)


# --- Styles and notes ----------------------------------------------------------------------


def test_styles_mark_phases_with_voice_chimes_or_both() -> None:
    voice, chime, both = (
        phases(build("calm", rounds=5, style=s)) for s in ("voice", "chime", "both")
    )
    assert {(c.voice_key, c.chime) for c in voice} == {("cue.inhale", None), ("cue.exhale", None)}
    assert {(c.voice_key, c.chime) for c in chime} == {(None, "inhale"), (None, "exhale")}
    assert {(c.voice_key, c.chime) for c in both} == {
        ("cue.inhale", "inhale"),
        ("cue.exhale", "exhale"),
    }
    fewer = phases(build("calm", rounds=5, style="fewer-words"))
    assert all(c.voice_key is not None and c.chime is not None for c in fewer if c.cycle < 3)
    assert all(c.voice_key is None and c.chime is not None for c in fewer if c.cycle >= 3)


def test_holds_are_spoken_but_never_chimed_and_top_ups_chime_softly() -> None:
    for style in STYLES:
        holds = [c for c in phases(build("box", style=style)) if c.phase == "hold"]
        assert all(c.chime is None for c in holds)
    assert all(c.voice_key == "cue.hold" for c in phases(build("box")) if c.phase == "hold")
    top_ups = [
        c for c in phases(build("sigh", rounds=2, style=CueStyle.CHIME)) if c.phase == "top-up"
    ]
    assert {(c.voice_key, c.chime) for c in top_ups} == {(None, "soft")}
    assert build("sigh", rounds=1).cues[2].voice_key == "cue.top_up"


def test_the_close_chimes_unless_the_style_is_voice_only() -> None:
    assert build("calm", rounds=1, style=CueStyle.VOICE).cues[-1].chime is None
    assert build("calm", rounds=1, style=CueStyle.BOTH).cues[-1].chime == "end"
    assert build("together", rounds=1, style=CueStyle.VOICE).cues[-1].chime == "end"


def test_together_speaks_for_the_first_minute_then_only_chimes() -> None:
    for style in ("voice", "both"):
        plan = build("together", minutes=5, style=style)
        start = phases(plan)[0].offset
        spoken = [c for c in phases(plan) if c.voice_key is not None]
        assert spoken
        assert max(c.offset + c.seconds for c in spoken) - start <= 60
        quiet = [c for c in phases(plan) if c.voice_key is None]
        assert quiet
        assert all(c.chime in ("inhale", "exhale") for c in quiet)
        assert min(c.offset for c in quiet) - start == 60
        notes = [c for c in plan.cues if c.kind == "fade_note"]
        assert [n.voice_key for n in notes] == [keys.BREATHING_TOGETHER_FADE]
        last_spoken = spoken[-1]
        assert last_spoken.offset < notes[0].offset < last_spoken.offset + last_spoken.seconds
    chimes_only = build("together", minutes=5, style=CueStyle.CHIME)
    assert not [c for c in chimes_only.cues if c.kind == "fade_note" or (c.phase and c.voice_key)]
    short = build("together", minutes=1)
    assert not [c for c in short.cues if c.kind == "fade_note"], "nothing to fade"


def test_rest_has_no_pacing_just_soft_chimes_each_minute_if_chimes_are_on() -> None:
    plan = build("rest", minutes=3, style=CueStyle.BOTH)
    assert [c.kind for c in plan.cues] == ["intro", "phase", "phase", "phase", "close"]
    assert [(c.seconds, c.voice_key, c.chime) for c in phases(plan)] == [
        (60.0, None, None),
        (60.0, None, "soft"),
        (60.0, None, "soft"),
    ]
    assert plan.cues[-1].voice_key == keys.BREATHING_REST_CLOSE
    assert all(c.chime is None for c in phases(build("rest", minutes=3, style=CueStyle.VOICE)))
    assert not build("rest").slower(10.0).changed
    assert not [c for c in build("rest", minutes=30).cues if c.kind == "safety"]


def test_opening_notes_come_first_and_never_overlap() -> None:
    lengths = {
        "breathing.intro.478": 3.5,
        keys.BREATHING_SAFETY: 4.25,
        keys.BREATHING_HOLD_NOTE: 3.0,
    }
    plan = BreathingPlan.build(
        PATTERNS["478"], speech_seconds=lengths.__getitem__, lead_in=2.0, style=CueStyle.BOTH
    )
    notes = plan.cues[:3]
    assert [(c.kind, c.offset) for c in notes] == [
        ("intro", 0.0),
        ("safety", 4.5),
        ("hold_note", 9.75),
    ]
    assert phases(plan)[0].offset == 9.75 + 3.0 + 2.0
    assert [c.kind for c in build("calm", minutes=5).cues[:2]] == ["intro", "phase"]
    long = build("calm", minutes=LONG_SESSION / 60 + 1)
    assert [c.kind for c in long.cues[:3]] == ["intro", "safety", "phase"]


def test_cues_from_and_after() -> None:
    plan = build("calm", rounds=2)
    assert [c.offset for c in cues_from(plan, 7.0)] == [7.0, 13.0, 17.0, 23.0]
    assert [c.offset for c in plan.cues_after(7.0)] == [13.0, 17.0, 23.0]
    assert plan.finished(23.0)
    assert not plan.finished(22.9)


def test_bad_lengths_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="not both"):
        build("calm", minutes=1, rounds=2)
    with pytest.raises(ValueError, match="positive"):
        build("calm", minutes=0)
    with pytest.raises(ValueError, match="give minutes or rounds"):
        build("calm").more(1.0)


# --- Properties -----------------------------------------------------------------------------

NAMES: tuple[PhaseName, ...] = tuple(PhaseName)


@st.composite
def random_patterns(draw: st.DrawFn) -> Pattern:
    """Any pattern a user could define."""
    extra = draw(st.lists(st.sampled_from(NAMES), max_size=4))
    names = draw(st.permutations([PhaseName.INHALE, PhaseName.EXHALE, *extra]))
    built = []
    for name in names:
        high = 14 if name == "hold" else 40
        built.append(Phase(name, draw(st.integers(2, high)) / 2))
    return Pattern("random", "Random.", tuple(built), "routine.breathe_offer")


Op = tuple[str, float]
OPS = st.lists(
    st.tuples(st.sampled_from(["slower", "faster", "more"]), st.floats(0, 120)), max_size=8
)


def apply(plan: BreathingPlan, op: str, now: float) -> BreathingPlan:
    """Apply one control at `now`."""
    if op == "slower":
        return plan.slower(now).plan
    if op == "faster":
        return plan.faster(now).plan
    if op == "more":
        return plan.more(now, 1)
    if op == "pause":
        return plan.pause(now)
    return plan.resume(now, lead_in=1.5)


@settings(max_examples=150, deadline=None)
@given(
    pattern=random_patterns(),
    minutes=st.one_of(st.none(), st.floats(0.1, 30)),
    style=st.sampled_from(STYLES),
    ops=OPS,
)
def test_offsets_stay_exact_through_pace_changes(
    pattern: Pattern, minutes: float | None, style: CueStyle, ops: list[Op]
) -> None:
    plan = BreathingPlan.build(pattern, minutes=minutes, rounds=None if minutes else 5, style=style)
    now = 0.0
    for op, wait in ops:
        now += wait
        before = [c for c in plan.cues if c.offset <= now]
        plan = apply(plan, op, now)
        assert [c for c in plan.cues if c.offset <= now] == before, "the past never changes"
    assert_contiguous(plan.cues)
    for cue in phases(plan):
        assert 1 <= cue.seconds <= (7 if cue.phase == "hold" else 20)
    last_cycle = [c for c in phases(plan) if c.cycle == plan.cues[-1].cycle - 1]
    assert len(last_cycle) == len(pattern.phases), "ends on a whole breath"


@settings(max_examples=100, deadline=None)
@given(
    pattern=random_patterns(),
    minutes=st.floats(1, 20),
    pause=st.floats(0, 600),
    gap=st.floats(0, 300),
)
def test_resume_owes_the_remaining_time_within_half_a_breath(
    pattern: Pattern, minutes: float, pause: float, gap: float
) -> None:
    plan = BreathingPlan.build(pattern, minutes=minutes)
    end = plan.end_offset
    assert end is not None
    if pause >= end:
        return
    paused = plan.pause(pause)
    owed = plan.active_seconds - active_elapsed(paused, pause + gap)
    assert active_elapsed(paused, pause) == active_elapsed(plan, pause)
    resumed = paused.resume(pause + gap)
    after = [c for c in resumed.cues if c.offset > pause]
    assert after[0].phase == pattern.phases[0].name
    assert after[0].offset >= pause + gap
    assert_contiguous(after)
    breath = sum(p.seconds for p in pattern.phases)
    planned = after[-1].offset - after[0].offset
    if owed >= breath / 2:
        assert abs(planned - owed) <= breath / 2 + 0.01
    else:
        assert planned == pytest.approx(breath), "at least one breath after resuming"


@settings(max_examples=100, deadline=None)
@given(
    pattern=random_patterns(),
    minutes=st.floats(0.5, 20),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["slower", "faster", "more", "pause", "resume"]), st.floats(0, 90)
        ),
        max_size=12,
    ),
)
def test_any_sequence_of_controls_keeps_the_schedule_sound(
    pattern: Pattern, minutes: float, ops: list[Op]
) -> None:
    plan = BreathingPlan.build(pattern, minutes=minutes, style=CueStyle.BOTH)
    now, resumes = 0.0, 0
    for op, wait in ops:
        now += wait
        before = [c for c in plan.cues if c.offset <= now]
        resumes += op == "resume" and plan.paused
        plan = apply(plan, op, now)
        assert [c for c in plan.cues if c.offset <= now] == before, "the past never changes"
    offsets = [c.offset for c in plan.cues]
    assert offsets == sorted(set(offsets))
    timed = [c for c in plan.cues if c.kind in ("phase", "close")]
    breaks = sum(a.offset + a.seconds != b.offset for a, b in itertools.pairwise(timed))
    assert breaks <= resumes, "phases only part where a pause was resumed"
    for cue in phases(plan):
        assert 1 <= cue.seconds <= (7 if cue.phase == "hold" else 20)
