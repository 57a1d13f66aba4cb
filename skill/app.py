"""Assembles the running skill from a Config: broker, voice, cache, MQTT link, handlers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from skill.assets import (
    FIRST,
    TIMED,
    Assets,
    load_assets,
    load_synthesizer,
    prompt_values,
    second_look,
    speaking_config,
)
from skill.base.clock import Clock
from skill.base.errors import BrokerError, VoiceError
from skill.base.interpreter import freeze_heap, quick_handoff, thaw_heap
from skill.base.tasks import cancelled, quietly
from skill.breathing.runner import BreathingRunner
from skill.care.followup import local_zone
from skill.care.reminders import Reminders
from skill.care.worker import StoreThread
from skill.config.settings import Config
from skill.hermes.broker import EmbeddedBroker
from skill.hermes.dialogue import Dialogues
from skill.hermes.messages import Outgoing
from skill.hermes.mqtt import MqttLink
from skill.language.second_look import SecondLook
from skill.room.room import Room
from skill.room.status import StatusBoard
from skill.routines.runner import RoutineRunner
from skill.service import Skill
from skill.site.checkins import CheckIns
from skill.site.memory import Memory, utc_now
from skill.site.sites import Sites
from skill.voice.chimes import CHIME_RATE
from skill.voice.clips import ClipCache
from skill.voice.output import Listener, Output
from skill.voice.piper import Synthesizer
from skill.voice.satellites import Satellites, start_satellites

log = logging.getLogger(__name__)

READY_TIMEOUT = 30.0


def project_dir() -> Path:
    """Folder holding intents/ and responses/ (the repo, or the installed package's data)."""
    package = Path(__file__).resolve().parent
    installed = package / "data"
    return installed if (installed / "responses").is_dir() else package.parent


def _ms_since(began: float) -> float:
    return (time.perf_counter() - began) * 1000


def assemble(
    config: Config,
    assets: Assets,
    *,
    publish: Callable[[Outgoing], None],
    clips: ClipCache | None,
    clock: Clock,
    memory: Memory,
    listener: Listener | None = None,
    second_look: SecondLook | None = None,
    satellites: Satellites | None = None,
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
        stand_in=assets.chimes["soft"],
        satellites=satellites,
    )
    output.max_chars = config.voice.max_sentence_chars
    status = StatusBoard(config, publish)
    dialogues = Dialogues(publish, time_scale=clock.scale)
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
        second_look=second_look,
        satellites=satellites,
    )


def store_path(config: Config) -> Path:
    """The private database of preferences and follow-ups."""
    return config.data_dir / "aftercare.sqlite3"


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
        self.first_lines = asyncio.Event()
        """Set once the voice can say the stop reply, the breathing cues and the usual
        session's and every routine's first line (the rest follows in the background)."""
        self.timed = asyncio.Event()
        """Set once every line a breathing session times is rendered and measured too."""
        self.failed = asyncio.Event()
        """Set when the skill cannot go on serving (the voice failed to load after all)."""
        self.error: VoiceError | None = None
        """Why, when `failed` is set."""
        self._stack = contextlib.AsyncExitStack()
        """What _start opened, closed in reverse order, each part even when another fails."""

    @property
    def broker_kind(self) -> str:
        """`mosquitto` or `amqtt` for the embedded broker, `external` otherwise."""
        return self._broker.kind if self._broker is not None else "external"

    @property
    def clips(self) -> ClipCache | None:
        """The voice's clips, once started with the own voice (read-only: tests, benchmarks)."""
        return self._clips

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
        self._stack.callback(sys.setswitchinterval, quick_handoff())
        if config.mqtt.embedded:
            broker = self._broker = EmbeddedBroker(port=config.mqtt.port or None)
            await broker.__aenter__()
            self._stack.push_async_callback(
                quietly, functools.partial(asyncio.to_thread, broker.stop)
            )
            self.host, self.port = broker.host, broker.port
        synth = self._synth_override
        if synth is None and config.voice.engine == "piper":
            synth = load_synthesizer(config)  # files checked now; the model loads later
            config = self.config = speaking_config(config, synth)
        assets = await loop.run_in_executor(None, load_assets, config, project_dir())
        if synth is not None:
            folder = config.data_dir / "cache" if self._use_disk_cache else None
            clips = self._clips = ClipCache(synth, folder)
            clips.warming = True
            self._stack.callback(clips.close)
        store = self._store = await StoreThread.open(store_path(config))
        self._stack.push_async_callback(store.close)
        # The link closes after the skill and the room: their last messages still need it.
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
            second_look=second_look(config, project_dir()),
            satellites=start_satellites(
                config,
                self._publish,
                self._stack,
                synth.sample_rate if synth is not None else CHIME_RATE,
            ),
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
        self.skill.prepare()
        if self._clips is not None:
            self._warm = loop.create_task(self._warm_up(self._clips, assets, time.perf_counter()))
            self._stack.push_async_callback(cancelled, self._warm)

    async def _warm_up(self, clips: ClipCache, assets: Assets, online: float) -> None:
        """After `online`: load the voice, then bring every fixed prompt in, most urgent
        first (stop, the breathing cues, first lines, help, the rest). Until a clip is
        there, the skill answers with chimes in its place (voice/output.py)."""
        config = self.config
        try:
            await clips.load_voice()
            log.info("The voice is loaded (%.0f ms after online)", _ms_since(online))
            renders = await assets.warm_up(
                clips,
                config.voice.max_sentence_chars,
                prompt_values(config),
                done=lambda stage: self._stage_done(stage, online),
            )
        except VoiceError as err:
            self._voice_failed(err)
            return
        finally:
            clips.warming = False
        # Keep the pinned clips and what the warm-up left for good out of later collections
        # too (freezing alone costs nothing; the one collection ran before online).
        freeze_heap(collect=False)
        log.info(
            "Every fixed prompt is ready (%d rendered, %.1f s after online)",
            renders,
            _ms_since(online) / 1000,
        )

    def _stage_done(self, stage: int, online: float) -> None:
        if stage == FIRST:
            log.info(
                "The stop reply, breathing cues and first lines are ready (%.1f s after online)",
                _ms_since(online) / 1000,
            )
            self.first_lines.set()
        elif stage == TIMED:
            self.timed.set()

    def _voice_failed(self, err: VoiceError) -> None:
        """The voice could not load or render after all: speak as text, or stop serving."""
        if self.config.voice.fallback == "hermes" and self.skill is not None:
            log.warning("%s. Speaking through hermes/tts/say instead (voice.fallback: hermes)", err)
            self.config = speaking_config(self.config, None)
            self.skill.output.speak_as_text()
            return
        log.error("%s", err)
        self.error = err
        self.failed.set()

    async def voice_ready(self) -> None:
        """Wait until the voice has loaded and every fixed prompt is ready (tests, benchmarks)."""
        if self._warm is not None:
            await asyncio.shield(self._warm)

    async def voice_started(self, ready: asyncio.Event | None = None) -> None:
        """Wait until the voice can say what comes first (`first_lines`, or the event
        given), or has failed."""
        event = ready or self.first_lines
        if self._warm is None or self._warm.done():
            return
        waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._warm)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waits[0].cancel()

    def _publish(self, message: Outgoing) -> None:
        if self._link is not None:
            self._link.publish(message.topic, message.payload, retain=message.retain)

    async def _stop_link(self) -> None:
        if self._link is not None:
            await self._link.stop()
