"""`aftercare demo`: embedded broker, the skill, a local bedside speaker, a live transcript."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as paho

from skill.app import Runtime, project_dir
from skill.assets import load_recognizer
from skill.config.settings import Config
from skill.demo.sessions import DemoSessions
from skill.demo.speaker import BedsideSpeaker, ClipEvent
from skill.hermes.client import new_client
from skill.hermes.messages import intent_topic
from skill.language.nlu import Recognizer
from skill.service import Skill
from skill.voice.output import Spoken

SITE = "bedroom"


class Transcript:
    """Prints what the speaker says and what goes to devices, with plan-time stamps."""

    def __init__(self, scale: float) -> None:
        self._start = time.monotonic()
        self._scale = scale
        # Lines come from the event loop and from the speaker's and devices' MQTT threads.
        self._lock = threading.Lock()

    def restart(self) -> None:
        """Count time from now (called once the skill is ready)."""
        self._start = time.monotonic()

    def line(self, who: str, text: str) -> None:
        """Print one transcript line."""
        seconds = (time.monotonic() - self._start) / self._scale
        line = f"[{int(seconds // 60):02d}:{seconds % 60:04.1f}] {who:<8} {text}\n"
        with self._lock:  # one whole line at a time: print() writes the newline apart
            sys.stdout.write(line)
            sys.stdout.flush()

    def spoken(self, event: Spoken) -> None:
        """A clip or text went to the speaker."""
        if event.kind == "chime":
            self.line("chime", f"~ {event.text} ~")
        else:
            self.line("speaker" if event.kind == "speech" else "cue", event.text)


def _device_watch(config: Config, host: str, port: int, transcript: Transcript) -> paho.Client:
    topics = sorted({a.topic for d in config.devices for a in d.actions.values()})
    names = {a.topic: d.name for d in config.devices for a in d.actions.values()}
    client = new_client("aftercare-demo-watch")

    def on_connect(c: paho.Client, *_: Any) -> None:
        for topic in topics:
            c.subscribe(topic)

    def on_message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        device = names.get(msg.topic, "?")
        transcript.line(
            "device", f"-> {device}: {msg.topic} {msg.payload.decode(errors='replace')}"
        )

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    return client


async def _demo(
    config: Config,
    *,
    says: Sequence[str],
    time_scale: float,
    output: Literal["auto", "soundcard", "folder"],
    folder: Path,
    gap: float | None,
) -> int:
    transcript = Transcript(time_scale)
    recognizer = load_recognizer(config, project_dir())
    print("Starting Aftercare (embedded broker, Piper voice)...", flush=True)
    async with Runtime(config, time_scale=time_scale, listener=transcript.spoken) as runtime:
        assert runtime.skill is not None
        skill = runtime.skill

        def on_clip(event: ClipEvent) -> None:
            if event.path is not None and event.index == 1:
                transcript.line("audio", f"no sound card: clips are written to {folder}/")

        speaker = BedsideSpeaker(
            runtime.host,
            runtime.port,
            SITE,
            output=output,
            folder=folder,
            time_scale=time_scale,
            on_clip=on_clip,
        )
        speaker.start()
        watch = _device_watch(config, runtime.host, runtime.port, transcript)
        sessions = DemoSessions(runtime.host, runtime.port, SITE)
        publisher = new_client("aftercare-demo")
        publisher.connect(runtime.host, runtime.port)
        publisher.loop_start()
        transcript.restart()
        print(
            f"Ready in {runtime.startup_seconds:.1f} s: {runtime.broker_kind} broker on "
            f"{runtime.host}:{runtime.port}; the bedside speaker is site '{SITE}' "
            f"({speaker.output_kind}).",
            flush=True,
        )
        try:
            if says and not runtime.first_lines.is_set():
                # A script is said at once: let the voice say its first lines, so the
                # transcript shows the voice rather than the chimes that stand in for it.
                print("The voice is warming up (the first start renders its lines once)...")
                began = time.monotonic()
                await runtime.voice_started()
                print(f"The voice is ready ({time.monotonic() - began:.1f} s).", flush=True)
                transcript.restart()
            if says:
                for text in says:
                    _send(recognizer, publisher, text, transcript, sessions)
                    await _settle(skill, gap, time_scale, sessions)
            else:
                if not runtime.first_lines.is_set():
                    print("(The voice is still warming up: until it is, chimes answer for it.)")
                await _interactive(recognizer, publisher, transcript, sessions)
        finally:
            sessions.close()
            publisher.loop_stop()
            publisher.disconnect()
            watch.loop_stop()
            watch.disconnect()
            await asyncio.sleep(0.3)
            speaker.stop()
    return 0


def _send(
    recognizer: Recognizer,
    client: paho.Client,
    text: str,
    transcript: Transcript,
    sessions: DemoSessions,
) -> None:
    transcript.line("you", text)
    answered = sessions.answer(recognizer, text)
    if answered == "unrecognized":
        transcript.line("(nlu)", "not one of the answers this question listens for")
    if answered != "no question":
        return  # it answered the question that was listening
    intent = recognizer.recognize(text, site_id=SITE, session_id=str(uuid.uuid4()))
    if intent is None:
        transcript.line(
            "(nlu)",
            "not an Aftercare request; try: start aftercare, start breathing, play cool-down, stop",
        )
        return
    client.publish(intent_topic(intent.intent.intent_name), intent.payload(), qos=1)


async def _settle(skill: Skill, gap: float | None, scale: float, sessions: DemoSessions) -> None:
    """Wait before the next scripted line: `gap`, or until the site is idle again or a
    question listens for an answer (the next line answers it)."""
    await asyncio.sleep(0.3)
    if gap is not None:
        await asyncio.sleep(gap * scale)
        return
    idle = asyncio.ensure_future(skill.idle(SITE))
    try:
        while not idle.done() and not sessions.listening:
            await asyncio.wait([idle], timeout=0.05)
    finally:
        idle.cancel()
    if not sessions.listening:
        await asyncio.sleep(max(0.5, 3 * scale))


async def _interactive(
    recognizer: Recognizer, client: paho.Client, transcript: Transcript, sessions: DemoSessions
) -> None:
    print('Type what you would say (e.g. "start breathing", "stop"); "quit" to leave.', flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip().lower() in ("quit", "exit"):
            return
        if line.strip():
            _send(recognizer, client, line.strip(), transcript, sessions)


def run_demo(
    config: Config,
    *,
    says: Sequence[str],
    time_scale: float,
    output: Literal["auto", "soundcard", "folder"],
    folder: Path,
    gap: float | None = None,
) -> int:
    """Run the demo on the embedded broker whatever mqtt.host says."""
    demo_config = dataclasses.replace(
        config, mqtt=dataclasses.replace(config.mqtt, host="embedded", port=0), sites=()
    )
    try:
        return asyncio.run(
            _demo(
                demo_config, says=says, time_scale=time_scale, output=output, folder=folder, gap=gap
            )
        )
    except KeyboardInterrupt:
        return 130
