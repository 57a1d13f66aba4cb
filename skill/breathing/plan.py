"""A breathing session as a pure, exact schedule of cues (the patterns are in skill.patterns).

Nothing here reads a clock or sleeps. A plan is a list of cues at offsets (seconds from the
session start, counted on a monotonic clock); the runner sleeps until ``start + offset``.
Every change (slower, faster, pause, resume, more) takes the current offset as an argument
and returns a new plan. Phase lengths are whole multiples of 1/1024 s (``TICKS_PER_SECOND``),
so every offset is an exact binary fraction: sums never round, and a 30-minute session has
no drift at all.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, cast, get_args

from skill.breathing.patterns import MAX_HOLD, PHASE_LIMITS, Pattern, PhaseName
from skill.language import keys

if TYPE_CHECKING:
    from skill.voice.chimes import ChimeKind

Style = Literal["voice", "chime", "both", "fewer-words"]
CueKind = Literal["phase", "intro", "safety", "hold_note", "fade_note", "close"]

STYLES: Final[tuple[str, ...]] = get_args(Style)
"""Every way of marking phases."""
TICKS_PER_SECOND: Final = 1024
"""Time grid of every phase and offset; a power of two keeps all sums exact."""
PACE_STEPS: Final[Mapping[int, float]] = MappingProxyType(
    {-2: 1.16, -1: 1.08, 0: 1.0, 1: 0.92, 2: 0.85}
)
"""Pace step -> factor on every phase length; negative steps are slower, positive faster."""
LONG_SESSION: Final = 600
"""Active seconds above which the safety line is spoken."""
FEWER_WORDS_CYCLES: Final = 3
"""Breaths spoken in the fewer-words style before chimes take over."""
NOTE_GAP: Final = 1.0
"""Silence between two opening notes, in seconds."""
LEAD_IN: Final = 1.5
"""Default silence between the last spoken note and the first breath, in seconds."""
FADE_GAP: Final = 0.4
"""Silence between the last spoken cue and the fade note, in seconds."""

_CHIMES: Mapping[str, ChimeKind] = MappingProxyType(
    {"inhale": "inhale", "exhale": "exhale", "top-up": "soft"}
)


@dataclass(frozen=True)
class Cue:
    """Something to do at one moment of a session."""

    offset: float
    """Seconds of monotonic time from the session start; the runner sleeps until start + offset."""
    kind: CueKind
    """phase, intro, safety, hold_note, fade_note or close."""
    phase: PhaseName | None
    """The phase that starts here, for phase cues."""
    seconds: float
    """How long the phase lasts; 0 for other cues."""
    cycle: int
    """Breath number from 0 (for close: the number of breaths)."""
    voice_key: str | None
    """Response key to speak, or None."""
    chime: ChimeKind | None
    """Chime to play, or None."""


@dataclass(frozen=True)
class _Slot:
    """A cue plus the bookkeeping needed to re-plan from it."""

    cue: Cue
    """The cue itself."""
    tick: int
    """The offset in ticks."""
    active: int
    """Breathing ticks done before this cue (pauses and notes excluded)."""
    index: int
    """Phase index within its breath; 0 for close, -1 for notes."""
    cycle_active: int
    """Breathing ticks done when its breath started."""


@dataclass(frozen=True)
class PaceChange:
    """The result of slower/faster."""

    plan: BreathingPlan
    """The plan to follow from now on."""
    changed: bool
    """False when already at the slowest/fastest step this pattern allows."""


def estimate_speech_seconds(key: str) -> float:
    """A rough clip length for a response key; the runner should pass measured lengths."""
    return 1.0 if key.startswith("cue.") else 4.0


def _ticks(seconds: float) -> int:
    return round(seconds * TICKS_PER_SECOND)


def _ceil_ticks(seconds: float) -> int:
    return math.ceil(seconds * TICKS_PER_SECOND - 1e-6)


def _seconds(ticks: int) -> float:
    return ticks / TICKS_PER_SECOND


def _base_seconds(pattern: Pattern, cycle: int) -> tuple[float, ...]:
    """Phase lengths of one breath at the normal pace, easing along the ramp."""
    ends = tuple(p.seconds for p in pattern.phases)
    n = pattern.ramp_cycles
    if pattern.ramp is None or cycle >= n:
        return ends
    # Raised-cosine easing: the change per breath starts and ends at zero.
    f = (1 - math.cos(math.pi * cycle / n)) / 2
    return tuple(
        a.seconds + (b - a.seconds) * f for a, b in zip(pattern.ramp.start, ends, strict=True)
    )


@functools.lru_cache(maxsize=4096)
def _cycle_ticks(pattern: Pattern, cycle: int, step: int) -> tuple[int, ...]:
    factor = PACE_STEPS[step]
    return tuple(_ticks(s * factor) for s in _base_seconds(pattern, cycle))


def step_allowed(pattern: Pattern, step: int) -> bool:
    """True when every phase at this pace step stays within 1-20 s and every hold within 7 s."""
    if step not in PACE_STEPS or not pattern.paced:
        return step == 0
    factor = PACE_STEPS[step]
    breaths = [pattern.phases] + ([pattern.ramp.start] if pattern.ramp else [])
    for breath in breaths:
        for phase in breath:
            ticks = _ticks(phase.seconds * factor)
            high = MAX_HOLD if phase.name == "hold" else PHASE_LIMITS[1]
            if not _ticks(PHASE_LIMITS[0]) <= ticks <= _ticks(high):
                return False
    return True


def _voiced(pattern: Pattern, style: Style, cycle: int, cycle_active: int, length: int) -> bool:
    """Whether a breath is spoken (else marked by chimes alone, or silent)."""
    if not pattern.paced or style == "chime":
        return False
    if style == "fewer-words" and cycle >= FEWER_WORDS_CYCLES:
        return False
    limit = pattern.voice_seconds
    return limit is None or cycle == 0 or cycle_active + length <= _ticks(limit)


def _chime(
    pattern: Pattern, style: Style, phase: PhaseName, cycle: int, voiced: bool
) -> ChimeKind | None:
    if not pattern.paced:
        return "soft" if style != "voice" and cycle > 0 else None
    return None if voiced and style == "voice" else _CHIMES.get(phase)


@dataclass(frozen=True)
class _Start:
    """Where generation starts."""

    tick: int
    """Offset of the first phase, in ticks."""
    active: int
    """Breathing ticks done before it."""
    cycle: int
    """Its breath."""
    index: int = 0
    """Its phase index within the breath."""
    voiced: bool | None = None
    """Whether that breath is spoken, when it already began; None to decide afresh."""
    cycle_active: int | None = None
    """Breathing ticks done when that breath started; None when it starts here."""


@dataclass(frozen=True)
class BreathingPlan:
    """A breathing session as data; every method takes the current offset and returns a new plan."""

    pattern: Pattern
    """The pattern breathed."""
    style: Style
    """How phases are marked."""
    pace_step: int
    """Current pace step (a key of PACE_STEPS)."""
    by_rounds: bool
    """True: the length is a number of breaths; False: an amount of active time."""
    target: int
    """Breaths (by_rounds) or planned active ticks (by time) for the whole session."""
    slots: tuple[_Slot, ...]
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
        style: Style = "voice",
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
        _check_amount(minutes, rounds)
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
            wanted = _ticks(60 * (minutes if minutes is not None else pattern.default_minutes))
            end = max(1, plan._fit(0, 0, wanted, nearest=False))
            if pattern.max_rounds is not None:
                end = min(end, pattern.max_rounds)
        total = plan._span(0, end)
        by_rounds = rounds is not None or end == pattern.max_rounds
        notes: list[tuple[CueKind, str]] = [("intro", pattern.intro)]
        if pattern.paced and (pattern.has_holds or total > _ticks(LONG_SESSION)):
            notes.append(("safety", keys.BREATHING_SAFETY))
        if pattern.has_holds:
            notes.append(("hold_note", keys.BREATHING_HOLD_NOTE))
        slots: list[_Slot] = []
        tick = said = 0  # where the next note may start; where the last one ends
        for kind, key in notes:
            slots.append(_Slot(Cue(_seconds(tick), kind, None, 0.0, 0, key, None), tick, 0, -1, 0))
            said = slots[-1].tick + max(1, _ceil_ticks(speech_seconds(key)))
            tick = said + _ceil_ticks(NOTE_GAP)
        tick = said + _ceil_ticks(max(0.0, lead_in))
        plan = replace(plan, by_rounds=by_rounds, target=end if by_rounds else total)
        return replace(plan, slots=(*slots, *plan._generate(_Start(tick, 0, 0), end)))

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
            return _seconds(self.slots[-1].active)
        if self.by_rounds:
            return _seconds(self.active_done + self._span(self.resume_cycle, self.target))
        return _seconds(self.target)

    def active_elapsed(self, now: float) -> float:
        """Breathing seconds done by `now` (opening notes, pauses and lead-ins excluded)."""
        return _seconds(self._done_ticks(now))

    def finished(self, now: float) -> bool:
        """True once the close cue is due."""
        end = self.end_offset
        return end is not None and now >= end

    def cues_from(self, offset: float) -> tuple[Cue, ...]:
        """Cues at or after `offset`."""
        return tuple(slot.cue for slot in self.slots if slot.cue.offset >= offset)

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
        _check_amount(minutes, rounds, required=True)
        if self.finished(now):
            return self
        if self.paused_at is None:
            first, planned = self.slots[-1].cue.cycle, self.slots[-1].active
        else:
            first, planned = self.resume_cycle, self.target
        if rounds is None:
            budget = _ticks(60 * cast(float, minutes))
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
        tick = _ceil_ticks(max(now, self.paused_at) + lead_in)
        tick = max(tick, self.slots[-1].tick + 1) if self.slots else tick
        first, done = self.resume_cycle, self.active_done
        end = self.target if self.by_rounds else self._fit(first, done, self.target, nearest=True)
        body = self._generate(_Start(tick, done, first), max(end, first + 1))
        resumed = replace(self, paused_at=None, resume_cycle=0, active_done=0)
        return replace(resumed, slots=(*self.slots, *body))

    # --- internals --------------------------------------------------------------------

    def _phase_slot(self, now: float) -> _Slot | None:
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
        return last.active + min(max(0, elapsed), _ticks(last.cue.seconds))

    def _lengths(self, cycle: int) -> tuple[int, ...]:
        return _cycle_ticks(self.pattern, cycle, self.pace_step)

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
        start = _Start(slot.tick, slot.active, cycle, index, voiced, slot.cycle_active)
        body = self._generate(start, max(end, cycle + 1 if index > 0 else 1))
        return replace(self, slots=(*kept, *body))

    def _generate(self, at: _Start, end: int) -> list[_Slot]:
        """Phase cues from `at` up to breath `end`, then the close cue."""
        pattern, style = self.pattern, self.style
        slots: list[_Slot] = []
        tick, active = at.tick, at.active
        cycle_active = at.active if at.cycle_active is None else at.cycle_active
        for cycle in range(at.cycle, end):
            lengths = self._lengths(cycle)
            voiced = _voiced(pattern, style, cycle, cycle_active, sum(lengths))
            if cycle == at.cycle and at.voiced is not None:
                voiced = at.voiced
            for index in range(at.index if cycle == at.cycle else 0, len(lengths)):
                phase = pattern.phases[index].name
                voice = keys.cue(phase) if voiced else None
                chime = _chime(pattern, style, phase, cycle, voiced)
                cue = Cue(
                    _seconds(tick), "phase", phase, _seconds(lengths[index]), cycle, voice, chime
                )
                slots.append(_Slot(cue, tick, active, index, cycle_active))
                tick += lengths[index]
                active += lengths[index]
            following = sum(self._lengths(cycle + 1))
            fades = voiced and not _voiced(pattern, style, cycle + 1, active, following)
            if fades and pattern.voice_seconds is not None and cycle + 1 < end:
                slots.append(self._fade_slot(slots[-1], tick))
            cycle_active = active
        chimed = style != "voice" or pattern.voice_seconds is not None
        close = Cue(
            _seconds(tick), "close", None, 0.0, end, pattern.close, "end" if chimed else None
        )
        slots.append(_Slot(close, tick, active, 0, active))
        return slots

    def _fade_slot(self, last: _Slot, end_tick: int) -> _Slot:
        """The fade note, spoken inside the last voiced phase just after its cue."""
        spoken = self.speech_seconds(last.cue.voice_key) if last.cue.voice_key else 0.0
        tick = min(last.tick + _ceil_ticks(spoken + FADE_GAP), end_tick - 1)
        key = keys.BREATHING_TOGETHER_FADE
        cue = Cue(_seconds(tick), "fade_note", None, 0.0, last.cue.cycle, key, None)
        return _Slot(cue, tick, last.active, -1, last.cycle_active)


def _check_amount(minutes: float | None, rounds: int | None, *, required: bool = False) -> None:
    if minutes is not None and rounds is not None:
        raise ValueError("give minutes or rounds, not both")
    if required and minutes is None and rounds is None:
        raise ValueError("give minutes or rounds")
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"minutes must be a positive number, got {minutes!r}")
    if rounds is not None and rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds!r}")
