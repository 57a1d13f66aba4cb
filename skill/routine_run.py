"""Running a routine: one step after another, with room for replies in its silences."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from rhasspyhermes.nlu import NluIntent

from skill.clock import Clock
from skill.routines import (
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

log = logging.getLogger(__name__)

SLOW_FACTOR = 1.5
"""Silences grow by this much once someone has said they are not okay."""
QUIET_CLOSE = "routine.quiet_close"
QUIET_PREFIX = "routine.quiet_"
CHECKIN_ANSWERS = (
    "AftercareFeeling",
    "AftercareNeed",
    "AftercareQuiet",
    "AftercareNotNow",
    "AftercareAffirm",
    "AftercareStop",
)
"""What a check-in listens for (stop always works, the safeword included)."""


@dataclass
class RoutineControl:
    """What changes while a routine runs: quiet mode, pace, questions asked, replies."""

    quiet: bool = False
    """Go on without words (after "no talking", or the site's preference)."""
    silenced: bool = False
    """Someone said "no talking": not even the soft close is said."""
    slow: bool = False
    """Longer silences and no journal question (after "not okay")."""
    asked: set[str] = field(default_factory=set)
    """Check-in questions already asked: never the same one twice."""
    replies: list[str] = field(default_factory=list)
    """Replies waiting to be said at the next quiet moment."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a reply is queued, so a silence can make room for it."""

    def tell(self, text: str) -> None:
        """Queue a reply; it is said in the current silence or before the next step."""
        self.replies.append(text)
        self.wake.set()


@dataclass(frozen=True)
class RoutineTools:
    """What a running routine may do (given by the activities layer)."""

    say_key: Callable[[str], Awaitable[None]]
    """Speak a response key (one variant) and wait until it has played."""
    say_text: Callable[[str], Awaitable[None]]
    """Speak an already chosen text and wait until it has played."""
    breathe: Callable[[BreatheStep, RoutineControl], Awaitable[None]]
    """Run a breathing stretch to its end."""
    ask: Callable[[str], Awaitable[NluIntent | None]]
    """Ask a check-in question (`feeling`, `need`) and listen; the answer or None."""
    answer: Callable[[NluIntent, RoutineControl], Awaitable[None]]
    """Reply to a check-in answer (care)."""
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
        await _flush(control, tools)
        await _step(step, control, tools)
    await _flush(control, tools)


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
            await tools.say_key(QUIET_CLOSE if control.quiet else step.key)
    elif isinstance(step, SayStep) and step.key.startswith(QUIET_PREFIX) and not control.silenced:
        await tools.say_key(step.key)  # the soft lines meant for quiet mode
    elif not control.quiet:
        await _words(step, control, tools)


async def _words(step: Step, control: RoutineControl, tools: RoutineTools) -> None:
    """Steps that only speak: all of them are left out in quiet mode."""
    if isinstance(step, SayStep):
        await tools.say_key(step.key)
    elif isinstance(step, OfferStep):
        await tools.say_key(f"routine.{step.offer}")
    elif isinstance(step, CheckinStep) and step.question not in control.asked:
        control.asked.add(step.question)
        answer = await tools.ask(step.question)
        if answer is not None:
            await tools.answer(answer, control)
    elif isinstance(step, JournalStep) and not control.slow:
        await tools.say_key("routine.journal_intro")
        await tools.say_key("journal.prompt")
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
