"""The Piper voice in a process of its own, at a lower CPU priority than the skill.

Loading onnxruntime and creating its session hold Python's GIL for tens of milliseconds at
a time; in the skill's own process that would hold up the event loop, and so a breathing
cue. In a child process the voice shares nothing with the loop but the cores, and there
the scheduler decides: the child runs at nice +10, so it only gets what timing leaves over.

The child is started when the voice is first needed (after `online`), reads sentences on
its stdin and answers each with a WAV on its stdout; it ends when the skill closes its
stdin, or when the skill dies (its stdin then reaches end of file).

Frames: a request is a 4-byte big-endian length and the UTF-8 sentence; an answer is one
byte (`O` for a WAV, `E` for an error message), a 4-byte length, and the bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, BinaryIO

from skill.base.errors import VoiceError
from skill.config.settings import VoiceSettings
from skill.voice.piper import PiperSynthesizer

log = logging.getLogger(__name__)

VOICE_NICE = 10
"""How much lower the voice's CPU priority is than the rest of the skill: its process,
and the thread in the skill that waits for it and trims its clips (voice/clips.py).

At +10 the scheduler gives the event loop about nine tenths of a contended core and wakes
it first, so renders only use what timing leaves over. (Linux keeps a nice value per
thread, so lowering this thread's leaves the event loop's as it was.)"""


def lower_priority(steps: int = VOICE_NICE) -> None:
    """Lower the calling thread's CPU priority by `steps` (Linux; elsewhere a no-op)."""
    try:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + steps))
    except (AttributeError, OSError) as err:  # not Linux, or not allowed: renders still work
        log.debug("Could not lower the voice thread's priority: %s", err)


CLOSE_WAIT = 5.0
"""Seconds the voice process gets to end by itself once its stdin is closed."""
_HEADER = struct.Struct(">I")
_ANSWER = struct.Struct(">cI")


class VoiceProcess:
    """A Synthesizer whose voice runs in a child process (see the module's docstring).

    Constructing it checks the files in this process (milliseconds; the same errors as
    PiperSynthesizer) and starts nothing; `load()` starts the child and waits until its
    voice is loaded, raising VoiceError with the child's message when it cannot load.
    """

    def __init__(
        self, settings: VoiceSettings, *, nice: int = VOICE_NICE, parts: Path | None = None
    ) -> None:
        """`parts`: the folder where the voice keeps its split model (voice/split.py)."""
        probe = PiperSynthesizer(settings)  # checks only: the model is never loaded here
        self.identity = probe.identity
        self.sample_rate = probe.sample_rate
        self._settings = settings
        self._nice = nice
        self._parts = parts
        self._child: subprocess.Popen[bytes] | None = None
        self._failed: VoiceError | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The child's process id, once started (for memory figures)."""
        return self._child.pid if self._child is not None else None

    def load(self) -> None:
        """Start the child and wait until its voice is loaded (blocking, about a second)."""
        with self._lock:
            self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._failed is not None:
            raise self._failed
        if self._child is not None and self._child.poll() is None:
            return self._child
        settings = json.dumps(dataclasses.asdict(self._settings))
        child = subprocess.Popen(
            [
                sys.executable,
                *("-m", "skill.voice.worker", settings, str(self._nice)),
                *([] if self._parts is None else [str(self._parts)]),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": _import_path()},
        )
        self._child = child
        try:
            _read_answer(child)  # the child says once that it is ready
        except VoiceError as err:
            self._failed = err
            self._stop(child)
            raise
        return child

    def synthesize(self, sentence: str) -> bytes:
        """Render one sentence to a complete WAV file in the child (starting it if needed)."""
        with self._lock:
            child = self._start()
            assert child.stdin is not None
            data = sentence.encode("utf-8")
            try:
                child.stdin.write(_HEADER.pack(len(data)) + data)
                child.stdin.flush()
            except OSError as err:
                raise VoiceError(f"the voice process has ended ({err})") from err
            return _read_answer(child)

    def close(self) -> None:
        """End the child: close its stdin and wait for it (killed if it does not end)."""
        with self._lock:
            if self._child is not None:
                self._stop(self._child)
                self._child = None

    @staticmethod
    def _stop(child: subprocess.Popen[bytes]) -> None:
        if child.stdin is not None:
            with contextlib.suppress(OSError):
                child.stdin.close()
        try:
            child.wait(CLOSE_WAIT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def _read_answer(child: subprocess.Popen[bytes]) -> bytes:
    """One answer from the child: its bytes, or VoiceError with its message."""
    assert child.stdout is not None
    head = _read_exactly(child.stdout, _ANSWER.size)
    if head is None:
        code = child.wait()
        raise VoiceError(f"the voice process ended unexpectedly (exit code {code})")
    kind, length = _ANSWER.unpack(head)
    body = _read_exactly(child.stdout, length)
    if body is None:
        raise VoiceError("the voice process ended in the middle of an answer")
    if kind == b"E":
        raise VoiceError(body.decode("utf-8", "replace"))
    return body


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    """`size` bytes, or None at end of file."""
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _answer(out: BinaryIO, kind: bytes, body: bytes) -> None:
    out.write(_ANSWER.pack(kind, len(body)) + body)
    out.flush()


def serve(
    settings: VoiceSettings, stdin: BinaryIO, stdout: BinaryIO, parts: Path | None = None
) -> None:
    """The child's side: load the voice, say so, then answer sentences until end of file."""
    try:
        voice = PiperSynthesizer(settings, parts)
        voice.load()
    except VoiceError as err:
        _answer(stdout, b"E", str(err).encode("utf-8"))
        return
    _answer(stdout, b"O", b"")
    while True:
        head = _read_exactly(stdin, _HEADER.size)
        if head is None:
            return  # the skill closed our stdin, or it has gone
        (length,) = _HEADER.unpack(head)
        text = _read_exactly(stdin, length)
        if text is None:
            return
        try:
            wav = voice.synthesize(text.decode("utf-8"))
        except Exception as err:  # one bad sentence must not end the voice
            _answer(stdout, b"E", f"synthesis failed ({type(err).__name__})".encode())
        else:
            _answer(stdout, b"O", wav)


def _import_path() -> str:
    """PYTHONPATH for the child: where this `skill` package is found, then the parent's."""
    here = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)


def main(argv: list[str]) -> int:
    """`python -m skill.voice.worker SETTINGS_JSON NICE [PARTS_FOLDER]`, by VoiceProcess only."""
    settings = VoiceSettings(**json.loads(argv[0]))
    # Ctrl-C in a terminal reaches the whole process group: the skill ends this process
    # by closing its stdin, in order, so the child ignores the signal itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # not allowed to lower it: renders still work
        os.nice(int(argv[1]))
    # Frames go to a private copy of stdout; anything a library prints goes to stderr.
    frames = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(settings, sys.stdin.buffer, frames, Path(argv[2]) if len(argv) > 2 else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
