"""Assembles the running skill from a Config: broker, voice, cache, MQTT link, handlers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Self

from skill.assets import Assets, load_assets
from skill.base.clock import Clock
from skill.base.errors import BrokerError, VoiceError
from skill.breathing.runner import BreathingRunner
from skill.care.followup import local_zone
from skill.care.reminders import Reminders
from skill.care.replies import where_help_is
from skill.care.worker import StoreThread
from skill.config.settings import Config
from skill.hermes.broker import EmbeddedBroker
from skill.hermes.dialogue import Dialogues
from skill.hermes.messages import Outgoing
from skill.hermes.mqtt import MqttLink
from skill.room.room import Room
from skill.room.status import StatusBoard
from skill.routines.runner import RoutineRunner
from skill.service import Skill
from skill.site.checkins import CheckIns
from skill.site.memory import Memory, utc_now
from skill.site.sites import Sites
from skill.voice.output import Listener, Output
from skill.voice.piper import ClipCache, PiperSynthesizer, Synthesizer, split_sentences

log = logging.getLogger(__name__)

WARM_UP_TEXT = "Hello."
READY_TIMEOUT = 30.0


def freeze_heap() -> None:
    """Collect once, then keep everything loaded so far out of later collections.

    The voice, the recognizer and the responses leave some 46,000 long-lived objects;
    a full collection walks them all and holds the event loop 15-30 ms, which is a
    breathing cue heard late. Frozen, they are skipped: later full collections see only
    what the running skill made since (well under a millisecond). `thaw_heap` undoes it.
    """
    gc.collect()
    gc.freeze()


def thaw_heap() -> None:
    """Hand frozen objects back to the collector, so nothing of a closed Runtime lingers.

    Process-wide: with two Runtimes in one process (tests, benchmarks), closing one
    thaws the other too, which then only runs with ordinary collections.
    """
    gc.unfreeze()


def project_dir() -> Path:
    """Folder holding intents/ and responses/ (the repo, or the installed package's data)."""
    package = Path(__file__).resolve().parent
    installed = package / "data"
    return installed if (installed / "responses").is_dir() else package.parent


async def _render_all(clips: ClipCache, texts: Sequence[str], max_chars: int) -> None:
    """Render every fixed prompt in the background, one sentence at a time.

    One sentence per executor job, so a live request waits for at most one of these.
    """
    rendered = clips.renders
    for text in texts:
        for sentence in split_sentences(text, max_chars):
            await clips.clip(sentence)
    log.info("Pre-rendered every fixed prompt (%d new clips)", clips.renders - rendered)


def assemble(
    config: Config,
    assets: Assets,
    *,
    publish: Callable[[Outgoing], None],
    clips: ClipCache | None,
    clock: Clock,
    memory: Memory,
    listener: Listener | None = None,
) -> Skill:
    """Wire the skill's parts together (no MQTT, no broker: those are the Runtime's)."""
    room = Room(config, publish, clock)
    output = Output(
        publish,
        clips,
        engine=config.voice.engine,
        volume=config.voice.volume,
        time_scale=clock.scale,
        listener=listener,
        voice_hook=lambda site, speaking: room.duck(site) if speaking else room.unduck(site),
    )
    output.max_chars = config.voice.max_sentence_chars
    status = StatusBoard(config, publish)
    dialogues = Dialogues(publish)
    breathing = BreathingRunner(
        patterns=assets.patterns,
        responses=assets.responses,
        cues=assets.cue_texts(),
        chimes=assets.chimes,
        speech_seconds=assets.speech_seconds,
        style=config.breathing.style,
        output=output,
        clock=clock,
        room=room,
        status=status,
    )
    checkins = CheckIns(
        responses=assets.responses,
        output=output,
        dialogues=dialogues,
        chimes=assets.chimes,
        own_voice=config.voice.engine == "piper",
    )
    routines = RoutineRunner(
        routines=assets.routines,
        responses=assets.responses,
        breathing=breathing,
        ask=checkins.ask,
        output=output,
        room=room,
        clock=clock,
        playlist=config.cooldown.playlist,
    )
    sites = Sites(
        config,
        responses=assets.responses,
        output=output,
        breathing=breathing,
        routines=routines,
        checkins=checkins,
        room=room,
        status=status,
        memory=memory,
    )
    return Skill(
        config,
        sites=sites,
        output=output,
        room=room,
        status=status,
        dialogues=dialogues,
        publish=publish,
    )


def store_path(config: Config) -> Path:
    """The private database of preferences and follow-ups."""
    return config.data_dir / "aftercare.sqlite3"


def load_synthesizer(config: Config) -> Synthesizer | None:
    """The Piper voice for engine `piper`, None for engine `hermes`.

    VoiceError when the voice cannot load, unless voice.fallback is `hermes`: then a
    warning, and None (the caller speaks through hermes/tts/say; see `speaking_config`).
    """
    if config.voice.engine != "piper":
        return None
    try:
        return PiperSynthesizer(config.voice)
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


class Runtime:
    """The whole skill, started and stopped as one async context manager."""

    def __init__(
        self,
        config: Config,
        *,
        time_scale: float = 1.0,
        listener: Listener | None = None,
        synthesizer: Synthesizer | None = None,
        cache: bool = True,
    ) -> None:
        self.config = config
        self.clock = Clock(time_scale)
        self._listener = listener
        self._synth_override = synthesizer
        self._use_disk_cache = cache
        self._broker: EmbeddedBroker | None = None
        self._link: MqttLink | None = None
        self._clips: ClipCache | None = None
        self._warm: asyncio.Task[None] | None = None
        self.skill: Skill | None = None
        """The running skill, once started."""
        self.room: Room | None = None
        """Music and lights, once started."""
        self.reminders: Reminders | None = None
        """Follow-ups people asked for, once started."""
        self._store: StoreThread | None = None
        self.host = config.mqtt.host
        """Broker host actually used."""
        self.port = config.mqtt.port
        """Broker port actually used."""
        self.startup_seconds = 0.0
        """From start to subscribed and `online`."""
        self._stack = contextlib.AsyncExitStack()
        """What _start opened, closed in reverse order, each part even when another fails."""

    @property
    def broker_kind(self) -> str:
        """`mosquitto` or `amqtt` for the embedded broker, `external` otherwise."""
        return self._broker.kind if self._broker is not None else "external"

    @property
    def link(self) -> MqttLink | None:
        """The MQTT link, once started (read-only: for tests and diagnostics)."""
        return self._link

    @property
    def status_topic(self) -> str:
        """<prefix>/status: retained online/offline."""
        return f"{self.config.mqtt.topic_prefix}/status"

    async def __aenter__(self) -> Self:
        started = time.perf_counter()
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        self.startup_seconds = time.perf_counter() - started
        log.info("Aftercare is online (%.0f ms from start)", self.startup_seconds * 1000)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        if config.mqtt.embedded:
            broker = self._broker = EmbeddedBroker(port=config.mqtt.port or None)
            await broker.__aenter__()
            self._stack.push_async_callback(
                _quietly, functools.partial(asyncio.to_thread, broker.stop)
            )
            self.host, self.port = broker.host, broker.port
        synth = self._synth_override
        if synth is None and config.voice.engine == "piper":
            synth = await loop.run_in_executor(None, load_synthesizer, config)
            config = self.config = speaking_config(config, synth)
        assets: Assets = await loop.run_in_executor(None, load_assets, config, project_dir())
        if synth is not None:
            folder = config.data_dir / "cache" if self._use_disk_cache else None
            clips = self._clips = ClipCache(synth, folder)
            self._stack.callback(clips.close)
            await loop.run_in_executor(None, clips.render_now, WARM_UP_TEXT)
            where = {"where": where_help_is(config.emergency_number)}
            await loop.run_in_executor(
                None, assets.prerender, clips, config.voice.max_sentence_chars, where
            )
        store = self._store = await StoreThread.open(store_path(config))
        self._stack.push_async_callback(store.close)
        # The link goes after the skill and the room have closed: their last messages
        # (the music fading, the state going idle) still need it.
        self._stack.push_async_callback(self._stop_link)
        memory = Memory(
            self._store,
            tz=local_zone(config.timezone),
            morning=config.morning,
            tonight=config.tonight,
        )
        self.skill = assemble(
            config,
            assets,
            publish=self._publish,
            clips=self._clips,
            clock=self.clock,
            memory=memory,
            listener=self._listener,
        )
        self.room = self.skill.room
        self._stack.push_async_callback(self.room.close)
        self._stack.push_async_callback(self.skill.close)
        status = self.skill.status
        await memory.load()
        self.reminders = Reminders(store, self.skill.deliver_followup, utc_now, self.clock)
        self._stack.push_async_callback(self.reminders.close)
        memory.on_schedule = self.reminders.changed
        # Before the link: no message can arrive while the one collection runs.
        freeze_heap()
        self._stack.callback(thaw_heap)
        self._link = MqttLink(
            config.mqtt,
            host=self.host,
            port=self.port,
            subscriptions=self.skill.subscriptions(),
            on_message=self.skill.on_message,
            status_topic=self.status_topic,
            on_connected=status.announce,
        )
        await self._link.start()
        level = logging.WARNING
        while True:
            try:
                await self._link.wait_ready(READY_TIMEOUT)
                break
            except BrokerError as err:
                if config.mqtt.embedded or self._link.refused:
                    raise
                # Said once; every READY_TIMEOUT after that only at DEBUG: a broker that
                # stays away for hours must not fill the log with the same line.
                log.log(level, "%s; still trying", err)
                level = logging.DEBUG
        self.reminders.start()
        if self._clips is not None:
            self._warm = asyncio.get_running_loop().create_task(
                _render_all(
                    self._clips, assets.responses.all_texts(), config.voice.max_sentence_chars
                )
            )
            self._stack.push_async_callback(_cancelled, self._warm)

    def _publish(self, message: Outgoing) -> None:
        if self._link is not None:
            self._link.publish(message.topic, message.payload, retain=message.retain)

    async def _stop_link(self) -> None:
        if self._link is not None:
            await self._link.stop()


async def _quietly(close: Callable[[], Awaitable[None]]) -> None:
    """A close whose failure must not keep the rest from closing (it is logged)."""
    try:
        await close()
    except Exception:
        log.warning("A part did not close cleanly", exc_info=True)


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel a task and wait until it has ended."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
