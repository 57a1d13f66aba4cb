"""Shared parts of the integration tests: a silent fake voice and a live skill on a real broker.

- `FakeVoice` is the seam where Piper would be: it returns a valid WAV of quiet noise whose
  length grows with the number of words, and remembers what it rendered, so a payload seen
  on `playBytes` can be decoded back into the sentence (or chime) it carries.
- `live_skill` starts the real Runtime (MQTT link, handlers, runner) against a real broker
  with that voice and a compressed clock, plus a recording MQTT client, and closes all of it.
- `Bedside.say` turns a natural sentence into an NluIntent with the real Recognizer and
  publishes it on `hermes/intent/<name>`, exactly as Rhasspy's NLU service would.
- `FakeDialogueManager` stands in for Rhasspy's dialogue manager: it starts the sessions
  the skill's check-ins ask for and plays a scripted answer, a time-out or silence in each.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import json
import statistics
import string
import threading
import time
import uuid
import wave
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from skill.app import Runtime, project_dir
from skill.breathing.grid import Cue
from skill.breathing.plan import BreathingPlan
from skill.breathing.runner import BreathingControl
from skill.config.loader import parse_config
from skill.config.settings import Config
from skill.demo.speaker import BedsideSpeaker
from skill.language import keys
from skill.language.nlu import Recognizer
from skill.language.responses import ResponseBook, response_path
from skill.language.templates import DEFAULT_ROUTINES
from skill.routines.model import routine_names
from skill.service import Skill
from skill.voice.audio import trim_silence, wav_bytes
from skill.voice.chimes import CHIME_KINDS, CHIME_RATE, chime_wav
from skill.voice.output import Spoken
from skill.voice.piper import split_sentences
from support.mqtt_recorder import BrokerAddress, MqttRecorder, Received

RATE = 16000
"""Sample rate of the fake voice."""
WORD_SECONDS = 0.25
"""Length of one spoken word in the fake voice."""
PAD_SECONDS = 0.05
"""Silence before and after every fake sentence (what trimming cuts, as with Piper)."""
LEVEL = 300
"""Peak of the fake voice's noise (about 1% of full scale: low, but not silence)."""


SITE = "bedroom"
"""The site most tests speak from."""
PLAYBYTES = "hermes/audioServer/{site}/playBytes/+"
END_SESSION = "hermes/dialogueManager/endSession"
START_SESSION = "hermes/dialogueManager/startSession"
SESSION_STARTED = "hermes/dialogueManager/sessionStarted"
SESSION_ENDED = "hermes/dialogueManager/sessionEnded"

PLAYER_TOPIC = "home/bedroom/player/set"
"""Where the test music player listens (from the config below)."""
PLAYER: Mapping[str, Any] = {
    "name": "bedside-player",
    "kind": "generic",
    "play": {"topic": PLAYER_TOPIC, "payload": '{"action": "play", "playlist": "{playlist}"}'},
    "stop": {"topic": PLAYER_TOPIC, "payload": '{"action": "stop"}'},
    "volume": {"topic": PLAYER_TOPIC, "payload": '{"action": "volume", "volume": {volume}}'},
}
"""A generic music player device, as config.yaml describes one."""

RESPONSES = ResponseBook.load(response_path(project_dir() / "responses", "en"))
CUE_TEXTS = frozenset(text for key in keys.CUE_KEYS for text in RESPONSES.variants(key))
"""Every breathing cue's words (the only sentences the skill trims)."""
"""The shipped English lines (only to look up which key a heard sentence belongs to)."""


# --- the fake voice --------------------------------------------------------------------


@dataclass(frozen=True)
class Heard:
    """What a WAV payload carries, decoded through the fake voice's memory."""

    kind: str
    """`speech` (a whole sentence), `cue` (a trimmed cue clip) or `chime`."""
    text: str
    """The sentence, or the chime's name."""


