"""What runs on a site after the dialogue has ended: routines and breathing sessions."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from skill.base.clock import Clock
from skill.base.errors import ConfigError, DataFileError
from skill.breathing.patterns import Pattern, load_patterns, load_user_patterns
from skill.breathing.plan import PACE_STEPS, BreathingPlan, Cue, Style, estimate_speech_seconds
from skill.config.settings import Config
from skill.hermes.dialogue import Answer, Dialogues
from skill.language import keys
from skill.language.responses import ResponseBook, response_path
from skill.room.room import Room
from skill.room.status import StatusBoard
from skill.routines.model import BreatheStep, Routine, load_routines
from skill.routines.runner import CHECKIN_ANSWERS, RoutineControl, RoutineTools, run_routine
from skill.site.handlers import Say, StartBreathing, StartRoutine
from skill.voice.audio import wav_duration
from skill.voice.chimes import CHIME_KINDS, ChimeKind, chime_wav
from skill.voice.output import SENTENCE_GAP, Output
from skill.voice.piper import Clip, ClipCache, split_sentences

log = logging.getLogger(__name__)

CUE_FIT = 0.8
"""A spoken cue may last at most this share of its phase."""
LEAD_IN = 1.5
"""Seconds between the last introductory line and the first breath."""
RESUME_LEAD_IN = 3.0
"""Seconds from "resume" to the next breath: room for the short reply first."""
REPLY_GAP = 0.2
"""Seconds between the end of a cue and a reply spoken in the same phase."""
REPLY_PATIENCE = 3
"""After this many phases too short for a reply, it is said anyway."""
_QUIET_CHIMES: dict[str, ChimeKind] = {"inhale": "inhale", "top-up": "soft", "exhale": "exhale"}
STALE_AFTER = 0.5
"""A phase cue this late (real seconds) is dropped instead of played out of step."""
PACE_FACTORS = tuple(PACE_STEPS.values())
URGENT_KEYS = (
    keys.STOP_DONE,
    keys.HELP_CALL,
    keys.FEELING_HURT,
    keys.FEELING_UNSAFE,
    keys.CAUTION_ASK,
    keys.CAUTION_RESUMED,
)
"""Replies pinned in memory before the skill goes online: "stop", a call for help, someone
hurt or unsafe and the caution word are answered at once from the first second, even on a
first start whose background renders take minutes."""


@dataclass
class Assets:
    """Everything loaded and checked once at startup."""

    responses: ResponseBook
    """What the voice says."""
    patterns: Mapping[str, Pattern]
    """Breathing patterns (shipped and user-defined)."""
    routines: Mapping[str, Routine]
    """Aftercare routines."""
    chimes: dict[str, Clip]
    """Rendered chimes by kind."""
    speech: dict[str, float] = field(default_factory=dict)
    """Measured length of the longest variant of each pre-rendered key, in seconds."""

    def cue_texts(self) -> dict[str, str]:
        """Phase -> the spoken cue text."""
        return {phase: self.responses.variants(keys.cue(phase))[0] for phase in keys.CUE_PHASES}

    def note_keys(self) -> list[str]:
        """Keys spoken inside breathing sessions (intros, notes, closes)."""
        found = {
            keys.BREATHING_SAFETY,
            keys.BREATHING_HOLD_NOTE,
            keys.BREATHING_TOGETHER_FADE,
            keys.BREATHING_STEP_CLOSE,
        }
        for pattern in self.patterns.values():
            found |= {pattern.intro, pattern.close}
        return sorted(found)

    def speech_seconds(self, key: str) -> float:
        """How long a key takes to say (measured when pre-rendered, else estimated)."""
        return self.speech.get(key) or estimate_speech_seconds(key)

    def prerender(
        self, clips: ClipCache, max_chars: int, values: Mapping[str, object] | None = None
    ) -> None:
        """Render cues, session notes and the urgent replies now, as the skill will speak them
        (sentences of at most `max_chars`, placeholders filled from `values`); refuse to
        start when a cue outlasts its phase."""
        lengths = {
            phase: clips.render_now(text, trim=True, pin=True).seconds
            for phase, text in self.cue_texts().items()
        }
        for name, seconds in lengths.items():
            self.speech[keys.cue(name)] = seconds
        for key in self.note_keys():
            variants = self.responses.variants(key)
            self.speech[key] = max(
                sum(
                    clips.render_now(s).seconds + SENTENCE_GAP
                    for s in split_sentences(v, max_chars)
                )
                for v in variants
            )
        for key in URGENT_KEYS:
            needed = keys.PLACEHOLDERS.get(key, frozenset())
            if not needed <= (values or {}).keys():
                continue  # said with values only the moment knows: rendered when needed
            for variant in self.responses.variants(key):
                text = variant.format(**{name: (values or {})[name] for name in needed})
                for sentence in split_sentences(text, max_chars):
                    clips.render_now(sentence, pin=True)
        for pattern in self.patterns.values():
            if not pattern.paced:
                continue
            for phase in pattern.phases + (pattern.ramp.start if pattern.ramp else ()):
                shortest = phase.seconds * min(PACE_FACTORS)
                if phase.name in lengths and lengths[phase.name] > CUE_FIT * shortest:
                    raise DataFileError(
                        str(self.responses.path),
                        keys.cue(phase.name),
                        f"the spoken cue lasts {lengths[phase.name]:.2f} s, more than "
                        f"{CUE_FIT:.0%} of the {shortest:.2f} s {phase.name} phase of "
                        f'"{pattern.name}" at its fastest pace; use a shorter cue',
                    )


def load_assets(config: Config, root: Path) -> Assets:
    """Load and cross-check responses, patterns, routines and chimes."""
    responses = ResponseBook.load(response_path(root / "responses", config.language))
    user = load_user_patterns(config.breathing.patterns, config_path=config.path)
    patterns = load_patterns(user)
    if config.breathing.pattern not in patterns:
        raise ConfigError(
            config.path,
            "breathing.pattern",
            f"unknown pattern; choose one of: {', '.join(sorted(patterns))}",
        )
    routines = load_routines(
        patterns=tuple(patterns), extra=config.routines, extra_source=config.path
    )
    needed = set(keys.ALL_KEYS)
    for routine in routines.values():
        needed |= routine.response_keys()
    missing = responses.missing(sorted(needed))
    if missing:
        raise DataFileError(str(responses.path), missing[0], "missing response key")
    rate = 22050
    chimes = {}
    for kind in CHIME_KINDS:
        wav = chime_wav(kind, rate)
        chimes[kind] = Clip(wav, wav_duration(wav))
    return Assets(responses=responses, patterns=patterns, routines=routines, chimes=chimes)


@dataclass(frozen=True)
class SiteHooks:
    """How a running routine reaches back into the skill for its site."""

    answer: Callable[[Answer, RoutineControl], Awaitable[None]]
    """Reply to a check-in answer."""
    breathing: Callable[[BreathingControl | None], None]
    """A breathing stretch started (its controls) or ended (None)."""


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


class Activities:
    """Builds the long-running coroutines for a site."""

    def __init__(
        self,
        config: Config,
        assets: Assets,
        *,
        output: Output,
        clock: Clock,
        room: Room,
        status: StatusBoard,
        dialogues: Dialogues,
    ) -> None:
        self._config = config
        self._dialogues = dialogues
        self._room = room
        self._status = status
        self._assets = assets
        self._output = output
        self._clock = clock
        self._cues = assets.cue_texts()

    @property
    def pattern_names(self) -> frozenset[str]:
        """Every pattern people may ask for."""
        return frozenset(self._assets.patterns)

    @property
    def routine_names(self) -> frozenset[str]:
        """Every routine people may ask for (shipped, and added in config.yaml)."""
        return frozenset(self._assets.routines)

    async def _say(self, site_id: str, key: str, **values: object) -> None:
        await self._output.say(site_id, self._assets.responses.pick(key, **values))

    async def routine(
        self, site_id: str, request: StartRoutine, control: RoutineControl, hooks: SiteHooks
    ) -> None:
        """Run a routine step after step; silence is a step of its own."""
        routine = self._assets.routines.get(request.name) or self._assets.routines["short"]
        playlist = request.playlist or self._config.cooldown.playlist

        async def say_key(key: str) -> None:
            await self._say(site_id, key)

        async def say_text(text: str) -> None:
            await self._output.say(site_id, text)

        async def breathe(step: BreatheStep, routine_control: RoutineControl) -> None:
            style = "chime" if routine_control.quiet else step.style
            breathing = self.breathing_control(
                StartBreathing(step.pattern, step.minutes, None, style=style),
                close=keys.BREATHING_STEP_CLOSE,  # the routine has its own goodbye
            )
            breathing.quiet = routine_control.quiet
            hooks.breathing(breathing)
            try:
                await self.breathing(site_id, breathing, ())
            finally:
                hooks.breathing(None)

        async def ask(question: str) -> Answer | None:
            return await self.ask(site_id, f"checkin.{question}")

        def music(action: str) -> None:
            if action == "play":
                self._room.play(site_id, playlist)
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
            clock=self._clock,
        )
        await run_routine(routine, control, tools)

    async def ask(self, site_id: str, key: str) -> Answer | None:
        """Ask a check-in question and listen; the answer, or None when none came."""
        text = self._assets.responses.pick(key)
        if self._config.voice.engine == "piper":
            await self._output.say(site_id, text)  # our own voice, then the session only listens
            return await self._dialogues.ask(site_id, CHECKIN_ANSWERS)
        return await self._dialogues.ask(site_id, CHECKIN_ANSWERS, text=text)

    async def chime(self, site_id: str, kind: ChimeKind) -> None:
        """Play one chime and wait until it has played."""
        clip = self._assets.chimes[kind]
        await self._output.play(site_id, clip, kind="chime", text=kind, wait=True)

    def breathing_control(
        self, request: StartBreathing, *, close: str | None = None
    ) -> BreathingControl:
        """Plan a session for a request (no time passes until it runs); `close` replaces the
        pattern's closing line (inside a routine, which says its own goodbye)."""
        pattern = self._assets.patterns[request.pattern]
        if close is not None:
            pattern = dataclasses.replace(pattern, close=close)
        plan = BreathingPlan.build(
            pattern,
            minutes=request.minutes,
            rounds=request.rounds,
            style=cast(Style, request.style or self._config.breathing.style),
            lead_in=LEAD_IN,
            speech_seconds=self._assets.speech_seconds,
        )
        return BreathingControl(plan, self._clock)

    async def breathing(
        self, site_id: str, control: BreathingControl, notices: Sequence[Say]
    ) -> None:
        """Run a session: every cue at start + offset (absolute deadlines, no chained sleeps)."""
        for notice in notices:
            await self._say(site_id, notice.key, **dict(notice.values))
        lines: dict[str, str] = {}  # note key -> its line, chosen and fetched before it is due
        first = control.plan.cues_after(-1.0)[:1]
        if first and first[0].offset == 0 and first[0].voice_key and not control.quiet:
            # The opening line is due at once: the session starts when its clips are ready.
            await self._fetch(self._choose(first[0].voice_key, lines))
        control.start = self._clock.now()
        notes: set[asyncio.Task[None]] = set()
        last = -1.0
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
                        self._spawn(notes, self._fetch(text))  # read while waiting for it
                control.wake.clear()
                deadline = self._clock.deadline(control.start, cue.offset)
                if await self._clock.sleep_until(deadline, control.wake):
                    continue
                last = cue.offset
                if self._clock.now() - deadline > STALE_AFTER and cue.kind == "phase":
                    continue  # e.g. the broker was away: drop it, never bunch cues up
                self._emit(site_id, cue, notes, quiet=control.quiet, lines=lines)
                if control.replies and cue.kind == "phase" and not control.quiet:
                    await self._reply(site_id, control, cue, deadline, notes)
            await asyncio.gather(*notes)
        finally:
            for task in notes:
                task.cancel()
            self._room.breathing_ended(site_id)

    async def _reply(
        self,
        site_id: str,
        control: BreathingControl,
        cue: Cue,
        deadline: float,
        notes: set[asyncio.Task[None]],
    ) -> None:
        """Say the first waiting reply after this cue, if it fits before the next phase."""
        text = control.replies[0]
        spoken = self._output.seconds_if_ready(text)
        if spoken is None:  # never rendered inside the loop: the next cue must not wait
            self._spawn(notes, self._fetch(text))
            return
        cue_seconds = self._assets.speech_seconds(cue.voice_key) if cue.voice_key else 0.0
        needed = cue_seconds + REPLY_GAP + spoken
        control.patience += 1
        if needed > cue.seconds and control.patience < REPLY_PATIENCE:
            return
        control.replies.pop(0)
        control.patience = 0
        at = deadline + (cue_seconds + REPLY_GAP) * self._clock.scale
        self._spawn(notes, self._output.say_at(site_id, text, self._clock, at))

    def _choose(self, key: str, lines: dict[str, str]) -> str:
        """The line a note will say, chosen once, ahead of its deadline."""
        if key not in lines:
            lines[key] = self._assets.responses.pick(key)
        return lines[key]

    async def _fetch(self, text: str) -> None:
        """Bring a line's clips into memory (from disk) before it is due."""
        await self._output.seconds(text)

    def _emit(
        self,
        site_id: str,
        cue: Cue,
        notes: set[asyncio.Task[None]],
        *,
        quiet: bool = False,
        lines: dict[str, str] | None = None,
    ) -> None:
        """Publish one cue now: its chime first, then its words (a note: the line fetched)."""
        if cue.kind == "phase" and cue.phase is not None:
            self._room.breathe(site_id, cue.phase, cue.seconds)
            self._status.phase(site_id, cue.phase)
        if quiet:
            chime = cue.chime or _QUIET_CHIMES.get(cue.phase or "") if cue.kind == "phase" else None
            if chime is not None:
                clip = self._assets.chimes[chime]
                self._spawn(
                    notes, self._output.play(site_id, clip, kind="chime", text=chime, wait=False)
                )
            return
        if cue.chime is not None:
            clip = self._assets.chimes[cue.chime]
            self._spawn(
                notes, self._output.play(site_id, clip, kind="chime", text=cue.chime, wait=False)
            )
        if cue.voice_key is None:
            return
        if cue.kind == "phase" and cue.phase is not None:
            self._spawn(notes, self._output.cue(site_id, self._cues[cue.phase]))
        else:
            chosen = lines.pop(cue.voice_key, None) if lines is not None else None
            text = chosen or self._assets.responses.pick(cue.voice_key)
            at = self._clock.now()
            self._spawn(notes, self._output.say_at(site_id, text, self._clock, at))

    @staticmethod
    def _spawn(notes: set[asyncio.Task[None]], work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        notes.add(task)
        task.add_done_callback(notes.discard)
