"""Running a routine: one step after another, with room for replies in its silences."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from skill.base.clock import Clock
from skill.base.vocabulary import CueStyle, Intent
from skill.breathing.runner import BreathingControl, BreathingRunner
from skill.hermes.dialogue import Answer
from skill.language import keys
from skill.language.responses import ResponseBook
from skill.room.room import Room
from skill.routines.model import (
    BreatheStep,
    CheckinStep,
    CloseStep,
    JournalStep,
    LightsStep,
    MusicStep,
    OfferStep,
    Routine,
    SayStep,
    SilenceStep,
    Step,
)
from skill.voice.output import Output

log = logging.getLogger(__name__)

SLOW_FACTOR = 1.5
"""Silences grow by this much once someone has said they are not okay."""
CHECKIN_ANSWERS = (
    Intent.FEELING,
    Intent.NEED,
    Intent.QUIET,
    Intent.NOT_NOW,
    Intent.SKIP,
    Intent.AFFIRM,
    Intent.MUSIC_OFF,
    Intent.RESUME,
    Intent.HELP,
    Intent.CAUTION,
    Intent.STOP,
)
"""What a check-in listens for (stop, help and the traffic-light words always work)."""
LEFT_OUT_WHEN_HEAVY = frozenset({keys.ROUTINE_KIND_WORDS, keys.AFFIRM, keys.ROUTINE_FOLLOWUP_OFFER})
"""After a heavy answer: no gratitude, no affirmation, and no second offer of a check-in
(the slow-down line already named the words for one)."""
TOGETHER = "together"
"""The breathing pattern for two people: left out after a heavy answer."""
OFFERS_LEADING_TO: dict[str, type[Step]] = {
    keys.ROUTINE_BREATHE_OFFER: BreatheStep,
    keys.ROUTINE_MUSIC_OFFER: MusicStep,
}
"""Lines that offer the step right after them: declining the line declines that step too."""


@dataclass
class RoutineControl:
    """What changes while a routine runs: quiet mode, pace, questions asked, replies."""

    quiet: bool = False
    """Go on without words (after "no talking", or the site's preference)."""
    silenced: bool = False
    """Someone said "no talking": not even the soft close is said."""
    slow: bool = False
    """Longer silences and no journal question (after "not okay" or an unclear answer)."""
    heavy: bool = False
    """After a heavy answer: also no gratitude, affirmation or `together` steps."""
    notice_due: bool = False
    """The one line saying the routine has slowed down is still to be said."""
    no_music: bool = False
    """Someone said "no music": music steps are left out."""
    paused: bool = False
    """A caution word paused the routine; nothing goes on until someone says so."""
    asked: set[str] = field(default_factory=set)
    """Check-in questions already asked: never the same one twice."""
    replies: list[str] = field(default_factory=list)
    """Replies waiting to be said at the next quiet moment."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a reply is queued, so a silence can make room for it."""
    resumed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever the routine is not paused."""
    current: Step | None = None
    """The step running now, if any."""
    previous: Step | None = None
    """The step that ran before it."""
    silences: int = 0
    """Silence steps that have run to their end."""
    _notice_after: int = field(default=0, init=False, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _skip_next: type[Step] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.paused:
            self.resumed.set()

    def tell(self, text: str) -> None:
        """Queue a reply; it is said in the current silence or before the next step."""
        self.replies.append(text)
        self.wake.set()

    def slow_down(self, *, heavy: bool = True) -> None:
        """Go slower from here; after a heavy answer, say so once and leave steps out."""
        self.slow = True
        if heavy and not self.heavy:
            self.heavy = self.notice_due = True
            # Said only once a whole silence has passed: not on top of the reply.
            running = isinstance(self.current, SilenceStep)
            self._notice_after = self.silences + (1 if running else 0)

    @property
    def notice_ready(self) -> bool:
        """The slow-down line is due and a whole silence has passed since the heavy answer."""
        return self.notice_due and self.silences > self._notice_after

    def skip(self) -> bool:
        """End the current step at once (declining an offer declines what it offers too).

        False when no step is running that could be skipped.
        """
        step, task = self.current, self._task
        if step is None or task is None or task.done():
            return False
        if isinstance(step, SayStep) and step.key in OFFERS_LEADING_TO:
            self._skip_next = OFFERS_LEADING_TO[step.key]
        if isinstance(step, SayStep) and step.key == keys.ROUTINE_MUSIC_OFFER:
            self.no_music = True
        task.cancel()
        return True

    def pause(self) -> None:
        """Hold the routine where it is (a caution word): a line or a silence is cut short;
        a breathing stretch is paused by its own controls and waits."""
        self.paused = True
        self.resumed.clear()
        if not isinstance(self.current, BreatheStep) and self._task is not None:
            self._task.cancel()

    def resume(self) -> None:
        """Go on from the next step (or the paused breathing stretch)."""
        self.paused = False
        self.resumed.set()

    @property
    def offering(self) -> bool:
        """True while something is on offer: an offer line, or the step right after it
        (the quiet after "some water?", the breaths after "a few slow breaths?")."""
        if _is_offer(self.current):
            return True
        return _is_offer(self.previous) and isinstance(
            self.current, SilenceStep | BreatheStep | MusicStep
        )

    def left_out(self, step: Step) -> bool:
        """True for a step that must not run now: declined, no music, or after a heavy answer."""
        if self._skip_next is not None:
            declined, self._skip_next = self._skip_next, None
            if isinstance(step, declined):
                return True
        if isinstance(step, MusicStep) and step.action != "stop" and self.no_music:
            return True
        if not self.heavy:
            return False
        if isinstance(step, SayStep):
            return step.key in LEFT_OUT_WHEN_HEAVY
        return isinstance(step, BreatheStep) and step.pattern == TOGETHER


@dataclass(frozen=True)
class RoutineTools:
    """What a running routine may do (given by RoutineRunner)."""

    say_key: Callable[[str], Awaitable[None]]
    """Speak a response key (one variant) and wait until it has played."""
    say_text: Callable[[str], Awaitable[None]]
    """Speak an already chosen text and wait until it has played."""
    breathe: Callable[[BreatheStep, RoutineControl], Awaitable[None]]
    """Run a breathing stretch to its end."""
    ask: Callable[[str], Awaitable[Answer | None]]
    """Ask a check-in question (`feeling`, `need`) and listen; the answer or None."""
    answer: Callable[[Answer, RoutineControl], Awaitable[None]]
    """Reply to a check-in answer (care), or to one heard but not understood."""
    music: Callable[[str], None]
    """`play` or `stop` the cool-down music."""
    lights: Callable[[str], None]
    """`scene` or `restore` the lights."""
    clock: Clock
    """Plan time."""


async def run_routine(routine: Routine, control: RoutineControl, tools: RoutineTools) -> None:
    """Run every step in order; replies queued meanwhile are said in the quiet moments."""
    log.info("Routine %s: %d steps", routine.name, len(routine.steps))
    for step in routine.steps:
        await _between(control, tools, step)
        if not control.left_out(step):
            await _run_step(step, control, tools)
    await _between(control, tools, None)


async def _between(control: RoutineControl, tools: RoutineTools, following: Step | None) -> None:
    """Between two steps: waiting replies, a caution pause, and the one slow-down line, which
    waits until a silence has passed (a heavy answer's reply is never followed at once)."""
    while True:
        await _flush(control, tools)
        if control.paused:
            await control.resumed.wait()
        elif control.notice_due and (
            # after a whole silence, or before the goodbye at the latest
            (control.notice_ready and not isinstance(following, SilenceStep))
            or following is None
            or isinstance(following, CloseStep)
        ):
            control.notice_due = False
            if not control.silenced:
                await tools.say_key(keys.ROUTINE_SLOW_DOWN)
        else:
            return


async def _run_step(step: Step, control: RoutineControl, tools: RoutineTools) -> None:
    """One step as a task of its own, so "skip" or a caution word can end just this step."""
    task = asyncio.ensure_future(_step(step, control, tools))
    control.current, control._task = step, task
    try:
        await task
        if isinstance(step, SilenceStep):
            control.silences += 1
    except asyncio.CancelledError:
        me = asyncio.current_task()
        if me is not None and me.cancelling():
            raise  # the routine itself is being stopped
        log.info("Routine step %s ended early", type(step).__name__)
    finally:
        control.current, control._task, control.previous = None, None, step


def _is_offer(step: Step | None) -> bool:
    return isinstance(step, OfferStep) or (
        isinstance(step, SayStep) and step.key in OFFERS_LEADING_TO
    )


async def _flush(control: RoutineControl, tools: RoutineTools) -> None:
    while control.replies:
        await tools.say_text(control.replies.pop(0))


async def _step(step: Step, control: RoutineControl, tools: RoutineTools) -> None:
    if isinstance(step, SilenceStep):
        await _silence(step.seconds * (SLOW_FACTOR if control.slow else 1.0), control, tools)
    elif isinstance(step, BreatheStep):
        await tools.breathe(step, control)
    elif isinstance(step, MusicStep):
        tools.music(step.action)
    elif isinstance(step, LightsStep):
        tools.lights(step.action)
    elif isinstance(step, CloseStep):
        if not control.silenced:
            await tools.say_key(keys.ROUTINE_QUIET_CLOSE if control.quiet else step.key)
    elif isinstance(step, SayStep) and keys.is_quiet_line(step.key) and not control.silenced:
        await tools.say_key(step.key)  # the soft lines meant for quiet mode
    elif not control.quiet:
        await _words(step, control, tools)


async def _words(step: Step, control: RoutineControl, tools: RoutineTools) -> None:
    """Steps that only speak: all of them are left out in quiet mode."""
    if isinstance(step, SayStep):
        await tools.say_key(step.key)
    elif isinstance(step, OfferStep):
        await tools.say_key(keys.offer(step.offer))
    elif isinstance(step, CheckinStep) and step.question not in control.asked:
        control.asked.add(step.question)
        answer = await tools.ask(step.question)
        if answer is not None:
            await tools.answer(answer, control)
    elif isinstance(step, JournalStep) and not control.slow:
        await tools.say_key(keys.ROUTINE_JOURNAL_INTRO)
        await tools.say_key(keys.JOURNAL_PROMPT)
        await _silence(step.seconds, control, tools)


async def _silence(seconds: float, control: RoutineControl, tools: RoutineTools) -> None:
    """Quiet time on an absolute deadline; queued replies are said inside it."""
    clock = tools.clock
    deadline = clock.deadline(clock.now(), seconds)
    while True:
        control.wake.clear()
        if control.replies:
            await _flush(control, tools)
            continue
        if not await clock.sleep_until(deadline, control.wake):
            return


@dataclass(frozen=True)
class SiteHooks:
    """How a running routine reaches back into the skill for its site."""

    answer: Callable[[Answer, RoutineControl], Awaitable[None]]
    """Reply to a check-in answer."""
    breathing: Callable[[BreathingControl | None], None]
    """A breathing stretch started (its controls) or ended (None)."""


class RoutineRunner:
    """Runs routines on any site: their words, breathing stretches, check-ins, music, lights."""

    def __init__(
        self,
        *,
        routines: Mapping[str, Routine],
        responses: ResponseBook,
        breathing: BreathingRunner,
        ask: Callable[[str, str], Awaitable[Answer | None]],
        output: Output,
        room: Room,
        clock: Clock,
        playlist: str,
    ) -> None:
        self.routines = routines
        """Every routine people may ask for (shipped, and added in config.yaml), by name."""
        self._responses = responses
        self._breathing = breathing
        self._ask = ask
        self._output = output
        self._room = room
        self.clock = clock
        """Plan time (also the planning conversation's)."""
        self._playlist = playlist

    async def run(
        self,
        site_id: str,
        name: str,
        control: RoutineControl,
        hooks: SiteHooks,
        *,
        playlist: str | None = None,
        routine: Routine | None = None,
    ) -> None:
        """Run a routine step after step (`routine`, or the one named); silence is a step
        of its own."""
        routine = routine or self.routines.get(name) or self.routines["short"]
        music_list = playlist or self._playlist

        async def say_key(key: str) -> None:
            await self._output.say(site_id, self._responses.pick(key))

        async def say_text(text: str) -> None:
            await self._output.say(site_id, text)

        async def breathe(step: BreatheStep, routine_control: RoutineControl) -> None:
            breathing = self._breathing.plan(
                step.pattern,
                minutes=step.minutes,
                rounds=None,
                style=CueStyle.CHIME if routine_control.quiet else step.style,
                close=keys.BREATHING_STEP_CLOSE,  # the routine has its own goodbye
            )
            breathing.quiet = routine_control.quiet
            hooks.breathing(breathing)
            try:
                await self._breathing.run(site_id, breathing, ())
            finally:
                hooks.breathing(None)

        async def ask(question: str) -> Answer | None:
            return await self._ask(site_id, keys.checkin(question))

        def music(action: str) -> None:
            if action in ("play", "soft"):
                self._room.play(site_id, music_list, soft=action == "soft")
            else:
                self._room.stop_music(site_id)

        def lights(action: str) -> None:
            if action == "scene":
                self._room.scene(site_id)
            else:
                self._room.restore(site_id)

        tools = RoutineTools(
            say_key=say_key,
            say_text=say_text,
            breathe=breathe,
            ask=ask,
            answer=hooks.answer,
            music=music,
            lights=lights,
            clock=self.clock,
        )
        await run_routine(routine, control, tools)