class FakeVoice:
    """A silent Synthesizer: quiet noise, WORD_SECONDS per word, deterministic per sentence."""

    identity = "fake-voice:v1"
    sample_rate = RATE

    def __init__(self) -> None:
        self.rendered: list[str] = []
        """Every sentence synthesized, in order (the cache should keep this short)."""
        self._lock = threading.Lock()
        self._heard: dict[bytes, Heard] = {
            chime_wav(kind, CHIME_RATE): Heard("chime", kind) for kind in CHIME_KINDS
        }

    def synthesize(self, sentence: str) -> bytes:
        """Render one sentence to a complete WAV file (runs on the cache's worker thread)."""
        wav = fake_wav(sentence)
        trimmed = trim_silence(wav) if sentence in CUE_TEXTS else None  # only cues are trimmed
        with self._lock:
            self.rendered.append(sentence)
            self._heard[wav] = Heard("speech", sentence)
            if trimmed is not None:
                self._heard[trimmed] = Heard("cue", sentence)
        return wav

    def made(self) -> dict[bytes, Heard]:
        """Every WAV this voice (and the chimes) made, with what it is."""
        with self._lock:
            return dict(self._heard)

    def heard(self, wav: bytes) -> Heard:
        """What a payload is; AssertionError for bytes this voice never made."""
        with self._lock:
            found = self._heard.get(wav)
        if found is None:
            raise AssertionError(f"a playBytes payload of {len(wav)} bytes that no voice made")
        return found


def fake_wav(sentence: str) -> bytes:
    """Quiet noise as long as the words, padded with silence; the same text, the same bytes."""
    words = max(1, len(sentence.split()))
    seed = int.from_bytes(hashlib.sha256(sentence.encode("utf-8")).digest()[:8], "little")
    noise = np.random.default_rng(seed).integers(
        -LEVEL, LEVEL + 1, round(words * WORD_SECONDS * RATE)
    )
    noise[0] = noise[-1] = LEVEL  # a clear edge, so trimming is deterministic
    pad = np.zeros(round(PAD_SECONDS * RATE), dtype=np.int64)
    samples = np.concatenate([pad, noise, pad]).astype("<i2")
    return wav_bytes(samples.tobytes(), RATE)


def wav_info(payload: bytes) -> tuple[int, int, float]:
    """(channels, sample width, seconds) of a complete, non-empty RIFF/WAVE file."""
    assert payload[:4] == b"RIFF", "not a RIFF file"
    assert payload[8:12] == b"WAVE", "not a WAVE file"
    with wave.open(io.BytesIO(payload), "rb") as reader:
        frames = reader.getnframes()
        assert frames > 0, "an empty WAV"
        return reader.getnchannels(), reader.getsampwidth(), frames / reader.getframerate()


# --- what the voice says ----------------------------------------------------------------


def _sentence_keys() -> dict[str, set[str]]:
    """Every sentence the voice may say -> the response keys it belongs to.

    Lines with a number are expanded for the numbers the tests use; lines with other
    placeholders (names, preferences) are left out: no test here expects to hear them.
    """
    table: dict[str, set[str]] = {}
    for key in sorted(RESPONSES.keys()):
        for variant in RESPONSES.variants(key):
            fields = {name for _, name, _, _ in string.Formatter().parse(variant) if name}
            if not fields <= {"minutes", "rounds"}:
                continue
            for number in (1, 2, 3, 4, 5, 10, 30, 60):
                text = variant.format(**dict.fromkeys(fields, number))
                for sentence in split_sentences(text):
                    table.setdefault(sentence, set()).add(key)
    return table


_KEYS_OF = _sentence_keys()


def keys_of(sentence: str) -> set[str]:
    """The response keys whose lines contain this sentence (empty if none)."""
    return _KEYS_OF.get(sentence, set())


def is_line(sentence: str, key: str) -> bool:
    """True when the sentence is part of one of the key's lines."""
    return key in keys_of(sentence)


def cue_text(phase: str) -> str:
    """The one spoken cue of a phase."""
    return RESPONSES.variants("cue." + phase.replace("-", "_"))[0]


# --- a network that can fail --------------------------------------------------------------


