"""Everything the skill loads and checks once at startup: responses, patterns, routines, chimes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from skill.base.errors import ConfigError, DataFileError
from skill.breathing.grid import PACE_STEPS, estimate_speech_seconds
from skill.breathing.patterns import Pattern, load_patterns, load_user_patterns
from skill.config.settings import Config
from skill.language import keys
from skill.language.responses import ResponseBook, response_path
from skill.routines.model import Routine, load_routines
from skill.voice.audio import wav_duration
from skill.voice.chimes import CHIME_KINDS, CHIME_RATE, chime_wav
from skill.voice.output import SENTENCE_GAP
from skill.voice.piper import Clip, ClipCache, split_sentences

PACE_FACTORS = tuple(PACE_STEPS.values())
"""Every pace a session can reach (slower and faster steps included)."""
CUE_FIT = 0.8
"""A spoken cue may last at most this share of its phase."""
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
    chimes = {}
    for kind in CHIME_KINDS:
        wav = chime_wav(kind, CHIME_RATE)
        chimes[kind] = Clip(wav, wav_duration(wav))
    return Assets(responses=responses, patterns=patterns, routines=routines, chimes=chimes)
