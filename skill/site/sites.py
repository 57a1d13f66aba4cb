"""One activity per site: starts, steers and stops what runs there, and says the replies.

The router (service.py) turns MQTT messages into actions; this carries them out, on the
state and lifecycle of state.py. Each site has at most one activity (a routine, a breathing
session or the cool-down) and a few short replies; "stop" ends all of them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import assert_never

from rhasspyhermes.nlu import NluIntent

from skill.base.vocabulary import Activity
from skill.breathing.runner import BreathingControl, BreathingRunner
from skill.care.plan import Plan
from skill.care.replies import CareReply
from skill.config.settings import Config
from skill.hermes.dialogue import (
    Answer,
    Unclear,
)
from skill.language import keys, spoken
from skill.language.responses import ResponseBook, Say
from skill.room.room import Room
from skill.room.status import StatusBoard
from skill.routines.from_plan import plan_routine
from skill.routines.runner import RoutineControl, RoutineRunner, SiteHooks
from skill.site import handlers
from skill.site.actions import (
    Action,
    CancelFollowUp,
    Care,
    Caution,
    Control,
    Forget,
    MemoryAction,
    MusicOff,
    Prefer,
    Recall,
    RecallPlan,
    ScheduleFollowUp,
    Skip,
    StartBreathing,
    StartCooldown,
    StartPlanning,
    StartRoutine,
    StopAll,
)
from skill.site.checkins import CheckIns
from skill.site.memory import Memory, spoken_value
from skill.site.planning import (
    ANSWER_SECONDS,
    PLAN_ANSWERS,
    PlanningTools,
    converse,
    plan_texts,
)
from skill.site.state import SiteState
from skill.voice.output import Output

log = logging.getLogger(__name__)


class Sites(SiteState):
    """What each action does on a site: the one place that carries actions out."""

    def __init__(
        self,
        config: Config,
        *,
        responses: ResponseBook,
        output: Output,
        breathing: BreathingRunner,
        routines: RoutineRunner,
        checkins: CheckIns,
        room: Room,
        status: StatusBoard,
        memory: Memory,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(
            config, responses=responses, output=output, room=room, status=status, now=now
        )
        self._breathing = breathing
        self._routines = routines
        self._checkins = checkins
        self._memory = memory

    def decide(
        self, intent: NluIntent, context: handlers.SiteContext | None = None
    ) -> list[Action]:
        prefs = self._memory.preferences(intent.site_id)
        return handlers.decide(
            intent,
            self.config,
            frozenset(self._breathing.patterns),
            prefs,
            routines=frozenset(self._routines.routines),
            context=context,
        )

    def apply(self, site_id: str, action: Action) -> None:
        """Carry out one action on a site (an action nothing handles fails the type check)."""
        match action:
            case StopAll():
                self.halt(site_id)
                self._spawn(site_id, self.say(site_id, Say(keys.STOP_DONE)))
            case StartRoutine():
                self._start_routine(site_id, action)
            case StartBreathing():
                control = self._breathing.plan(
                    action.pattern, minutes=action.minutes, rounds=action.rounds, style=action.style
                )
                session = self._breathing.run(site_id, control, action.notices)
                self._start(
                    site_id, Activity.BREATHING, session, control, detail=control.plan.pattern.name
                )
            case StartCooldown() | StartPlanning():
                self._start_talk_or_music(site_id, action)
            case Control():
                self._spawn(site_id, self._control(site_id, action))
            case Skip():
                self._skip(site_id, action)
            case MusicOff():
                self._music_off(site_id)
            case Caution():
                self._caution(site_id)
            case Care():
                self._care(site_id, action.reply)
            case Say():
                self.reply(site_id, [action])
            case (
                Prefer()
                | Recall()
                | Forget()
                | ScheduleFollowUp()
                | CancelFollowUp()
                | RecallPlan()
            ):
                self._spawn(site_id, self._remember(site_id, action))
            case _:
                assert_never(action)

    def _start_talk_or_music(self, site_id: str, action: StartCooldown | StartPlanning) -> None:
        """The cool-down music, or the planning conversation, as the site's activity."""
        if isinstance(action, StartCooldown):
            cooldown = self._cooldown(site_id, action.playlist)
            self._start(site_id, Activity.COOLDOWN, cooldown, detail=action.playlist)
        else:
            self._start(site_id, Activity.PLANNING, self._planning(site_id))

    async def _remember(self, site_id: str, action: MemoryAction | RecallPlan) -> None:
        """A memory action, carried out off the event loop; then its reply (what is
        remembered includes the plan, before the last line on how to erase it)."""
        if isinstance(action, RecallPlan):
            plan = self._memory.preferences(site_id).plan
            texts = self._plan_texts(plan) if plan else [self._responses.pick(keys.PLAN_NONE)]
            self.reply_texts(site_id, texts)
            return
        lines = await self._memory.act(site_id, action)
        plan = self._memory.preferences(site_id).plan
        texts = [self._responses.pick(line.key, **dict(line.values)) for line in lines]
        if isinstance(action, Recall) and plan is not None and len(texts) >= 2:
            texts[-1:-1] = self._plan_texts(plan)
        self.reply_texts(site_id, texts)

    def _plan_texts(self, plan: Plan) -> list[str]:
        return plan_texts(
            plan,
            self._responses.pick,
            spoken=spoken_value,
            playlist=self.config.cooldown.playlist,
        )

    async def _planning(self, site_id: str) -> None:
        """ "Let's plan our aftercare": the questions, each listened for; then the plan."""
        playlists = spoken.alternatives(self.config.cooldown.names)

        async def ask(question: str) -> Answer | None:
            values = {"playlists": playlists} if question == "music" else {}
            key = keys.plan_ask(question)
            return await self._checkins.ask(
                site_id, key, expected=PLAN_ANSWERS, seconds=ANSWER_SECONDS, values=values
            )

        async def say_texts(texts: Sequence[str]) -> None:
            for text in texts:
                await self._output.say(site_id, text)

        async def save(plan: Plan) -> None:
            await self._memory.save_plan(site_id, plan)

        def hand_on(answer: NluIntent) -> None:
            for action in self.decide(answer):
                self.apply(site_id, action)

        tools = PlanningTools(
            ask=ask,
            say=lambda key: self.say(site_id, Say(key)),
            say_texts=say_texts,
            save=save,
            hand_on=hand_on,
            read_back=self._plan_texts,
            clock=self._routines.clock,
        )
        lights = bool(self.config.lights_for(site_id))
        questions = [q for q in keys.PLAN_QUESTIONS if q != "lights" or lights]
        await converse(questions, tools, kept=self._memory.preferences(site_id).plan)

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
        for action in self.decide(answer):
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
                self.apply(site_id, action)

    def _skip(self, site_id: str, action: Skip) -> None:
        """ "Skip", "no thanks", "not now": the routine's current step ends and it goes on;
        a breathing session on its own ends; with nothing to skip, a word saying so."""
        state = self.site(site_id)
        if state.routine is not None and not state.routine.paused:
            if state.routine.skip():
                self.reply(site_id, [Say(keys.NOTNOW_ACK)])
                return
        elif state.kind == Activity.BREATHING and self.activity(site_id):
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
        if playing and self.activity(site_id) in ("", Activity.COOLDOWN):
            self._status.set(site_id, Activity.IDLE)
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
        answer = await self._checkins.ask(site_id, keys.CAUTION_ASK)
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
        task = self._spawn(site_id, self._followup(site_id, kind))
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _followup(self, site_id: str, kind: str) -> None:
        await self._checkins.chime(site_id, "soft")
        key = keys.CHECKIN_MORNING if kind == "morning" else keys.CHECKIN_TONIGHT
        answer = await self._checkins.ask(site_id, key)
        if answer is not None:
            await self._answer(answer, RoutineControl())

    def _start_routine(self, site_id: str, action: StartRoutine) -> None:
        control = RoutineControl(quiet=action.quiet)
        state = self.site(site_id)

        def breathing(session: BreathingControl | None) -> None:
            state.breathing = session

        hooks = SiteHooks(answer=self._answer, breathing=breathing)
        planned = None
        if action.plan is not None:
            planned = plan_routine(action.plan, frozenset(self._breathing.patterns))
        work = self._routines.run(
            site_id, action.name, control, hooks, playlist=action.playlist, routine=planned
        )
        self._start(site_id, Activity.ROUTINE, work, detail=action.name)
        state.routine = control

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