class TcpRelay:
    """A loopback TCP relay in front of a broker; `cut()` drops every connection through it.

    The skill connects to the relay instead of the broker; cutting it is a network glitch:
    both ends see their connection die without an MQTT DISCONNECT.
    """

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self.host = "127.0.0.1"
        """Where the relay listens."""
        self.port = 0
        """Its port, once started."""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> TcpRelay:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        await self._server.wait_closed()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def cut(self) -> None:
        """Abort every connection through the relay (new ones are still accepted)."""
        for writer in list(self._writers):
            writer.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        pair = [writer]
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            pair.append(up_writer)
            self._writers.update(pair)
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        except OSError:
            pass
        finally:
            for end in pair:
                self._writers.discard(end)
                end.close()
                with contextlib.suppress(OSError):
                    await end.wait_closed()
            self._handlers.discard(task)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


# --- a live skill on a real broker -------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """One playBytes message as the recorder received it, decoded."""

    t: float
    """time.monotonic() at arrival."""
    site: str
    """Site from the topic."""
    request_id: str
    """Request id from the topic."""
    kind: str
    """speech, cue or chime."""
    text: str
    """The sentence or chime name."""
    seconds: float
    """Length of the WAV."""


@dataclass(frozen=True)
class Expected:
    """One clip the plan says should be sent."""

    offset: float
    """Plan seconds from the session start."""
    kind: str
    """speech, cue or chime."""
    text: str
    """The cue text or chime name; for spoken notes the response key."""


class Bedside:
    """The test's side of a running skill: speak to it, read what it published."""

    def __init__(
        self,
        runtime: Runtime,
        recorder: MqttRecorder,
        recognizer: Recognizer,
        voice: FakeVoice | None,
    ) -> None:
        self.runtime = runtime
        self.recorder = recorder
        self.recognizer = recognizer
        self.voice = voice
        self.spoken: list[tuple[float, Spoken]] = []
        """What the listener heard, with time.monotonic() stamps."""
        self.speakers: dict[str, BedsideSpeaker] = {}
        """Bedside speakers answering playFinished, by site."""

    @property
    def skill(self) -> Skill:
        """The running skill."""
        assert self.runtime.skill is not None
        return self.runtime.skill

    @property
    def scale(self) -> float:
        """Real seconds per plan second."""
        return self.runtime.clock.scale

    def listen(self, spoken: Spoken) -> None:
        """The Runtime's listener."""
        self.spoken.append((time.monotonic(), spoken))

    # sending

    def intent(self, text: str, *, site: str = SITE) -> tuple[str, bytes, str]:
        """(topic, payload, sessionId) of the NluIntent the real Recognizer makes of a sentence."""
        return make_intent(text, site=site, recognize=self.recognizer)

    async def say(self, text: str, *, site: str = SITE) -> str:
        """Publish what Rhasspy would for `text` on `site`; returns the sessionId.

        Recognition runs on a worker thread: it takes tens of milliseconds, which would
        otherwise hold up the skill's cues on the shared event loop.
        """
        topic, payload, session = await asyncio.to_thread(self.intent, text, site=site)
        await self.publish(topic, payload)
        return session

    async def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> None:
        """Publish from the test client and wait for the broker's acknowledgement."""
        await asyncio.to_thread(self.recorder.publish, topic, payload, retain=retain)

    # receiving

    async def wait_for(
        self, predicate: Callable[[Received], bool] | str, timeout: float = 5.0
    ) -> Received:
        """The first recorded message that matches (see MqttRecorder.wait_for)."""
        return await asyncio.to_thread(self.recorder.wait_for, predicate, timeout)

    async def ended(self, session: str, timeout: float = 5.0) -> Received:
        """The endSession for a sessionId."""
        return await self.wait_for(lambda m: ends(m, session), timeout)

    def clips(self, site: str = SITE, *, after: float = 0.0) -> list[Clip]:
        """Every playBytes WAV for a site (arrived after `after`), decoded."""
        return [
            clip
            for m in self.recorder.messages(PLAYBYTES.format(site=site))
            if m.t > after
            for clip in [self.decode(m)]
        ]

    def decode(self, message: Received) -> Clip:
        """A playBytes message as a Clip (the WAV must be valid and come from the voice)."""
        parts = message.topic.split("/")
        assert len(parts) == 5, message.topic
        assert parts[3] == "playBytes", message.topic
        _channels, _width, seconds = wav_info(message.payload)
        assert self.voice is not None
        heard = self.voice.heard(message.payload)
        return Clip(message.t, parts[2], parts[4], heard.kind, heard.text, seconds)

    async def wait_clip(
        self, test: Callable[[Clip], bool], *, site: str = SITE, timeout: float = 5.0
    ) -> Clip:
        """The first playBytes clip of a site that passes `test`."""
        prefix = f"hermes/audioServer/{site}/playBytes/"
        message = await self.wait_for(
            lambda m: m.topic.startswith(prefix) and test(self.decode(m)), timeout
        )
        return self.decode(message)

    async def wait_clips(
        self, test: Callable[[Clip], bool], count: int, *, site: str = SITE, timeout: float = 5.0
    ) -> list[Clip]:
        """Wait until `count` clips of a site pass `test`; those clips."""
        prefix = f"hermes/audioServer/{site}/playBytes/"
        found: list[Clip] = []

        def enough(message: Received) -> bool:
            if message.topic.startswith(prefix):
                clip = self.decode(message)
                if test(clip):
                    found.append(clip)
            return len(found) >= count

        await self.wait_for(enough, timeout)
        return found

    async def idle(self, site: str = SITE, timeout: float = 10.0) -> None:
        """Wait until the site's activity and replies have ended by themselves."""
        await asyncio.wait_for(self.skill.idle(site), timeout)
        assert self.skill.activity(site) == ""

    async def breathing(self, site: str = SITE, timeout: float = 5.0) -> BreathingControl:
        """The BreathingControl of the site's session, once it has started."""
        deadline = time.monotonic() + timeout
        while True:
            control = self.skill.site(site).breathing
            if control is not None:
                return control
            assert time.monotonic() < deadline, "no breathing session started"
            await asyncio.sleep(0.005)

    async def quiet_for(self, seconds: float) -> None:
        """Let real time pass (used only to prove that nothing more arrives)."""
        await asyncio.sleep(seconds)


