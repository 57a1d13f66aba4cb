"""Speaking on a site: clips on playBytes (own Piper voice) or text on hermes/tts/say; on a
Home Assistant site, clips as URLs and a breathing session as one live stream
(skill.voice.satellites)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from skill.base.clock import Clock
from skill.config.settings import MAX_SENTENCE_CHARS
from skill.hermes.messages import Outgoing, play_bytes, tts_say
from skill.voice.audio import wav_bytes, wav_duration, wav_pcm
from skill.voice.clips import ClipCache
from skill.voice.piper import Clip, split_sentences

if TYPE_CHECKING:
    from skill.voice.satellites import Satellites

log = logging.getLogger(__name__)

FINISH_MARGIN = 1.5
"""Seconds to wait past a clip's length for playFinished before moving on anyway."""
SENTENCE_GAP = 0.25
"""Seconds of quiet between two sentences of one timed note."""
SAY_SECONDS_PER_WORD = 0.45
"""Estimate of a Hermes TTS service's pace, for the sayFinished time-out."""
STAND_IN_AFTER = 0.3
"""While the voice is still warming up after a start, a reply whose clip is not ready
this many (real) seconds after it was asked for is announced by a soft chime at once,
and said as soon as its clip is there: someone who said "stop" hears that it was heard."""


@dataclass(frozen=True)
class Spoken:
    """What the bedside speaker was asked to say or play (for the demo's transcript)."""

    site_id: str
    """Site it went to."""
    kind: Literal["speech", "cue", "chime"]
    """Sentence, breathing cue or chime."""
    text: str
    """The sentence, or the chime's name."""
    seconds: float
    """Length of the clip (0 when unknown, as with hermes/tts/say)."""


Publish = Callable[[Outgoing], None]
Listener = Callable[[Spoken], None]
VoiceHook = Callable[[str, bool], None]
"""Told (site, True) when the voice starts a prompt and (site, False) when it is done."""


