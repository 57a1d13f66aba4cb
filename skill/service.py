"""The skill: routes MQTT messages to pure handlers and runs one activity per site."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rhasspyhermes.nlu import NluIntent

from skill.care.followup import local_zone
from skill.care.replies import CareReply, where_help_is
from skill.config.settings import Config
from skill.hermes.dialogue import (
    SESSION_ENDED,
    SESSION_STARTED,
    Answer,
    Dialogues,
    Unclear,
    parse_session_event,
)
from skill.hermes.messages import (
    PLAY_FINISHED_ALL_SITES,
    SAY_FINISHED_TOPIC,
    BadMessage,
    Outgoing,
    end_session,
    intent_topic,
    parse_intent,
    parse_play_finished,
    parse_say_finished,
)
from skill.hermes.mqtt import Incoming
from skill.language import keys, spoken
from skill.language.responses import ResponseBook
from skill.room.homeassistant import Activity, parse_command
from skill.room.room import Room
from skill.room.status import StatusBoard
from skill.routines.runner import RoutineControl
from skill.site import handlers
from skill.site.activities import Activities, BreathingControl, SiteHooks
from skill.site.handlers import (
    Action,
    Care,
    Caution,
    Control,
    MusicOff,
    Say,
    Skip,
    StartBreathing,
    StartCooldown,
    StartRoutine,
    StopAll,
)
from skill.site.memory import Memory
from skill.voice.output import Output

log = logging.getLogger(__name__)

OPEN_SITES_MAX = 32
"""With no `sites` list, the most site ids served: a home has a few satellites, and without
a bound any client on the broker could grow the skill's memory one made-up site at a time."""


class ProblemLog:
    """Logs each kind of bad input once, then at most once a minute with a count."""

    def __init__(self, interval: float = 60.0) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def report(self, kind: str, where: str) -> None:
        """Note one dropped message of this kind."""
        self._counts[kind] = self._counts.get(kind, 0) + 1
        now = time.monotonic()
        last = self._last.get(kind)
        if last is None or now - last >= self._interval:
            self._last[kind] = now
            log.warning(
                "Dropped a malformed message on %s (%s); %d so far",
                where,
                kind,
                self._counts[kind],
            )

    def count(self, kind: str) -> int:
        """How many messages of this kind were dropped."""
        return self._counts.get(kind, 0)


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
    extras: set[asyncio.Task[None]] = field(default_factory=set)
    """Short replies being spoken on this site (stopped by "stop" too)."""
    stopping: set[asyncio.Task[None]] = field(default_factory=set)
    """Activities told to stop that have not ended yet."""
    ducked: bool = False
    """A caution word paused this site and dipped its music (until resumed or stopped)."""
    asking: asyncio.Task[None] | None = None
    """The caution word's question, while it is asked and listened for."""