@functools.cache
def recognizer(
    playlists: tuple[str, ...] = (),
    safewords: tuple[str, ...] = ("red",),
    caution_words: tuple[str, ...] = ("yellow",),
    routines: tuple[str, ...] = DEFAULT_ROUTINES,
) -> Recognizer:
    """The real Recognizer over the shipped intents (loaded once per config's words)."""
    return Recognizer.load(
        project_dir() / "intents",
        playlists=playlists,
        safewords=safewords,
        caution_words=caution_words,
        routines=routines,
    )


def make_intent(
    text: str, *, site: str = SITE, recognize: Recognizer | None = None
) -> tuple[str, bytes, str]:
    """(topic, payload, sessionId) of the NluIntent the real Recognizer makes of a sentence."""
    session = f"session-{uuid.uuid4().hex[:12]}"
    intent = (recognize or recognizer()).recognize(text, site_id=site, session_id=session)
    assert intent is not None, f"the intents do not recognize {text!r}"
    return intent.topic(intent_name=intent.intent.intent_name), _json(intent), session


def ends(message: Received, session: str) -> bool:
    """True for the endSession of `session`."""
    return message.topic == END_SESSION and json.loads(message.payload).get("sessionId") == session


def _json(intent: Any) -> bytes:
    return json.dumps(intent.to_dict()).encode("utf-8")


def make_config(host: str, port: int, data_dir: Path, **overrides: Any) -> Config:
    """A Config for tests: given broker, private data dir, the test player, Rain sounds."""
    raw: dict[str, Any] = {
        "mqtt": {"host": host, "port": port},
        "data_dir": str(data_dir),
        "devices": [dict(PLAYER)],
        "cooldown": {"playlist": "Cool down", "playlists": ["Rain sounds"]},
    }
    raw.update(overrides)
    return parse_config(raw, path="<test config>", base=data_dir)


