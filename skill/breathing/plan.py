"""A breathing session as a pure, exact schedule of cues (the patterns are in patterns.py).

Nothing here reads a clock or sleeps. A plan is a list of cues at offsets (seconds from the
session start, counted on a monotonic clock); the runner sleeps until ``start + offset``.
Every change (slower, faster, pause, resume, more) takes the current offset as an argument
and returns a new plan. Phase lengths are whole multiples of 1/1024 s (``TICKS_PER_SECOND``),
so every offset is an exact binary fraction: sums never round, and a 30-minute session has
no drift at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final, cast

from skill.base.vocabulary import CueStyle
from skill.breathing.grid import (
    PACE_STEPS,
    STYLES,
    TICKS_PER_SECOND,
    Cue,
    CueKind,
    Slot,
    Start,
    ceil_ticks,
    check_amount,
    chime_for,
    cycle_ticks,
    estimate_speech_seconds,
    is_voiced,
    step_allowed,
    tick_seconds,
    to_ticks,
)
from skill.breathing.patterns import Pattern
from skill.language import keys

if TYPE_CHECKING:
    pass
LONG_SESSION: Final = 600
"""Active seconds above which the safety line is spoken."""
NOTE_GAP: Final = 1.0
"""Silence between two opening notes, in seconds."""
LEAD_IN: Final = 1.5
"""Default silence between the last spoken note and the first breath, in seconds."""
FADE_GAP: Final = 0.4
"""Silence between the last spoken cue and the fade note, in seconds."""


@dataclass(frozen=True)
class BreathingPlan:
    """A breathing session as data; every method takes the current offset and returns a new plan."""

    pattern: Pattern
    """The pattern breathed."""
    style: CueStyle
    """How phases are marked."""
    pace_step: int
    """Current pace step (a key of PACE_STEPS)."""
    by_rounds: bool
    """True: the length is a number of breaths; False: an amount of active time."""
    target: int
    """Breaths (by_rounds) or planned active ticks (by time) for the whole session."""
    slots: tuple[Slot, ...]
    """Every cue with its bookkeeping, in offset order."""
    speech_seconds: Callable[[str], float]
    """Clip length of a response key, used to space spoken notes."""
    paused_at: float | None = None
    """The offset of the pause, while paused."""
    resume_cycle: int = 0
    """The breath that starts on resume."""
    active_done: int = 0
    """Breathing ticks done before the pause."""

    @classmethod
    def build(
        cls,
        pattern: Pattern,
        *,
        minutes: float | None = None,
        rounds: int | None = None,
        style: CueStyle = CueStyle.VOICE,
        pace_step: int = 0,
        lead_in: float = LEAD_IN,
        speech_seconds: Callable[[str], float] = estimate_speech_seconds,
    ) -> BreathingPlan:
        """Plan a whole session: opening notes, whole breaths, then the close.

        Minutes become the whole breaths that fit (at least one); opt-in patterns get at most
        ``max_rounds`` breaths unless rounds are given; with neither, opt-in patterns get
        ``max_rounds`` and the others ``default_minutes``. A pace step the pattern cannot
        take (see ``step_allowed``) moves towards 0 until it can.
        """
        check_amount(minutes, rounds)
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}; choose one of: {', '.join(STYLES)}")
        if pace_step not in PACE_STEPS:
            raise ValueError(f"pace_step must be one of {sorted(PACE_STEPS)}, got {pace_step!r}")
        while not step_allowed(pattern, pace_step):
            pace_step += -1 if pace_step > 0 else 1
        plan = cls(pattern, style, pace_step, True, 0, (), speech_seconds)
        if rounds is not None:
            end = rounds
        elif minutes is None and pattern.max_rounds is not None:
            end = pattern.max_rounds
        else:
            wanted = to_ticks(60 * (minutes if minutes is not None else pattern.default_minutes))
            end = max(1, plan._fit(0, 0, wanted, nearest=False))
            if pattern.max_rounds is not None:
                end = min(end, pattern.max_rounds)
        total = plan._span(0, end)
        by_rounds = rounds is not None or end == pattern.max_rounds
        notes: list[tuple[CueKind, str]] = [("intro", pattern.intro)]
        if pattern.paced and (pattern.has_holds or total > to_ticks(LONG_SESSION)):
            notes.append(("safety", keys.BREATHING_SAFETY))
        if pattern.has_holds:
            notes.append(("hold_note", keys.BREATHING_HOLD_NOTE))
        slots: list[Slot] = []
        tick = said = 0  # where the next note may start; where the last one ends
        for kind, key in notes:
            slots.append(
                Slot(Cue(tick_seconds(tick), kind, None, 0.0, 0, key, None), tick, 0, -1, 0)
            )
            said = slots[-1].tick + max(1, ceil_ticks(speech_seconds(key)))
            tick = said + ceil_ticks(NOTE_GAP)
        tick = said + ceil_ticks(max(0.0, lead_in))
        plan = replace(plan, by_rounds=by_rounds, target=end if by_rounds else total)
        return replace(plan, slots=(*slots, *plan._generate(Start(tick, 0, 0), end)))

    @property
    def cues(self) -> tuple[Cue, ...]:
        """Every cue, in offset order (while paused: those before the pause)."""
        return tuple(slot.cue for slot in self.slots)

    @property
    def paused(self) -> bool:
        """True between pause and resume."""
        return self.paused_at is not None

    @property
    def end_offset(self) -> float | None:
        """Offset of the close cue; None while paused."""
        return None if self.paused_at is not None else self.slots[-1].cue.offset

    @property
    def active_seconds(self) -> float:
        """Planned breathing time of the whole session, pauses and notes excluded."""
        if self.paused_at is None:
            return tick_seconds(self.slots[-1].active)
        if self.by_rounds:
            return tick_seconds(self.active_done + self._span(self.resume_cycle, self.target))
        return tick_seconds(self.target)

    def finished(self, now: float) -> bool:
        """True once the close cue is due."""
        end = self.end_offset
        return end is not None and now >= end

    def cues_after(self, now: float) -> tuple[Cue, ...]:
        """Cues still to come: strictly after `now` (a cue at `now` counts as delivered)."""
        return tuple(slot.cue for slot in self.slots if slot.cue.offset > now)

    def slower(self, now: float) -> PaceChange:
        """One pace step slower from the next phase boundary; unchanged at the slowest step."""
        return self._pace(now, self.pace_step - 1)

    def faster(self, now: float) -> PaceChange:
        """One pace step faster from the next phase boundary; unchanged at the fastest step."""
        return self._pace(now, self.pace_step + 1)

    def more(
        self, now: float, minutes: float | None = None, *, rounds: int | None = None
    ) -> BreathingPlan:
        """Add whole breaths (those fitting `minutes`, at least one, or `rounds`) at the end.

        Unchanged once finished; while paused, the breaths are added to what resume plans.
        """
        check_amount(minutes, rounds, required=True)
        if self.finished(now):
            return self
        if self.paused_at is None:
            first, planned = self.slots[-1].cue.cycle, self.slots[-1].active
        else:
            first, planned = self.resume_cycle, self.target
        if rounds is None:
            budget = to_ticks(60 * cast(float, minutes))
            rounds = max(1, self._fit(first, 0, budget, nearest=False) - first)
        if self.by_rounds:
            plan = replace(self, target=self.target + rounds)
        else:
            plan = replace(self, target=planned + self._span(first, first + rounds))
        return plan if self.paused_at is not None else plan._replan(now)

    def pause(self, now: float) -> BreathingPlan:
        """Stop at `now`: later cues are dropped; unchanged if paused or finished."""
        if self.paused_at is not None or self.finished(now):
            return self
        past = tuple(slot for slot in self.slots if slot.cue.offset <= now)
        last = self._phase_slot(now)
        if last is None:
            return replace(self, slots=past, paused_at=now, resume_cycle=0, active_done=0)
        # By rounds, the interrupted breath is breathed again in full; by time, only what is left.
        target = self.target + 1 if self.by_rounds else self.target
        done, next_cycle = self._done_ticks(now), last.cue.cycle + 1
        return replace(
            self,
            slots=past,
            paused_at=now,
            resume_cycle=next_cycle,
            active_done=done,
            target=target,
        )

    def resume(self, now: float, lead_in: float = LEAD_IN) -> BreathingPlan:
        """Continue with a fresh breath at now + lead_in, for the time (or breaths) still owed."""
        if self.paused_at is None:
            return self
        tick = ceil_ticks(max(now, self.paused_at) + lead_in)
        tick = max(tick, self.slots[-1].tick + 1) if self.slots else tick
        first, done = self.resume_cycle, self.active_done
        end = self.target if self.by_rounds else self._fit(first, done, self.target, nearest=True)
        body = self._generate(Start(tick, done, first), max(end, first + 1))
        resumed = replace(self, paused_at=None, resume_cycle=0, active_done=0)
        return replace(resumed, slots=(*self.slots, *body))

    # --- internals --------------------------------------------------------------------

    def _phase_slot(self, now: float) -> Slot | None:
        """The phase under way at `now` (or the last one before it), if breathing has begun."""
        phases = [s for s in self.slots if s.cue.kind == "phase" and s.cue.offset <= now]
        return phases[-1] if phases else None

    def _done_ticks(self, now: float) -> int:
        if self.paused_at is not None:
            return self.active_done
        last = self._phase_slot(now)
        if last is None:
            return 0
        elapsed = math.floor(now * TICKS_PER_SECOND) - last.tick
        return last.active + min(max(0, elapsed), to_ticks(last.cue.seconds))

    def _lengths(self, cycle: int) -> tuple[int, ...]:
        return cycle_ticks(self.pattern, cycle, self.pace_step)

    def _span(self, first: int, end: int) -> int:
        """Ticks of breaths first..end-1."""
        return sum(sum(self._lengths(cycle)) for cycle in range(first, end))

    def _fit(self, cycle: int, active: int, target: int, *, nearest: bool) -> int:
        """The end breath when whole breaths from `cycle` fill `target` (or come nearest)."""
        while True:
            length = sum(self._lengths(cycle))
            room = target - active
            if (2 * room < length) if nearest else (room < length):
                return cycle
            active += length
            cycle += 1

    def _pace(self, now: float, step: int) -> PaceChange:
        if not step_allowed(self.pattern, step):
            return PaceChange(self, changed=False)
        plan = replace(self, pace_step=step)
        if self.paused_at is not None or self.finished(now):
            return PaceChange(plan, changed=True)
        return PaceChange(plan._replan(now), changed=True)

    def _replan(self, now: float) -> BreathingPlan:
        """Regenerate everything from the next phase boundary after `now` (or from the close)."""
        at = next(
            k
            for k, slot in enumerate(self.slots)
            if slot.cue.kind in ("phase", "close") and slot.cue.offset > now
        )
        slot, kept = self.slots[at], self.slots[:at]
        cycle, index = slot.cue.cycle, slot.index
        voiced: bool | None = None
        if index > 0:
            first = next(s for s in reversed(kept) if s.cue.cycle == cycle and s.index == 0)
            voiced = first.cue.voice_key is not None
        if self.by_rounds:
            end = self.target
        elif index > 0:
            rest = sum(self._lengths(cycle)[index:])
            end = self._fit(cycle + 1, slot.active + rest, self.target, nearest=True)
        else:
            end = self._fit(cycle, slot.active, self.target, nearest=True)
        start = Start(slot.tick, slot.active, cycle, index, voiced, slot.cycle_active)
        body = self._generate(start, max(end, cycle + 1 if index > 0 else 1))
        return replace(self, slots=(*kept, *body))

    def _generate(self, at: Start, end: int) -> list[Slot]:
        """Phase cues from `at` up to breath `end`, then the close cue."""
        pattern, style = self.pattern, self.style
        slots: list[Slot] = []
        tick, active = at.tick, at.active
        cycle_active = at.active if at.cycle_active is None else at.cycle_active
        for cycle in range(at.cycle, end):
            lengths = self._lengths(cycle)
            voiced = is_voiced(pattern, style, cycle, cycle_active, sum(lengths))
            if cycle == at.cycle and at.voiced is not None:
                voiced = at.voiced
            for index in range(at.index if cycle == at.cycle else 0, len(lengths)):
                phase = pattern.phases[index].name
                voice = keys.cue(phase) if voiced else None
                chime = chime_for(pattern, style, phase, cycle, voiced)
                cue = Cue(
                    tick_seconds(tick),
                    "phase",
                    phase,
                    tick_seconds(lengths[index]),
                    cycle,
                    voice,
                    chime,
                )
                slots.append(Slot(cue, tick, active, index, cycle_active))
                tick += lengths[index]
                active += lengths[index]
            following = sum(self._lengths(cycle + 1))
            fades = voiced and not is_voiced(pattern, style, cycle + 1, active, following)
            if fades and pattern.voice_seconds is not None and cycle + 1 < end:
                slots.append(self._fade_slot(slots[-1], tick))
            cycle_active = active
        chimed = style != "voice" or pattern.voice_seconds is not None
        close = Cue(
            tick_seconds(tick), "close", None, 0.0, end, pattern.close, "end" if chimed else None
        )
        slots.append(Slot(close, tick, active, 0, active))
        return slots

    def _fade_slot(self, last: Slot, end_tick: int) -> Slot:
        """The fade note, spoken inside the last voiced phase just after its cue."""
        spoken = self.speech_seconds(last.cue.voice_key) if last.cue.voice_key else 0.0
        tick = min(last.tick + ceil_ticks(spoken + FADE_GAP), end_tick - 1)
        key = keys.BREATHING_TOGETHER_FADE
        cue = Cue(tick_seconds(tick), "fade_note", None, 0.0, last.cue.cycle, key, None)
        return Slot(cue, tick, last.active, -1, last.cycle_active)


@dataclass(frozen=True)
class PaceChange:
    """The result of slower/faster."""

    plan: BreathingPlan
    """The plan to follow from now on."""
    changed: bool
    """False when already at the slowest/fastest step this pattern allows."""
