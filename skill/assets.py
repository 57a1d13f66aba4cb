"""Everything the skill loads and checks once at startup: responses, patterns, routines, chimes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from skill.base.errors import ConfigError, DataFileError, VoiceError
from skill.breathing.grid import PACE_STEPS, estimate_speech_seconds
from skill.breathing.patterns import Pattern, load_patterns, load_user_patterns
from skill.care.replies import where_help_is
from skill.config.settings import Config
from skill.language import keys, spoken
from skill.language.responses import ResponseBook, response_path
from skill.language.second_look import SecondLook
from skill.routines.model import Routine, SayStep, load_routines, routine_names
from skill.voice.audio import wav_duration
from skill.voice.chimes import CHIME_KINDS, CHIME_RATE, chime_wav
from skill.voice.clips import ClipCache
from skill.voice.output import SENTENCE_GAP
from skill.voice.piper import Clip, Synthesizer, split_sentences
from skill.voice.worker import VoiceProcess

if TYPE_CHECKING:
    from skill.language.nlu import Recognizer

log = logging.getLogger(__name__)

PACE_FACTORS = tuple(PACE_STEPS.values())
"""Every pace a session can reach (slower and faster steps included)."""
CUE_FIT = 0.8
"""A spoken cue may last at most this share of its phase."""
STOP_KEYS = (keys.STOP_DONE, keys.CAUTION_ASK, keys.CAUTION_RESUMED)
"""Said when someone stops or pauses everything: the first clips the voice renders."""
HELP_KEYS = (keys.HELP_CALL, keys.FEELING_HURT, keys.FEELING_UNSAFE)
"""Said when someone asks for help or is hurt or unsafe: pinned in memory once rendered."""
URGENT_KEYS = STOP_KEYS + HELP_KEYS
"""Replies kept in memory for good once rendered: they must never wait on the disk."""


FIRST, URGENT, TIMED, LAST = range(4)
"""The stages of the warm-up after a start, in order (see Assets.prompts)."""


@dataclass(frozen=True)
class Prompt:
    """One sentence the voice renders ahead, and what it belongs to."""

    text: str
    """The sentence, as spoken."""
    key: str
    """Its response key (a cue's key for breathing cues)."""
    variant: int = 0
    """Which variant of the key it belongs to."""
    cue: str | None = None
    """The phase, for a breathing cue (rendered trimmed and pinned)."""
    pin: bool = False
    """Kept in memory for good."""
    note: bool = False
    """A line spoken inside breathing sessions: its length is measured for the plans."""
    stage: int = LAST
    """FIRST (the stop reply, the cues, the first lines), URGENT (the caution and help
    replies), TIMED (every other note a breathing session times) or LAST (the rest)."""


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
    pattern: str = ""
    """The pattern "start breathing" uses unless people chose another."""

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

    def first_lines(self) -> list[str]:
        """Keys said first: the usual breathing session's opening and safety lines, then
        each routine's opening line."""
        found = [keys.BREATHING_SAFETY]
        if self.pattern in self.patterns:
            found.insert(0, self.patterns[self.pattern].intro)
        for routine in self.routines.values():
            for step in routine.steps[:1]:
                if isinstance(step, SayStep) and step.key not in found:
                    found.append(step.key)
        return found

    def prompts(self, max_chars: int, values: Mapping[str, object] | None = None) -> list[Prompt]:
        """Every fixed sentence, most urgent first: the stop reply, the breathing cues, what
        the usual session and each routine say first (stage FIRST), the caution and help
        replies (URGENT), every other breathing note (TIMED), then every other line.

        Lines with placeholders are rendered only when `values` fills them all (the rest
        are said with values only the moment knows, and rendered then).
        """
        out: list[Prompt] = []
        seen: set[tuple[str, bool]] = set()

        added: set[str] = set()
        notes = frozenset(self.note_keys())

        def add(key: str, stage: int, *, pin: bool = False) -> None:
            needed = keys.PLACEHOLDERS.get(key, frozenset())
            if key in added or not needed <= (values or {}).keys():
                return
            added.add(key)
            for index, variant in enumerate(self.responses.variants(key)):
                text = variant.format(**{name: (values or {})[name] for name in needed})
                for sentence in split_sentences(text, max_chars):
                    out.append(
                        Prompt(sentence, key, index, pin=pin, note=key in notes, stage=stage)
                    )
                    seen.add((sentence, False))

        add(keys.STOP_DONE, FIRST, pin=True)
        for phase, text in self.cue_texts().items():
            out.append(Prompt(text, keys.cue(phase), cue=phase, pin=True, stage=FIRST))
        for key in self.first_lines():
            add(key, FIRST)
        for key in URGENT_KEYS:
            add(key, URGENT, pin=True)
        for key in self.note_keys():
            add(key, TIMED)
        for line in self.responses.all_texts():
            for sentence in split_sentences(line, max_chars):
                if (sentence, False) not in seen:
                    seen.add((sentence, False))
                    out.append(Prompt(sentence, ""))
        return out

    def measured(
        self, prompt: Prompt, clip: Clip, spoken: dict[tuple[str, int], float]
    ) -> str | None:
        """Note how long a rendered prompt lasts (a cue's length, and each note's longest
        variant: its sentences and the gaps between them, for the breathing plans); why a
        cue does not fit its phase, or None."""
        if prompt.cue is not None:
            self.speech[prompt.key] = clip.seconds
            return self.cue_misfit(prompt.cue, clip.seconds)
        if prompt.note:
            part = (prompt.key, prompt.variant)
            spoken[part] = spoken.get(part, 0.0) + clip.seconds + SENTENCE_GAP
            self.speech[prompt.key] = max(self.speech.get(prompt.key, 0.0), spoken[part])
        return None

    def cue_misfit(self, phase: str, seconds: float) -> str | None:
        """Why a spoken cue of this length does not fit its phase, or None when it does."""
        for pattern in self.patterns.values():
            if not pattern.paced:
                continue
            for step in pattern.phases + (pattern.ramp.start if pattern.ramp else ()):
                shortest = step.seconds * min(PACE_FACTORS)
                if step.name == phase and seconds > CUE_FIT * shortest:
                    return (
                        f"the spoken cue lasts {seconds:.2f} s, more than {CUE_FIT:.0%} of the "
                        f'{shortest:.2f} s {phase} phase of "{pattern.name}" at its fastest '
                        "pace; use a shorter cue"
                    )
        return None

    def prerender(
        self, clips: ClipCache, max_chars: int, values: Mapping[str, object] | None = None
    ) -> None:
        """Render every fixed prompt now, blocking (`aftercare check`), as the skill speaks
        them; DataFileError when a breathing cue outlasts its phase."""
        spoken: dict[tuple[str, int], float] = {}
        for prompt in self.prompts(max_chars, values):
            clip = clips.render_now(prompt.text, trim=prompt.cue is not None, pin=prompt.pin)
            misfit = self.measured(prompt, clip, spoken)
            if misfit is not None:
                raise DataFileError(str(self.responses.path), prompt.key, misfit)

    async def warm_up(
        self,
        clips: ClipCache,
        max_chars: int,
        values: Mapping[str, object] | None = None,
        *,
        done: Callable[[int], None] | None = None,
    ) -> int:
        """Bring every fixed prompt in, most urgent first, from disk or the voice (one at a
        time, so a live request waits for at most one render). A cue that outlasts its
        phase is logged and left out: its phase keeps its chime. `done(stage)` is called as
        each stage is complete (every stage, in order). Returns how many were rendered."""
        spoken: dict[tuple[str, int], float] = {}
        rendered = clips.renders
        stage = FIRST
        for prompt in self.prompts(max_chars, values):
            while stage < prompt.stage:
                if done is not None:
                    done(stage)
                stage += 1
            trim = prompt.cue is not None
            clip = await clips.clip(prompt.text, trim=trim, pin=prompt.pin)
            misfit = self.measured(prompt, clip, spoken)
            if misfit is not None:
                clips.drop(prompt.text, trim=True)
                log.error(
                    "%s: %s: %s; that phase is marked with a chime instead",
                    self.responses.path,
                    prompt.key,
                    misfit,
                )
        for rest in range(stage, LAST + 1):
            if done is not None:
                done(rest)
        return clips.renders - rendered


def prompt_values(config: Config) -> dict[str, object]:
    """Placeholder values known from the config alone, so the lines that use them can be
    rendered ahead like fixed ones: where help is, the playlists to choose from."""
    return {
        "where": where_help_is(config.emergency_number),
        "playlists": spoken.alternatives(config.cooldown.names),
    }


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
    chimes = {}
    for kind in CHIME_KINDS:
        wav = chime_wav(kind, CHIME_RATE)
        chimes[kind] = Clip(wav, wav_duration(wav))
    return Assets(
        responses=responses,
        patterns=patterns,
        routines=routines,
        chimes=chimes,
        pattern=config.breathing.pattern,
    )


def load_synthesizer(config: Config) -> Synthesizer | None:
    """The Piper voice for engine `piper` (in its own process, started when first
    needed), None for engine `hermes`.

    VoiceError when the voice's files are missing or are no model, unless voice.fallback
    is `hermes`: then a warning, and None (the caller speaks through hermes/tts/say; see
    `speaking_config`). A model that fails only when it loads fails later, the same way.
    """
    if config.voice.engine != "piper":
        return None
    try:
        return VoiceProcess(config.voice, parts=config.data_dir / "cache" / "voice")
    except VoiceError as err:
        if config.voice.fallback != "hermes":
            raise
        log.warning("%s. Speaking through hermes/tts/say instead (voice.fallback: hermes)", err)
        return None


def speaking_config(config: Config, synth: Synthesizer | None) -> Config:
    """The config as spoken: engine `hermes` when the Piper voice fell back."""
    if config.voice.engine == "piper" and synth is None:
        return replace(config, voice=replace(config.voice, engine="hermes"))
    return config


def load_recognizer(config: Config, root: Path) -> Recognizer:
    """The built-in recognizer with the config's playlists, names, words and routines.

    hassil is imported here, not at the top: a start that never recognizes text itself
    (Rhasspy or Home Assistant recognize) does not pay for it.
    """
    from skill.language.nlu import Recognizer

    return Recognizer.load(
        root / "intents",
        language=config.language,
        playlists=(config.cooldown.playlist, *config.cooldown.playlists),
        safewords=config.safewords,
        names=config.names,
        caution_words=config.caution_words,
        routines=routine_names(config.routines),
    )


def second_look(config: Config, root: Path) -> SecondLook:
    """The built-in recognizer's second look (skill.language.second_look), loaded on first use."""
    return SecondLook(lambda: load_recognizer(config, root))
