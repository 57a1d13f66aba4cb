"""The demo's bedside speaker: a minimal Hermes audio server for one site.

It plays every `hermes/audioServer/<siteId>/playBytes/<requestId>` WAV in arrival order,
one at a time, through `aplay` (like Rhasspy's own audio server) or, without a sound card,
by writing numbered files and waiting as long as the clip lasts. Then it answers with
`playFinished`, so the skill paces itself exactly as it would on a real device.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import re
import shutil
import subprocess
import threading
import warnings
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from skill.base.errors import AftercareError, BrokerError
from skill.hermes.client import new_client
from skill.voice.audio import wav_duration

with warnings.catch_warnings():
    # rhasspyhermes 0.6.2's audioserver module imports audioop, deprecated since Python
    # 3.11; we only use its message classes. Without this, filterwarnings=error fails
    # every test that imports the speaker.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    from rhasspyhermes.audioserver import AudioPlayFinished

_LOGGER = logging.getLogger(__name__)

_ASOUND_CARDS = Path("/proc/asound/cards")
_NUMBERED_WAV = re.compile(r"^(\d{4,})\.wav$")
_STOP_TIMEOUT = 3.0


def has_soundcard() -> bool:
    """True if /proc/asound/cards lists a sound card and `aplay` is on PATH."""
    try:
        cards = _ASOUND_CARDS.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    # A card line looks like " 0 [PCH            ]: HDA-Intel - HDA Intel PCH";
    # without cards the file says "--- no soundcards ---".
    listed = any(line.strip()[:1].isdigit() for line in cards.splitlines())
    return listed and shutil.which("aplay") is not None


@dataclass(frozen=True)
class ClipEvent:
    """One clip the speaker started to play."""

    index: int
    """1, 2, 3, ... in play order for this speaker (files continue after older clips)."""
    request_id: str
    """The requestId from the playBytes topic (echoed as `id` in playFinished)."""
    seconds: float
    """Length of the clip in seconds (before any time_scale)."""
    path: Path | None
    """The WAV file written in folder mode; None when played on the sound card."""


@dataclass(frozen=True)
class _Clip:
    request_id: str
    wav: bytes


class BedsideSpeaker:
    """A Hermes audio server for one site: plays or files each WAV, then says playFinished.

    In folder mode each clip "plays" for its length times `time_scale` (0.01 makes a
    demo fast); aplay always plays in real time. Only
    `hermes/audioServer/<site_id>/playBytes/+` is subscribed; retained messages are
    ignored (a replayed clip hours later would be wrong). A payload that is not a WAV
    file is logged once and not played, but still answered with playFinished, as
    Rhasspy's audio server does, so nothing waits for it forever.
    """

    def __init__(
        self,
        host: str,
        port: int,
        site_id: str,
        *,
        output: Literal["auto", "soundcard", "folder"] = "auto",
        folder: Path,
        time_scale: float = 1.0,
        on_clip: Callable[[ClipEvent], None] | None = None,
    ) -> None:
        if not site_id or any(char in site_id for char in "/+#"):
            raise ValueError(f"site_id must be non-empty without '/', '+' or '#', got {site_id!r}")
        if not math.isfinite(time_scale) or time_scale < 0:
            raise ValueError(f"time_scale must be a number >= 0, got {time_scale!r}")
        if output not in ("auto", "soundcard", "folder"):
            raise ValueError(f"unknown output {output!r}; choose one of: auto, soundcard, folder")
        self.host = host
        self.port = port
        self.site_id = site_id
        self.folder = folder
        self.time_scale = time_scale
        self._on_clip = on_clip
        self._aplay: str | None = None
        if output == "auto":
            output = "soundcard" if has_soundcard() else "folder"
        if output == "soundcard":
            self._aplay = shutil.which("aplay")
            if self._aplay is None:
                raise AftercareError(
                    "output 'soundcard' needs the aplay program (apt-get install alsa-utils); "
                    "use output 'folder' to write the clips as WAV files instead"
                )
        self.output_kind: str = output
        """How clips are played: "soundcard" (aplay) or "folder" (numbered WAV files)."""

        self._prefix = f"hermes/audioServer/{site_id}/playBytes/"
        self._queue: queue.Queue[_Clip | None] = queue.Queue()
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._subscribe_mid: int | None = None
        self._problem = ""
        self._clips_played = 0
        self._next_file_number = 1
        self._player: subprocess.Popen[bytes] | None = None
        self._worker: threading.Thread | None = None
        self._client = new_client(f"aftercare-speaker-{site_id}")
        self._client.reconnect_delay_set(1, 30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    # --- life cycle ----------------------------------------------------------------

    def start(self, *, timeout: float = 5.0) -> None:
        """Connect and block until subscribed; BrokerError if that takes over `timeout` s."""
        if self._worker is not None:
            return
        if self.output_kind == "folder":
            self._prepare_folder()
        self._stopping.clear()
        self._queue = queue.Queue()  # a stop() may have left its sentinel in the old one
        self._worker = threading.Thread(
            target=self._work, name=f"aftercare-speaker-{self.site_id}", daemon=True
        )
        self._worker.start()
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            problem = self._problem or "no answer"
            self.stop()
            raise BrokerError(
                f"bedside speaker could not subscribe at {self.host}:{self.port} "
                f"within {timeout:g} s: {problem}"
            )
        _LOGGER.info(
            "bedside speaker for site %r ready (%s%s)",
            self.site_id,
            self.output_kind,
            f": {self.folder}" if self.output_kind == "folder" else "",
        )

    def stop(self) -> None:
        """Stop playing (clips still queued are dropped) and disconnect."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._stopping.set()
        self._queue.put(None)
        player = self._player
        if player is not None and player.poll() is None:
            player.terminate()
        worker.join(_STOP_TIMEOUT)
        self._client.disconnect()
        self._client.loop_stop()
        self._subscribed.clear()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _prepare_folder(self) -> None:
        if not self.folder.exists():
            self.folder.mkdir(mode=0o700, parents=True)
            self.folder.chmod(0o700)  # mkdir's mode is filtered by the umask
        # Continue after clips of an earlier run instead of overwriting them.
        numbers = [
            int(match.group(1))
            for entry in self.folder.iterdir()
            if (match := _NUMBERED_WAV.match(entry.name))
        ]
        self._next_file_number = max(numbers, default=0) + 1

    # --- paho callbacks (network thread: never block, never raise) -----------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            self._problem = f"connection refused: {reason_code}"
            return
        # Subscribed here because a clean session forgets subscriptions on reconnect.
        _result, self._subscribe_mid = client.subscribe(self._prefix + "+", qos=1)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        if any(code.is_failure for code in reason_codes):
            self._problem = f"subscription refused: {[str(code) for code in reason_codes]}"
        elif mid == self._subscribe_mid:
            self._subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        self._subscribed.clear()
        if not self._stopping.is_set():
            _LOGGER.warning("bedside speaker lost the broker (%s); reconnecting", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if message.retain:
                _LOGGER.debug("bedside speaker ignores retained %s", message.topic)
                return
            request_id = message.topic.removeprefix(self._prefix)
            if request_id == message.topic or "/" in request_id:
                return  # not this site's playBytes (amqtt may deliver other retained topics)
            self._queue.put(_Clip(request_id, bytes(message.payload)))
        except Exception:  # never into paho's thread; not even the topic (maybe bad UTF-8)
            _LOGGER.exception("bedside speaker could not queue an incoming message")

    # --- worker thread: one clip at a time, in arrival order -----------------------

    def _work(self) -> None:
        while True:
            clip = self._queue.get()
            if clip is None or self._stopping.is_set():
                return
            try:
                self._play(clip)
            except Exception:
                _LOGGER.exception("bedside speaker could not play clip %r", clip.request_id)
            if self._stopping.is_set():
                return
            self._publish_finished(clip.request_id)

    def _play(self, clip: _Clip) -> None:
        try:
            seconds = wav_duration(clip.wav)
        except (wave.Error, EOFError, ValueError, ZeroDivisionError) as err:
            _LOGGER.warning(
                "bedside speaker dropped playBytes %r on site %r: not a WAV file (%s)",
                clip.request_id,
                self.site_id,
                err or type(err).__name__,
            )
            return
        self._clips_played += 1
        index = self._clips_played
        if self._aplay is None:
            path = self._write(self._next_file_number, clip.wav)
            self._next_file_number += 1
            self._announce(ClipEvent(index, clip.request_id, seconds, path))
            self._stopping.wait(seconds * self.time_scale)
        else:
            self._announce(ClipEvent(index, clip.request_id, seconds, None))
            self._run_aplay(self._aplay, clip.wav)

    def _write(self, number: int, wav: bytes) -> Path:
        path = self.folder / f"{number:04d}.wav"
        partial = self.folder / f".{number:04d}.wav.part"
        # Written aside and renamed, so a watcher never sees half a file; O_NOFOLLOW so
        # a planted symlink cannot redirect the write.
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        fd = os.open(partial, flags, 0o600)
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(wav)
        os.replace(partial, path)
        return path

    def _run_aplay(self, aplay: str, wav: bytes) -> None:
        player = subprocess.Popen(
            [aplay, "-q"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._player = player
        try:
            _out, err = player.communicate(wav)
        finally:
            self._player = None
        if player.returncode != 0 and not self._stopping.is_set():
            message = err.decode("utf-8", errors="replace").strip()[-500:]
            _LOGGER.warning("aplay exited with code %d: %s", player.returncode, message)

    def _announce(self, event: ClipEvent) -> None:
        if self._on_clip is None:
            return
        try:
            self._on_clip(event)
        except Exception:
            _LOGGER.exception("on_clip callback failed for clip %d", event.index)

    def _publish_finished(self, request_id: str) -> None:
        finished = AudioPlayFinished(id=request_id, session_id=None)
        payload = {"id": finished.id, "siteId": self.site_id, "sessionId": finished.session_id}
        self._client.publish(
            AudioPlayFinished.topic(site_id=self.site_id), json.dumps(payload), qos=1
        )