class Output:
    """Publishes speech for one process; waits on playFinished/sayFinished with a time-out."""

    def __init__(
        self,
        publish: Publish,
        clips: ClipCache | None,
        *,
        engine: Literal["piper", "hermes"],
        volume: float = 1.0,
        time_scale: float = 1.0,
        listener: Listener | None = None,
        voice_hook: VoiceHook | None = None,
        stand_in: Clip | None = None,
        satellites: Satellites | None = None,
    ) -> None:
        self._publish = publish
        self._satellites = satellites
        self._stand_in = stand_in
        self._voice_hook = voice_hook
        self._clips = clips
        self._engine = engine
        self._volume = volume
        self._time_scale = time_scale
        self._listener = listener
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self.max_chars = MAX_SENTENCE_CHARS
        """Longest sentence rendered as one clip."""

    @property
    def speaks_text(self) -> bool:
        """True when speech goes out as text on hermes/tts/say (engine `hermes`)."""
        return self._engine == "hermes" or self._clips is None

    def speak_as_text(self) -> None:
        """From now on, speak through hermes/tts/say (the voice failed after a start)."""
        self._engine = "hermes"

    def finished(self, request_id: str) -> None:
        """Called when playFinished or sayFinished arrives for one of our clips."""
        future = self._waiting.pop(request_id, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def say(self, site_id: str, text: str) -> None:
        """Speak a prompt sentence by sentence; returns when the last clip has played."""
        self._hook(site_id, speaking=True)
        try:
            await self._say(site_id, split_sentences(text, self.max_chars))
        finally:
            self._hook(site_id, speaking=False)

    def _hook(self, site_id: str, *, speaking: bool) -> None:
        if self._voice_hook is not None:
            try:
                self._voice_hook(site_id, speaking)
            except Exception:
                log.exception("The voice hook failed")

    async def _say(self, site_id: str, sentences: list[str]) -> None:
        if self._engine == "hermes" or self._clips is None:
            for sentence in sentences:
                await self._say_hermes(site_id, sentence)
            return
        clips = self._clips
        satellite = self.satellite(site_id)
        if satellite is not None and satellite.stream(site_id) is None and len(sentences) > 1:
            # One announcement for the whole reply: a satellite takes a while to start
            # each one, which would leave gaps between its sentences.
            first = asyncio.ensure_future(clips.clip(sentences[0]))
            try:
                await self._stand_in_while(site_id, first)
            finally:
                first.cancel()
            wav = await self._joined(sentences)
            joined = Clip(wav, wav_duration(wav))
            await self.play(site_id, joined, kind="speech", text=" ".join(sentences), wait=True)
            return
        # Render ahead: the next sentence synthesizes while the current one plays.
        renders = [asyncio.ensure_future(clips.clip(s)) for s in sentences[:1]]
        try:
            if renders:
                await self._stand_in_while(site_id, renders[0])
            for index, sentence in enumerate(sentences):
                if index + 1 < len(sentences):
                    renders.append(asyncio.ensure_future(clips.clip(sentences[index + 1])))
                clip = await renders[index]
                await self.play(site_id, clip, kind="speech", text=sentence, wait=True)
        finally:
            for task in renders:
                task.cancel()

    async def _stand_in_while(self, site_id: str, ready: asyncio.Future[Clip]) -> None:
        """While warming up: a soft chime now if `ready` takes longer than STAND_IN_AFTER."""
        if self._stand_in is None or self._clips is None or not self._clips.warming:
            return
        done, _ = await asyncio.wait([ready], timeout=STAND_IN_AFTER)
        if not done:
            await self.play(site_id, self._stand_in, kind="chime", text="soft", wait=False)

    async def prepare(self, site_id: str, text: str, patience: float | None = None) -> bool:
        """Bring a prompt's clips into memory before it is due (a stand-in chime while
        warming up, as `say` plays one); False when they are not ready within `patience`
        real seconds (they go on rendering, for the next time)."""
        if self._engine == "hermes" or self._clips is None:
            return True
        sentences = split_sentences(text, self.max_chars)
        clips = [asyncio.ensure_future(self._clips.clip(s)) for s in sentences]
        try:
            if clips:
                await self._stand_in_while(site_id, clips[0])
                _, pending = await asyncio.wait(clips, timeout=patience)
                return not pending
            return True
        finally:
            for task in clips:
                task.cancel()

    async def say_at(self, site_id: str, text: str, clock: Clock, deadline: float) -> None:
        """Speak a prompt inside a timed session: sentence i starts at its own deadline.

        Sentences go out back to back by their measured lengths, never waiting on
        playFinished, so a slow audio server cannot push a note into the next cue.
        """
        if self._engine == "hermes" or self._clips is None:
            await clock.sleep_until(deadline)
            await self.say(site_id, text)
            return
        at = deadline
        sentences = split_sentences(text, self.max_chars)
        clips = [await self._clips.clip(s) for s in sentences]
        await clock.sleep_until(at)
        self._hook(site_id, speaking=True)
        try:
            for index, (sentence, clip) in enumerate(zip(sentences, clips, strict=True)):
                await clock.sleep_until(at)
                await self.play(site_id, clip, kind="speech", text=sentence, wait=False, at=at)
                at += (clip.seconds + SENTENCE_GAP) * clock.scale
                if index == len(clips) - 1:
                    await clock.sleep_until(at)
        finally:
            self._hook(site_id, speaking=False)

    async def seconds(self, text: str) -> float:
        """How long a prompt takes to say (rendering it now if needed)."""
        sentences = split_sentences(text, self.max_chars)
        if self._engine == "hermes" or self._clips is None:
            return _estimate(sentences)
        return _length([await self._clips.clip(s) for s in sentences])

    def seconds_if_ready(self, text: str) -> float | None:
        """How long a prompt takes to say, or None while its clips are not in memory yet."""
        sentences = split_sentences(text, self.max_chars)
        if self._engine == "hermes" or self._clips is None:
            return _estimate(sentences)
        clips = [self._clips.cached(s) for s in sentences]
        ready = [clip for clip in clips if clip is not None]
        return _length(ready) if len(ready) == len(clips) else None

    def chime(self, site_id: str, clip: Clip, name: str, at: float | None = None) -> None:
        """Send one chime now, never waiting (`at`: its planned moment, for a stream)."""
        self._send(site_id, clip, kind="chime", text=name, at=at)

    def cue(self, site_id: str, text: str, at: float | None = None) -> bool:
        """Send one breathing cue now, never waiting; False when its clip is not ready
        (the voice is still warming up, or the cue was too long for its phase): the
        caller marks the phase with a chime instead."""
        if self._engine == "hermes" or self._clips is None:
            self._publish_say(site_id, text, str(uuid.uuid4()))
            self._tell(Spoken(site_id, "cue", text, 0.0))
            return True
        clip = self._clips.cached(text, trim=True)
        if clip is None:
            return False
        self._send(site_id, clip, kind="cue", text=text, at=at)
        return True

    async def play(
        self,
        site_id: str,
        clip: Clip,
        *,
        kind: Literal["speech", "cue", "chime"],
        text: str,
        wait: bool,
        at: float | None = None,
    ) -> None:
        """Publish one WAV clip on the site's playBytes topic, optionally until it has played."""
        if not wait:
            self._send(site_id, clip, kind=kind, text=text, at=at)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sent = time.monotonic()
        request_id = self._send(site_id, clip, kind=kind, text=text, at=at)
        self._waiting[request_id] = future
        await self._wait(request_id, future, clip.seconds * self._time_scale + FINISH_MARGIN)
        if self.satellite(site_id) is not None:
            # A satellite (or a media player) may say `finished` early: the next line
            # never starts before this one can have played out.
            await asyncio.sleep(max(0.0, sent + clip.seconds * self._time_scale - time.monotonic()))

    def _send(
        self,
        site_id: str,
        clip: Clip,
        *,
        kind: Literal["speech", "cue", "chime"],
        text: str,
        at: float | None = None,
    ) -> str:
        """Publish one clip now (into the site's stream at `at`, if one is open); its id."""
        satellites = self._satellites
        if satellites is not None and satellites.handles(site_id):
            stream = satellites.stream(site_id)
            if stream is None:
                request_id = satellites.speak(site_id, clip.wav, text)
            else:
                request_id = str(uuid.uuid4())
                stream.place(clip.wav, time.monotonic() if at is None else at)
                # It has played when the stream has reached its end.
                asyncio.get_running_loop().call_later(
                    clip.seconds * self._time_scale, self.finished, request_id
                )
        else:
            request_id = str(uuid.uuid4())
            self._publish(play_bytes(site_id, request_id, clip.wav))
        self._tell(Spoken(site_id, kind, text, clip.seconds))
        return request_id

    def open_stream(self, site_id: str) -> None:
        """A breathing session begins: on a Home Assistant site, one live stream carries it."""
        if self._satellites is not None and self._satellites.handles(site_id):
            self._satellites.open_stream(site_id)

    def close_stream(self, site_id: str, *, stop: bool) -> None:
        """The session ended: its stream plays out, or (`stop`) ends at once."""
        if self._satellites is not None and self._satellites.handles(site_id):
            self._satellites.end_stream(site_id, stop=stop)

    def hush(self, site_id: str) -> None:
        """Everything on the site stopped: a Home Assistant site stops playing at once
        (a Hermes site's clips are short; nothing is sent)."""
        if self._satellites is not None and self._satellites.handles(site_id):
            self._satellites.hush(site_id)

    def satellite(self, site_id: str) -> Satellites | None:
        """The Home Assistant relay when this site speaks through it, else None."""
        if self._satellites is not None and self._satellites.handles(site_id):
            return self._satellites
        return None

    async def wav(self, text: str) -> bytes:
        """A prompt as one WAV file: its sentences with the sentence gap between."""
        return await self._joined(split_sentences(text, self.max_chars))

    async def _joined(self, sentences: list[str]) -> bytes:
        if self._clips is None:
            raise RuntimeError("no voice to render with")
        clips = [await self._clips.clip(s) for s in sentences]
        parts: list[bytes] = []
        rate = 0
        for index, clip in enumerate(clips):
            pcm, rate = wav_pcm(clip.wav)
            if index:
                parts.append(bytes(2 * round(SENTENCE_GAP * rate)))
            parts.append(pcm)
        return wav_bytes(b"".join(parts), rate or 22050)

    async def _say_hermes(self, site_id: str, sentence: str) -> None:
        request_id = str(uuid.uuid4())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        self._publish_say(site_id, sentence, request_id)
        self._tell(Spoken(site_id, "speech", sentence, 0.0))
        estimate = len(sentence.split()) * SAY_SECONDS_PER_WORD * self._time_scale
        await self._wait(request_id, future, estimate + 5.0)

    def _publish_say(self, site_id: str, text: str, request_id: str) -> None:
        self._publish(tts_say(site_id, request_id, text, self._volume))

    async def _wait(self, request_id: str, future: asyncio.Future[None], seconds: float) -> None:
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # (a "stop") when the future completes in the same loop turn.
            async with asyncio.timeout(seconds):
                await future
        except TimeoutError:
            log.debug("No playFinished for %s; going on", request_id)
        finally:
            self._waiting.pop(request_id, None)

    def _tell(self, spoken: Spoken) -> None:
        if self._listener is not None:
            try:
                self._listener(spoken)
            except Exception:
                log.exception("The transcript listener failed")


def _estimate(sentences: list[str]) -> float:
    """Seconds a Hermes TTS service takes for these sentences (a word-count estimate)."""
    return sum(len(s.split()) * SAY_SECONDS_PER_WORD for s in sentences)


def _length(clips: list[Clip]) -> float:
    """Seconds these clips take played one after another with the sentence gap."""
    return sum(c.seconds for c in clips) + SENTENCE_GAP * (len(clips) - 1)