@contextlib.asynccontextmanager
async def live_skill(
    broker: BrokerAddress | None,
    tmp_path: Path,
    *,
    scale: float = 0.05,
    speakers: Iterable[str] = (),
    speaker_scale: float | None = None,
    topics: Iterable[str] = ("hermes/#", "aftercare/#", "home/#"),
    fake_voice: FakeVoice | None = None,
    wait_voice: Literal["all", "timed", "first", "no"] = "timed",
    **config: Any,
) -> AsyncIterator[Bedside]:
    """The real skill on a real broker (None: `mqtt.host: embedded`) with the fake voice,
    once its voice has rendered every line a breathing session times (`wait_voice`:
    "all": every fixed prompt; "first": the stop reply, cues and first lines only; "no":
    right after `online`); the rest renders meanwhile, as after a real start."""
    if broker is None:
        settings = make_config("embedded", 0, tmp_path / "data", **config)
    else:
        settings = make_config(broker.host, broker.port, tmp_path / "data", **config)
    voice = fake_voice if fake_voice is not None else FakeVoice()
    engine_piper = settings.voice.engine == "piper"
    recognize = recognizer(
        (settings.cooldown.playlist, *settings.cooldown.playlists),
        settings.safewords,
        settings.caution_words,
        routine_names(settings.routines),
    )
    holder: list[Bedside] = []
    runtime = Runtime(
        settings,
        time_scale=scale,
        listener=lambda spoken: holder[0].listen(spoken) if holder else None,
        synthesizer=voice if engine_piper else None,
        cache=False,
    )
    async with runtime:
        if wait_voice == "all":
            await runtime.voice_ready()
        elif wait_voice == "timed":
            await runtime.voice_started(runtime.timed)
        elif wait_voice == "first":
            await runtime.voice_started()
        recorder = MqttRecorder(runtime.host, runtime.port, tuple(topics))
        await asyncio.to_thread(recorder.start)
        bedside = Bedside(runtime, recorder, recognize, voice if engine_piper else None)
        holder.append(bedside)
        try:
            for site in speakers:
                folder = tmp_path / f"speaker-{site}"
                slow = speaker_scale or scale
                await asyncio.to_thread(_add_speaker, bedside, site, folder, slow)
            yield bedside
        finally:
            for speaker in bedside.speakers.values():
                await asyncio.to_thread(speaker.stop)
            await asyncio.to_thread(recorder.close)


def _add_speaker(bedside: Bedside, site: str, folder: Path, scale: float) -> None:
    """Start a BedsideSpeaker for a site (folder output; clips last seconds x scale)."""
    runtime = bedside.runtime
    speaker = BedsideSpeaker(
        runtime.host,
        runtime.port,
        site,
        output="folder",
        folder=folder,
        time_scale=scale,
    )
    bedside.speakers[site] = speaker
    speaker.start()


# --- Rhasspy's dialogue manager, for check-ins ----------------------------------------------


@dataclass(frozen=True)
class Answer:
    """How one check-in session goes."""

    text: str | None = None
    """What the person says (recognized with the session's intentFilter), or None."""
    ended: str | None = None
    """End the session with this termination reason instead (e.g. the DM's `timeout`)."""
    token: bool = True
    """The answer carries the session's customData (False: matched by sessionId alone)."""


DM_TIMEOUT = Answer(ended="timeout")
"""Nobody answers and the dialogue manager gives up: sessionEnded, reason timeout."""
SILENT = Answer()
"""The session starts and then nothing at all happens: the skill's own time-out decides."""


@dataclass(frozen=True)
class Asked:
    """One startSession the skill sent, and the session the dialogue manager made of it."""

    message: Received
    """The startSession as recorded."""
    body: dict[str, Any]
    """Its JSON payload."""
    session: str
    """The sessionId given to it: dm-1, dm-2, ... in the order asked."""


