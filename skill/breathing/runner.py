"""Runs a breathing plan on a site: every cue at start + offset, replies in the gaps.

The plan (plan.py) is pure data on an exact tick grid; this runner only waits for absolute
deadlines on the clock and publishes what is due, so nothing drifts and nothing bunches up.
It mirrors the routine runner (routines/runner.py): a control object people's words
change, and a runner that reads it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence

from skill.base.clock import Clock
from skill.base.tasks import Tasks
from skill.base.vocabulary import CueStyle
from skill.breathing.grid import Cue
from skill.breathing.patterns import Pattern
from skill.breathing.plan import LEAD_IN, BreathingPlan
from skill.language import keys
from skill.language.responses import ResponseBook, Say
from skill.room.room import Room
from skill.room.status import StatusBoard
from skill.voice.chimes import ChimeKind
from skill.voice.output import Output
from skill.voice.piper import Clip

RESUME_LEAD_IN = 3.0
"""Seconds from "resume" to the next breath: room for the short reply first."""
REPLY_GAP = 0.2
"""Seconds between the end of a cue and a reply spoken in the same phase."""
REPLY_PATIENCE = 3
"""After this many phases too short for a reply, it is said anyway."""
QUIET_CHIMES: dict[str, ChimeKind] = {"inhale": "inhale", "top-up": "soft", "exhale": "exhale"}
"""The chime that marks a phase when the voice is quiet ("no talking")."""
STALE_AFTER = 0.5
"""A phase cue this late (real seconds) is dropped instead of played out of step."""
OPENING_PATIENCE = 2.0
"""Real seconds a session waits for its opening line's clips before it starts without it.