class Skill:
    """Handles intents for every allowed site; one activity per site."""

    def __init__(
        self,
        config: Config,
        *,
        responses: ResponseBook,
        output: Output,
        activities: Activities,
        room: Room,
        status: StatusBoard,
        dialogues: Dialogues,
        memory: Memory,
        publish: Callable[[Outgoing], None],
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        zone = local_zone(config.timezone)
        self._now = now or (lambda: datetime.now(zone))
        self._responses = responses
        self._output = output
        self._activities = activities
        self._room = room
        self._status = status
        self.room = room
        """Music and lights."""
        self.status = status
        """Published per-site state."""
        self._dialogues = dialogues
        self._memory = memory
        self._publish = publish
        self._sites: dict[str, Site] = {}
        self._crowded = False
        self.problems = ProblemLog()
        """Rate-limited log of dropped messages."""

    def subscriptions(self) -> list[str]:
        """Topics the skill listens on."""
        topics = [intent_topic(name) for name in handlers.INTENTS]
        return [
            *topics,
            PLAY_FINISHED_ALL_SITES,
            SAY_FINISHED_TOPIC,
            SESSION_STARTED,
            SESSION_ENDED,
            *self._status.subscriptions(),
        ]

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

    # Incoming messages (called on the event loop).

    def on_message(self, message: Incoming) -> None:
        """Route one MQTT message; bad ones are dropped and logged once."""
        try:
            if message.topic.startswith("hermes/intent/"):
                if message.retain:
                    self.problems.report("retained_intent", "hermes/intent")
                    return
                self._on_intent(parse_intent(message.topic, message.payload))
            elif message.topic == SAY_FINISHED_TOPIC:
                self._output.finished(parse_say_finished(message.payload))
            elif message.topic == SESSION_STARTED:
                self._dialogues.session_started(parse_session_event(message.payload))
            elif message.topic == SESSION_ENDED:
                self._dialogues.session_ended(parse_session_event(message.payload))
            elif message.topic.endswith("/playFinished"):
                self._output.finished(parse_play_finished(message.payload))
            elif self._status.is_birth(message.topic):
                if message.payload == b"online":
                    self._status.announce()  # Home Assistant restarted: discovery again
            elif not message.retain:
                self._on_command(message)
        except BadMessage as err:
            self.problems.report(err.kind, message.topic.split("/", 2)[1] or "?")
        except Exception:  # the boundary: the service keeps serving whatever happens
            log.exception("Unexpected error while handling a message; it was dropped")

    def _admitted(self, site_id: str) -> bool:
        """True for a site in `sites`; with no list, for the first OPEN_SITES_MAX heard."""
        if self.config.sites:
            return self.config.site_allowed(site_id)
        if site_id in self._sites or len(self._sites) < OPEN_SITES_MAX:
            return True
        if not self._crowded:
            self._crowded = True
            log.warning(
                "Heard from more than %d sites and config.yaml has no `sites` list: "
                "new sites are ignored; list the site ids of your satellites in `sites`",
                OPEN_SITES_MAX,
            )
        return False

    def _on_command(self, message: Incoming) -> None:
        """A Home Assistant button (or any client) on <prefix>/<site>/command."""
        parsed = parse_command(
            message.topic, message.payload, topic_prefix=self.config.mqtt.topic_prefix
        )
        if parsed is None:
            self.problems.report("bad_command", "command")
            return
        site_id, command = parsed
        if not self._admitted(site_id):
            return
        log.info("Button %s on site %s", command, site_id)
        for action in handlers.from_button(command, self.config):
            self._apply(site_id, action)

    def _on_intent(self, intent: NluIntent) -> None:
        site_id = intent.site_id
        if not self._admitted(site_id):
            log.debug("Ignoring an intent from a site outside `sites`")
            return
        name = intent.intent.intent_name
        log.info("Intent %s on site %s", name, site_id)
        log.debug("Slots: %s", [(s.slot_name, s.value) for s in intent.slots or []])
        if intent.session_id:
            # Answer at once: the dialogue manager's 30 s time-out must never be hit.
            self._publish(end_session(intent.session_id))
        if intent.intent.confidence_score < self.config.min_confidence:
            # Rhasspy's fuzzy matching skipped words it did not know ("red wine or white
            # wine" as "red"): not meant for us. Inside a check-in it was still an answer.
            log.info("Ignoring %s on site %s: recognized only in part", name, site_id)
            self._dialogues.unclear(intent)
            return
        if self._dialogues.answer(intent) and name != handlers.STOP:
            return  # the routine that asked takes it from here (a stop still stops it)
        for action in self._decide(intent, self.context(site_id)):
            self._apply(site_id, action)

    def _decide(
        self, intent: NluIntent, context: handlers.SiteContext | None = None
    ) -> list[Action]:
        prefs = self._memory.preferences(intent.site_id)
        return handlers.decide(
            intent,
            self.config,
            self._activities.pattern_names,
            prefs,
            routines=self._activities.routine_names,
            context=context,
        )

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

    # Actions.

    def _apply(self, site_id: str, action: Action) -> None:
        if isinstance(action, StopAll):
            self.halt(site_id)
            self._spawn(site_id, self.say(site_id, Say(keys.STOP_DONE)))
        elif isinstance(action, StartRoutine):
            self._start_routine(site_id, action)
        elif isinstance(action, StartBreathing):
            control = self._activities.breathing_control(action)
            session = self._activities.breathing(site_id, control, action.notices)
            self._start(site_id, "breathing", session, control, detail=control.plan.pattern.name)
        elif isinstance(action, StartCooldown):
            cooldown = self._cooldown(site_id, action.playlist)
            self._start(site_id, "cooldown", cooldown, detail=action.playlist)
        elif isinstance(action, Control):
            self._spawn(site_id, self._control(site_id, action))
        elif isinstance(action, Skip):
            self._skip(site_id, action)
        elif isinstance(action, MusicOff):
            self._music_off(site_id)
        elif isinstance(action, Caution):
            self._caution(site_id)
        elif isinstance(action, Care):
            self._care(site_id, action.reply)
        elif isinstance(action, Say):
            self.reply(site_id, [action])
        else:
            self.reply(site_id, self._memory.act(site_id, action))

    def reply(self, site_id: str, lines: Sequence[Say]) -> None:
        """Say short lines without talking over anything: in a routine's or a session's gap."""
        if not lines:
            return
        text = " ".join(self._responses.pick(line.key, **dict(line.values)) for line in lines)
        state = self.site(site_id)
        if state.breathing is not None and not state.breathing.plan.paused:
            state.breathing.tell(text)
        elif state.routine is not None and not state.routine.paused:
            state.routine.tell(text)
        else:
            self._spawn(site_id, self._output.say(site_id, text))

    def _care(self, site_id: str, reply: CareReply, routine: RoutineControl | None = None) -> None:
        """Apply a feeling or need: stop, slow down, go quiet, run the need's device action."""
        state = self.site(site_id)
        if reply.stop:
            self.halt(site_id)  # someone may be hurt or unsafe: everything stops, then plain lines
        routine = routine or state.routine
        if reply.slow_down and routine is not None:
            routine.slow_down()
        if reply.quiet:
            if routine is not None:
                routine.quiet = routine.silenced = True
            if state.breathing is not None:
                state.breathing.quiet = True
        if reply.need:
            self._room.need(site_id, reply.need)
        if reply.lines:
            self.reply(site_id, [self.line(key) for key in reply.lines])

    async def _answer(self, answer: Answer, control: RoutineControl) -> None:
        """A check-in was answered: reply now, in the routine's own turn."""
        site_id = answer.site_id
        if isinstance(answer, Unclear):
            # Heard, not understood: thank them, and go on more gently (never ask again).
            control.slow_down(heavy=False)
            await self.say(site_id, Say(keys.CHECKIN_UNCLEAR))
            return
        for action in self._decide(answer):
            if isinstance(action, Care) and action.reply.stop:
                self._care(site_id, action.reply)  # stops this routine too; the lines still come
                return
            if isinstance(action, Care):
                self._care(site_id, dataclasses.replace(action.reply, lines=()), control)
                for key in action.reply.lines:
                    await self.say(site_id, self.line(key))
            elif isinstance(action, Say):
                await self.say(site_id, action)
            elif isinstance(action, Skip):
                await self.say(site_id, Say(keys.NOTNOW_ACK))  # a declined question
            elif isinstance(action, Control) and action.action == "resume" and control.paused:
                self._resume(site_id)
            elif isinstance(action, MusicOff | Caution):
                self._apply(site_id, action)

    def _skip(self, site_id: str, action: Skip) -> None:
        """ "Skip", "no thanks", "not now": the routine's current step ends and it goes on;
        a breathing session on its own ends; with nothing to skip, a word saying so."""
        state = self.site(site_id)
        if state.routine is not None and not state.routine.paused:
            if state.routine.skip():
                self.reply(site_id, [Say(keys.NOTNOW_ACK)])
                return
        elif state.kind == "breathing" and self.activity(site_id):
            self.halt(site_id, music=False)
            self._spawn(site_id, self.say(site_id, Say(keys.NOTNOW_ACK)))
            return
        if action.said == "skip":
            self.reply(site_id, [Say(keys.SKIP_NOTHING)])

    def _music_off(self, site_id: str) -> None:
        """Only the music: it fades out, a routine plays none later; everything else goes on."""
        state = self.site(site_id)
        if state.routine is not None:
            state.routine.no_music = True
        playing = self._room.music_playing(site_id)
        self._room.stop_music(site_id)
        if playing and self.activity(site_id) in ("", "cooldown"):
            self._status.set(site_id, "idle")
        self.reply(site_id, [Say(keys.MUSIC_OFF)])

    def _caution(self, site_id: str) -> None:
        """A caution word: speech and cues pause at once, the music dips, one question listens.

        Nothing goes on until someone says "carry on" or "resume".
        """
        state = self.site(site_id)
        for task in list(state.extras):
            task.cancel()  # a reply being spoken stops within its clip
        if state.breathing is not None and not state.breathing.plan.paused:
            state.breathing.apply("pause", 0)
            self._status.phase(site_id, None, paused=True)
        if state.routine is not None:
            state.routine.pause()
        if not state.ducked:
            state.ducked = True
            self._room.duck(site_id)
        log.info("Caution on site %s: paused, asking how everyone is", site_id)
        if state.asking is not None:
            state.asking.cancel()
        state.asking = self._spawn(site_id, self._caution_ask(site_id))

    async def _caution_ask(self, site_id: str) -> None:
        answer = await self._activities.ask(site_id, keys.CAUTION_ASK)
        state = self.site(site_id)
        control = state.routine or RoutineControl(paused=True)
        if answer is not None:
            await self._answer(answer, control)
        if self._paused(site_id) and not (control.heavy or isinstance(answer, Unclear)):
            await self.say(site_id, Say(keys.CAUTION_WAITING))

    def _paused(self, site_id: str) -> bool:
        """True while a caution word holds this site (until "carry on", "stop" or "help")."""
        return self.site(site_id).ducked

    def _resume(self, site_id: str) -> None:
        """Go on after a caution word: the routine, its breathing and the music; the short
        reply comes first (in the breathing's lead-in, or before the routine's next step)."""
        state = self.site(site_id)
        if state.ducked:
            state.ducked = False
            self._room.unduck(site_id)
        if state.asking is not None and state.asking is not asyncio.current_task():
            state.asking.cancel()  # the question, if still listening, is closed
        text = self._responses.pick(keys.CAUTION_RESUMED)
        breathing = state.breathing
        if breathing is not None and breathing.plan.paused:
            breathing.apply("resume", 0)
            self._status.phase(site_id, None, paused=False)
            self._spawn(site_id, self._output.say(site_id, text))
            if state.routine is not None:
                state.routine.resume()
        elif state.routine is not None:
            state.routine.tell(text)  # said before the next step
            state.routine.resume()
        else:
            self._spawn(site_id, self._output.say(site_id, text))

    async def deliver_followup(self, site_id: str, kind: str) -> None:
        """A check-in people asked for earlier: a soft chime, one question, listening."""
        if not self._admitted(site_id):
            return
        task = self._spawn(site_id, self._followup(site_id, kind))
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _followup(self, site_id: str, kind: str) -> None:
        await self._activities.chime(site_id, "soft")
        key = keys.CHECKIN_MORNING if kind == "morning" else keys.CHECKIN_EVENING
        answer = await self._activities.ask(site_id, key)
        if answer is not None:
            await self._answer(answer, RoutineControl())

    def _start_routine(self, site_id: str, action: StartRoutine) -> None:
        control = RoutineControl(quiet=action.quiet)
        state = self.site(site_id)

        def breathing(session: BreathingControl | None) -> None:
            state.breathing = session

        hooks = SiteHooks(answer=self._answer, breathing=breathing)
        work = self._activities.routine(site_id, action, control, hooks)
        self._start(site_id, "routine", work, detail=action.name)
        state.routine = control

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
                        self._status.set(site_id, "idle")
                    elif kind != "cooldown":
                        self._status.set(site_id, "cooldown")

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
        if music:
            self._room.stop(site_id)
            self._status.set(site_id, "idle")
        log.info("Stopped everything on site %s", site_id)

    async def say(self, site_id: str, line: Say) -> None:
        """Speak one line from responses/ on a site."""
        text = self._responses.pick(line.key, **dict(line.values))
        await self._output.say(site_id, text)

    async def _cooldown(self, site_id: str, playlist: str) -> None:
        if not self._room.play(site_id, playlist):
            await self.say(site_id, Say(keys.COOLDOWN_NO_PLAYER))
            return
        self._room.scene(site_id)
        await self.say(site_id, Say(keys.COOLDOWN_START))

    async def _control(self, site_id: str, action: Control) -> None:
        if action.action == "resume" and self._paused(site_id):
            self._resume(site_id)  # after a caution word: everything goes on, one reply
            return
        control = self.site(site_id).breathing
        lines = list(action.notices)
        if control is None:
            lines.append(Say(keys.BREATHING_NOT_RUNNING))
        else:
            reply = control.apply(action.action, action.minutes)
            if reply is not None:
                lines.append(reply)
        if control is not None:
            self._status.phase(site_id, None, paused=control.plan.paused)
        text = " ".join(self._responses.pick(line.key, **dict(line.values)) for line in lines)
        if control is not None and not control.plan.paused and action.action != "resume":
            control.tell(text)  # the runner speaks it in a gap between cues
        else:
            await self._output.say(site_id, text)

    def _spawn(self, site_id: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        extras = self.site(site_id).extras
        extras.add(task)
        task.add_done_callback(extras.discard)
        task.add_done_callback(_log_failure)
        return task

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


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("A background step failed", exc_info=task.exception())