class FakeDialogueManager:
    """Rhasspy's dialogue manager, as far as the skill's check-ins see it.

    The skill asks its questions through startSession, so a live test needs something to
    start those sessions and answer them. Every startSession starts a session at once
    (nothing else is active): sessionStarted with the request's siteId and customData, then
    the next scripted Answer (a plain string is the words said; SILENT once the script runs
    out). An answer is the NluIntent the real Recognizer makes of the words, limited to the
    session's intentFilter as Rhasspy's NLU is, with the sessionId and customData. When the
    skill ends a session that is still open, sessionEnded (nominal) follows, as it would.

    Use it as `async with FakeDialogueManager(bs, answers) as dm:`; `dm.asked` then holds
    every question, in order. `recognizer` makes the answers; the default is the Bedside's,
    which knows the config's playlists and safewords but not its names.
    """

    def __init__(
        self,
        bs: Bedside,
        answers: Iterable[Answer | str],
        *,
        recognizer: Recognizer | None = None,
    ) -> None:
        self.bs = bs
        self.answers = [Answer(a) if isinstance(a, str) else a for a in answers]
        """The script still to play, first answer first."""
        self.recognizer = recognizer or bs.recognizer
        self.asked: list[Asked] = []
        """Every startSession, in order."""
        self.open: dict[str, str | None] = {}
        """Open sessions: sessionId -> customData."""
        self._handled: set[Received] = set()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> FakeDialogueManager:
        self._task = asyncio.get_running_loop().create_task(self._serve())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _serve(self) -> None:
        while True:
            try:  # waits on a worker thread: no polling on the skill's event loop
                message = await asyncio.to_thread(self.bs.recorder.wait_for, self._new, 0.25)
            except AssertionError:
                continue
            self._handled.add(message)
            body = json.loads(message.payload)
            if message.topic == START_SESSION:
                await self._start(message, body)
            else:
                await self._end(body["sessionId"])

    def _new(self, message: Received) -> bool:
        """A startSession not yet served, or the skill's endSession of an open session."""
        if message.topic == START_SESSION:
            return message not in self._handled
        if message.topic == END_SESSION and message not in self._handled:
            return json.loads(message.payload).get("sessionId") in self.open
        return False

    async def _start(self, message: Received, body: dict[str, Any]) -> None:
        session = f"dm-{len(self.asked) + 1}"
        self.asked.append(Asked(message, body, session))
        site, token = body["siteId"], body.get("customData")
        self.open[session] = token
        started = {"sessionId": session, "siteId": site, "customData": token}
        await self.bs.publish(SESSION_STARTED, json.dumps(started))
        answer = self.answers.pop(0) if self.answers else SILENT
        if answer.ended is not None:
            await self._end(session, answer.ended)
        elif answer.text is not None:
            # Recognition takes tens of milliseconds: off the skill's event loop.
            intent = await asyncio.to_thread(
                self.recognizer.recognize,
                answer.text,
                site_id=site,
                session_id=session,
                intent_filter=body["init"]["intentFilter"],
            )
            assert intent is not None, f"{answer.text!r} is outside the check-in's intentFilter"
            intent.custom_data = token if answer.token else None
            topic = intent.topic(intent_name=intent.intent.intent_name)
            await self.bs.publish(topic, json.dumps(intent.to_dict()))

    async def _end(self, session: str, reason: str = "nominal") -> None:
        token = self.open.pop(session, None)
        site = next(a.body["siteId"] for a in self.asked if a.session == session)
        ended = {
            "sessionId": session,
            "siteId": site,
            "customData": token,
            "termination": {"reason": reason},
        }
        await self.bs.publish(SESSION_ENDED, json.dumps(ended))


# --- what a breathing plan says should be heard -------------------------------------------

# How on time clips must be. The exact lateness belongs to the benchmarks; these bounds
# only catch a runner that drifts, chains sleeps or follows an outdated plan. Lateness is
# a few milliseconds here, but a shared 2-core machine can stall the process for a few
# hundred now and then, so: never early (load cannot make a clip early), typically on
# time (the median), and no clip very late.
EARLY = 0.005
"""Real seconds a clip may arrive before its deadline (timer granularity)."""
TYPICAL = 0.05
"""Real seconds the median clip of a session may be late."""
TOLERANCE = 0.6
"""Real seconds any one clip may be late (a stall of the whole machine included)."""