Only a first start finds them missing (the voice still loading, on a slow board for many
seconds): the session then starts on time with chimes standing in, never minutes late."""


class BreathingControl:
    """The live controls of one breathing session (slower, faster, pause, resume, more)."""

    def __init__(self, plan: BreathingPlan, clock: Clock) -> None:
        self.plan = plan
        """The current plan; every change replaces it with a re-planned one."""
        self.clock = clock
        """Maps plan offsets to monotonic time."""
        self.start = clock.now()
        """Real monotonic time of offset 0 (set again when the session really starts)."""
        self.wake = asyncio.Event()
        """Set whenever the plan changes, so the runner re-reads it."""
        self.replies: list[str] = []
        """Short replies waiting for a gap between cues."""
        self.patience = 0
        """Phases the first waiting reply has already waited."""
        self.quiet = False
        """After "no talking": phase cues become chimes, nothing else is said."""

    def tell(self, text: str) -> None:
        """Queue a reply; the runner says it after the next cue whose phase has room."""
        self.replies.append(text)
        self.wake.set()

    def now(self) -> float:
        """Plan offset of this moment."""
        return self.clock.offset(self.start)

    def apply(self, action: str, minutes: int) -> Say | None:
        """Change the plan; the reply to speak, if any."""
        now = self.now()
        plan = self.plan
        reply: Say
        if action in ("slower", "faster"):
            change = plan.slower(now) if action == "slower" else plan.faster(now)
            self.plan = change.plan
            if action == "slower":
                reply = Say(keys.BREATHING_SLOWER if change.changed else keys.BREATHING_SLOWEST)
            else:
                reply = Say(keys.BREATHING_FASTER if change.changed else keys.BREATHING_FASTEST)
        elif action == "pause":
            if not plan.paused:
                self.plan = plan.pause(now)
            reply = Say(keys.BREATHING_PAUSED)
        elif action == "resume":
            if not plan.paused:
                return Say(keys.BREATHING_NOT_PAUSED)
            self.plan = plan.resume(now, RESUME_LEAD_IN)
            reply = Say(keys.BREATHING_RESUMED)
        elif action == "more":
            self.plan = plan.more(now, minutes)
            reply = Say(keys.breathing_more(minutes), (("minutes", minutes),))
        else:
            return None
        self.wake.set()
        return reply


class BreathingRunner:
    """Plans and runs breathing sessions on any site."""

    def __init__(
        self,
        *,
        patterns: Mapping[str, Pattern],
        responses: ResponseBook,
        cues: Mapping[str, str],
        chimes: Mapping[str, Clip],
        speech_seconds: Callable[[str], float],
        style: CueStyle,
        output: Output,
        clock: Clock,
        room: Room,
        status: StatusBoard,
    ) -> None:
        self.patterns = patterns
        """Every pattern people may ask for, by name."""
        self._responses = responses
        self._cues = cues
        self._chimes = chimes
        self._speech_seconds = speech_seconds
        self._style = style
        self._output = output
        self._clock = clock
        self._room = room
        self._status = status

    def plan(
        self,
        pattern: str,
        *,
        minutes: float | None,
        rounds: int | None,
        style: CueStyle | None = None,
        close: str | None = None,
    ) -> BreathingControl:
        """Plan a session (no time passes until it runs); `close` replaces the pattern's
        closing line (inside a routine, which says its own goodbye)."""
        chosen = self.patterns[pattern]
        if close is not None:
            chosen = dataclasses.replace(chosen, close=close)
        plan = BreathingPlan.build(
            chosen,
            minutes=minutes,
            rounds=rounds,
            style=style or self._style,
            lead_in=LEAD_IN,
            speech_seconds=self._speech_seconds,
        )
        return BreathingControl(plan, self._clock)

    async def run(self, site_id: str, control: BreathingControl, notices: Sequence[Say]) -> None:
        """Run a session: every cue at start + offset (absolute deadlines, no chained sleeps)."""
        for notice in notices:
            await self._output.say(site_id, self._responses.pick(notice.key, **dict(notice.values)))
        lines: dict[str, str] = {}  # note key -> its line, chosen and fetched before it is due
        first = control.plan.cues_after(-1.0)[:1]
        if first and first[0].offset == 0 and first[0].voice_key and not control.quiet:
            # The opening line is due at once: the session starts when its clips are ready
            # (a soft chime says it was heard, if the voice is still warming up), or
            # without it when the voice cannot say it in time.
            text = self._choose(first[0].voice_key, lines)
            if not await self._output.prepare(site_id, text, OPENING_PATIENCE):
                lines[first[0].voice_key] = ""  # an empty line: nothing said in its slot
        control.start = self._clock.now()
        notes = Tasks()
        last = -1.0
        self._output.open_stream(site_id)  # a Home Assistant site: one stream for it all
        stopped = True
        try:
            while True:
                plan = control.plan
                if plan.paused:
                    control.wake.clear()
                    await control.wake.wait()
                    continue
                pending = plan.cues_after(last)
                if not pending:
                    break
                cue = pending[0]
                if cue.kind != "phase" and cue.voice_key and cue.voice_key not in lines:
                    text = self._choose(cue.voice_key, lines)
                    if not control.quiet:
                        notes.spawn(self._fetch(text))  # read while waiting for it
                control.wake.clear()
                deadline = self._clock.deadline(control.start, cue.offset)
                if await self._clock.sleep_until(deadline, control.wake):
                    continue
                last = cue.offset
                if self._clock.now() - deadline > STALE_AFTER and cue.kind == "phase":
                    continue  # e.g. the broker was away: drop it, never bunch cues up
                self._emit(site_id, cue, notes, quiet=control.quiet, lines=lines, at=deadline)
                if control.replies and cue.kind == "phase" and not control.quiet:
                    self._reply(site_id, control, cue, deadline, notes)
            await notes.wait()
            stopped = False
        finally:
            notes.cancel()
            self._output.close_stream(site_id, stop=stopped)
            self._room.breathing_ended(site_id)

    def _reply(
        self,
        site_id: str,
        control: BreathingControl,
        cue: Cue,
        deadline: float,
        notes: Tasks,
    ) -> None:
        """Say the first waiting reply after this cue, if it fits before the next phase."""
        text = control.replies[0]
        spoken = self._output.seconds_if_ready(text)
        if spoken is None:  # never rendered inside the loop: the next cue must not wait
            notes.spawn(self._fetch(text))
            return
        cue_seconds = self._speech_seconds(cue.voice_key) if cue.voice_key else 0.0
        needed = cue_seconds + REPLY_GAP + spoken
        control.patience += 1
        if needed > cue.seconds and control.patience < REPLY_PATIENCE:
            return
        control.replies.pop(0)
        control.patience = 0
        at = deadline + (cue_seconds + REPLY_GAP) * self._clock.scale
        notes.spawn(self._output.say_at(site_id, text, self._clock, at))

    def _choose(self, key: str, lines: dict[str, str]) -> str:
        """The line a note will say, chosen once, ahead of its deadline."""
        if key not in lines:
            lines[key] = self._responses.pick(key)
        return lines[key]

    async def _fetch(self, text: str) -> None:
        """Bring a line's clips into memory (from disk) before it is due."""
        await self._output.seconds(text)

    def _chime(self, site_id: str, kind: str, at: float | None = None) -> None:
        self._output.chime(site_id, self._chimes[kind], kind, at)

    async def _in_step(self, site_id: str, phase: str, seconds: float) -> None:
        """The room and the published state follow a phase that has begun."""
        self._room.breathe(site_id, phase, seconds)
        self._status.phase(site_id, phase)

    def _emit(
        self,
        site_id: str,
        cue: Cue,
        notes: Tasks,
        *,
        quiet: bool = False,
        lines: dict[str, str] | None = None,
        at: float | None = None,
    ) -> None:
        """Publish one cue now: its chime first, then its words (a note: the line fetched).

        A phase cue whose clip is not ready (the voice still warming up after a start)
        is marked by its quiet-mode chime instead, on time: the session never waits.
        The lamp and the published phase follow in the loop's next turn, after every
        sound due at this moment: with many sites breathing in step, no cue waits behind
        other sites' lights and states.
        """
        if cue.kind == "phase" and cue.phase is not None:
            notes.spawn(self._in_step(site_id, cue.phase, cue.seconds))  # ends with the session
        if quiet:
            chime = cue.chime or QUIET_CHIMES.get(cue.phase or "") if cue.kind == "phase" else None
            if chime is not None:
                self._chime(site_id, chime, at)
            return
        if cue.chime is not None:
            self._chime(site_id, cue.chime, at)
        if cue.voice_key is None:
            return
        if cue.kind == "phase" and cue.phase is not None:
            said = self._output.cue(site_id, self._cues[cue.phase], at)
            stand_in = QUIET_CHIMES.get(cue.phase)
            if not said and cue.chime is None and stand_in is not None:
                self._chime(site_id, stand_in, at)
        else:
            chosen = lines.pop(cue.voice_key, None) if lines is not None else None
            if chosen == "":
                return  # the opening line the voice could not say in time
            text = chosen or self._responses.pick(cue.voice_key)
            notes.spawn(self._output.say_at(site_id, text, self._clock, at or self._clock.now()))
