"""What runs on each site, and its lifecycle: one activity, a few replies, all stopped at once.

`Sites` (sites.py) decides what each action does; this holds the state it acts on and the
few moves every action is made of: start an activity, say a line, halt everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from skill.base.tasks import Tasks
from skill.base.vocabulary import Activity
from skill.breathing.runner import BreathingControl
from skill.care.followup import local_zone
from skill.care.replies import where_help_is
from skill.config.settings import Config
from skill.language import keys, spoken
from skill.language.responses import ResponseBook, Say
from skill.room.room import Room
from skill.room.status import StatusBoard
from skill.routines.runner import RoutineControl
from skill.site import handlers
from skill.voice.output import Output

log = logging.getLogger(__name__)


@dataclass
class Site:
    """What runs on one site right now."""

    task: asyncio.Task[None] | None = None
    """The current activity (routine, breathing, cool-down), if any."""
    kind: str = ""
    """Its kind, for logs and state."""
    breathing: BreathingControl | None = None
    """Controls of the breathing session, while one runs."""
    routine: RoutineControl | None = None
    """Controls of the routine, while one runs."""
    extras: Tasks = field(default_factory=lambda: Tasks("a reply"))
    """Short replies being spoken on this site (stopped by "stop" too)."""
    stopping: set[asyncio.Task[None]] = field(default_factory=set)
    """Activities told to stop that have not ended yet."""
    ducked: bool = False
    """A caution word paused this site and dipped its music (until resumed or stopped)."""
    asking: asyncio.Task[None] | None = None
    """The caution word's question, while it is asked and listened for."""


class SiteState:
    """Every site's state, and how an activity starts, speaks and stops on it."""

    def __init__(
        self,
        config: Config,
        *,
        responses: ResponseBook,
        output: Output,
        room: Room,
        status: StatusBoard,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        zone = local_zone(config.timezone)
        self._now = now or (lambda: datetime.now(zone))
        self._responses = responses
        self._output = output
        self._room = room
        self._status = status
        self._sites: dict[str, Site] = {}

    def __contains__(self, site_id: object) -> bool:
        return site_id in self._sites

    def __len__(self) -> int:
        return len(self._sites)

    def site(self, site_id: str) -> Site:
        """The state of one site."""
        return self._sites.setdefault(site_id, Site())

    def activity(self, site_id: str) -> str:
        """Kind of the activity running on a site ("" when idle)."""
        state = self._sites.get(site_id)
        return state.kind if state and state.task and not state.task.done() else ""

    async def idle(self, site_id: str) -> None:
        """Wait until nothing runs on a site (its activity and replies have ended)."""
        state = self.site(site_id)
        while True:
            tasks = (state.task, *state.extras, *state.stopping)
            pending = [t for t in tasks if t is not None and not t.done()]
            if not pending:
                return
            await asyncio.wait(pending)

    def context(self, site_id: str) -> handlers.SiteContext:
        """What runs on a site, for words whose meaning depends on it ("keep going")."""
        state = self.site(site_id)
        breathing = state.breathing
        left: float | None = None
        if breathing is not None and breathing.plan.end_offset is not None:
            left = breathing.plan.end_offset - breathing.now()
        return handlers.SiteContext(
            paused=state.ducked or (breathing is not None and breathing.plan.paused),
            breathing_left=left,
            offering=state.routine is not None and state.routine.offering,
        )

    def line(self, key: str) -> Say:
        """A response key with the values only the moment knows: where help is, the time."""
        needed = keys.PLACEHOLDERS.get(key, frozenset())
        values: list[tuple[str, object]] = []
        if "where" in needed:
            values.append(("where", where_help_is(self.config.emergency_number)))
        if "time" in needed:
            values.append(("time", spoken.clock_time(self._now())))
        return Say(key, tuple(values))

    def reply(self, site_id: str, lines: Sequence[Say]) -> None:
        """Say short lines without talking over anything: in a routine's or a session's gap."""
        self.reply_texts(
            site_id, [self._responses.pick(line.key, **dict(line.values)) for line in lines]
        )

    def reply_texts(self, site_id: str, texts: Sequence[str]) -> None:
        """`reply`, for lines already chosen."""
        if not texts:
            return
        text = " ".join(texts)
        state = self.site(site_id)
        if state.breathing is not None and not state.breathing.plan.paused:
            state.breathing.tell(text)
        elif state.routine is not None and not state.routine.paused:
            state.routine.tell(text)
        else:
            self._spawn(site_id, self._output.say(site_id, text))

    async def say(self, site_id: str, line: Say) -> None:
        """Speak one line from responses/ on a site."""
        text = self._responses.pick(line.key, **dict(line.values))
        await self._output.say(site_id, text)

    def _start(
        self,
        site_id: str,
        kind: Activity,
        work: Coroutine[Any, Any, None],
        control: BreathingControl | None = None,
        *,
        detail: str | None = None,
    ) -> None:
        state = self.site(site_id)
        previous = state.task
        if previous is not None and not previous.done():
            previous.cancel()

        async def run() -> None:
            if previous is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await previous
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("The %s activity failed on site %s", kind, site_id)
                await self.say(site_id, Say(keys.ERROR_GENERIC))
            finally:
                if state.task is asyncio.current_task():
                    state.breathing = None
                    state.routine = None
                    if not self._room.music_playing(site_id):
                        self._status.set(site_id, Activity.IDLE)
                    elif kind != Activity.COOLDOWN:
                        self._status.set(site_id, Activity.COOLDOWN)

        state.kind = kind
        state.breathing = control
        state.routine = None
        self._status.set(site_id, kind, detail=detail)
        state.task = asyncio.get_running_loop().create_task(run(), name=f"{kind}:{site_id}")
        # Stopped before it ever ran: close the unstarted work (no "never awaited").
        state.task.add_done_callback(lambda _task: work.close())
        log.info("Started %s on site %s", kind, site_id)

    def halt(self, site_id: str, *, music: bool = True) -> None:
        """Stop everything on a site at once: activity, replies, and music this skill started."""
        state = self.site(site_id)
        task, state.task, state.breathing, state.kind = state.task, None, None, ""
        state.routine = None
        if state.ducked:
            state.ducked = False
            self._room.unduck(site_id)
        if task is not None and not task.done():
            state.stopping.add(task)  # kept until it has really ended: a later stop cancels again
            task.add_done_callback(state.stopping.discard)
        for pending in [*state.stopping, *state.extras]:
            pending.cancel()
        self._output.hush(site_id)  # a Home Assistant site stops playing now
        if music:
            self._room.stop(site_id)
            self._status.set(site_id, Activity.IDLE)
        log.info("Stopped everything on site %s", site_id)

    def _spawn(self, site_id: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return self.site(site_id).extras.spawn(work)

    async def close(self) -> None:
        """Stop every site (without speaking) and wait until everything has ended."""
        pending: list[asyncio.Task[None]] = []
        for site_id, state in self._sites.items():
            pending.extend(t for t in (state.task, *state.extras, *state.stopping) if t)
            self.halt(site_id, music=False)  # a restart of the service leaves the music be
        await asyncio.gather(*pending, return_exceptions=True)

    def states(self) -> Mapping[str, str]:
        """Activity per known site (for tests and the demo)."""
        return {site_id: self.activity(site_id) for site_id in self._sites}