def expected_clips(plan: BreathingPlan) -> list[Expected]:
    """The clips a plan should produce, in order: per cue its chime, then its words."""
    out: list[Expected] = []
    for cue in plan.cues:
        out.extend(expected_for(cue))
    return out


def expected_for(cue: Cue) -> list[Expected]:
    """The clips one cue should produce (a spoken note is named by its response key)."""
    found: list[Expected] = []
    if cue.chime is not None:
        found.append(Expected(cue.offset, "chime", cue.chime))
    if cue.voice_key is not None:
        if cue.kind == "phase" and cue.phase is not None:
            found.append(Expected(cue.offset, "cue", cue_text(cue.phase)))
        else:
            found.append(Expected(cue.offset, "speech", cue.voice_key))
    return found


def fold_notes(clips: Iterable[Clip], expect: Collection[str] = ()) -> list[tuple[Clip, str]]:
    """(first clip, label) per heard item: a note of several sentences counts once.

    The label is the cue text or chime name, or for speech the response key of the line
    (the key all its consecutive sentences share; one of `expect` when a sentence belongs
    to several keys). Only a note's first sentence is due at its cue's offset.
    """
    groups: list[tuple[Clip, set[str] | None]] = []
    for clip in clips:
        if clip.kind != "speech":
            groups.append((clip, None))
            continue
        keys = keys_of(clip.text)
        assert keys, f"a spoken sentence that is no line of responses/en.yaml: {clip.text!r}"
        last = groups[-1][1] if groups else None
        if last is not None and last & keys:
            last &= keys  # the next sentence of the same note
            continue
        groups.append((clip, set(keys)))
    return [(clip, clip.text if keys is None else _pick(keys, expect)) for clip, keys in groups]


def _pick(keys: set[str], expect: Collection[str]) -> str:
    wanted = sorted(keys & set(expect))
    return wanted[0] if wanted else min(keys)


def labels(clips: Iterable[Clip], expect: Collection[str] = ()) -> list[tuple[str, str]]:
    """Heard items as (kind, label), notes folded (see fold_notes)."""
    return [(clip.kind, label) for clip, label in fold_notes(clips, expect)]


def assert_follows(
    clips: list[Clip],
    start: float,
    plan: BreathingPlan,
    scale: float,
    *,
    until: float | None = None,
) -> None:
    """The clips are exactly the plan's (in order) and each arrived at start + offset x scale.

    `until`: the session was cut (stopped or replaced) at this monotonic time; the clips
    heard must then be a prefix of the plan's, and whatever was left out must not have been
    due before the cut.
    """
    expected = expected_clips(plan)
    heard = fold_notes(clips, {e.text for e in expected if e.kind == "speech"})
    if until is not None:
        left_out = expected[len(heard) :]
        expected = expected[: len(heard)]
        if left_out:
            due = start + left_out[0].offset * scale
            assert due >= until - TOLERANCE, f"{left_out[0]} was due before the cut, never heard"
    got = [(c.kind, label) for c, label in heard]
    want = [(e.kind, e.text) for e in expected]
    assert got == want, _diff(got, want)
    lateness: list[float] = []
    for (clip, label), plan_item in zip(heard, expected, strict=True):
        late = clip.t - (start + plan_item.offset * scale)
        lateness.append(late)
        assert -EARLY <= late <= TOLERANCE, (
            f"{label!r} due at plan second {plan_item.offset:.2f} arrived {late * 1000:+.0f} ms off"
        )
    if lateness:
        typical = statistics.median(lateness)
        assert typical <= TYPICAL, f"clips typically {typical * 1000:.0f} ms late"


def _diff(got: list[tuple[str, str]], want: list[tuple[str, str]]) -> str:
    """Where heard and planned clips part (fakes.py is not rewritten by pytest's assert)."""
    index = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    if index is None:
        index = min(len(got), len(want))
    return (
        f"heard {len(got)} clips, planned {len(want)}; first difference at #{index}: "
        f"heard {got[index : index + 3]}, planned {want[index : index + 3]}"
    )
