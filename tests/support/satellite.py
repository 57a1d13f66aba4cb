"""A stand-in for Home Assistant and its voice satellite, as the skill's topics see them.

It does what the package from `aftercare homeassistant` makes Home Assistant do, and what
the satellite then does with a URL: on `<prefix>/<site>/speak` it fetches the clip (as
`assist_satellite.announce` does), checks that it decodes, "plays" it for its length in
the test's time scale and publishes `finished`; on `play` it reads the live stream to its
end in a task of its own; on `ask` it fetches the question and publishes the next
scripted answer on `answer`; on `stop` it notes the stop. Everything it fetched is kept
for the test to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
import wave
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from support.fakes import Bedside
from support.mqtt_recorder import Received

ERROR = "<error>"
"""A scripted answer: the question failed (the satellite was busy)."""
NOTHING = "<nothing>"
"""A scripted answer: nothing was heard."""


@dataclass
class Fetched:
    """One message of the skill and what its URL served."""

    t: float
    """time.monotonic() when the message arrived."""
    kind: str
    """speak, play, ask or stop."""
    body: dict[str, Any]
    """The message."""
    wav: bytes = b""
    """What the URL served (a stream: all of it, once it has ended)."""
    ended: float | None = None
    """For a stream: when it closed."""
    status: int = 0
    """HTTP status of the fetch."""


@dataclass
class StandInSatellite:
    """Home Assistant with one satellite on `site`, driven by the skill's topics."""

    bs: Bedside
    site: str
    answers: list[str] = field(default_factory=list)
    """Scripted answers to the check-in questions, first first."""
    prefix: str = "aftercare"
    fetched: list[Fetched] = field(default_factory=list)
    """Every message served, in order."""
    _handled: set[Received] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    _streams: list[asyncio.Task[None]] = field(default_factory=list)
    _session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> StandInSatellite:
        self._session = aiohttp.ClientSession()
        self._task = asyncio.get_running_loop().create_task(self._serve())
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in [*self._streams, *([self._task] if self._task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    def of(self, kind: str) -> list[Fetched]:
        """Everything of one kind, in order."""
        return [f for f in self.fetched if f.kind == kind]

    async def streams_done(self, timeout: float = 30.0) -> None:
        """Wait until every stream has been read to its end."""
        await asyncio.wait_for(asyncio.gather(*self._streams), timeout)

    def _new(self, message: Received) -> bool:
        parts = message.topic.split("/")
        return (
            len(parts) == 3
            and parts[0] == self.prefix
            and parts[1] == self.site
            and parts[2] in ("speak", "play", "ask", "stop")
            and message not in self._handled
        )

    async def _serve(self) -> None:
        while True:
            try:  # waits on a worker thread: no polling on the skill's event loop
                message = await asyncio.to_thread(self.bs.recorder.wait_for, self._new, 0.25)
            except AssertionError:
                continue
            self._handled.add(message)
            kind = message.topic.rsplit("/", 1)[1]
            item = Fetched(message.t, kind, json.loads(message.payload))
            self.fetched.append(item)
            if kind == "speak":
                await self._announce(item)
            elif kind == "play":
                self._streams.append(asyncio.create_task(self._read_stream(item)))
            elif kind == "ask":
                await self._ask(item)

    async def _get(self, item: Fetched) -> None:
        assert self._session is not None
        async with self._session.get(item.body["url"]) as response:
            item.status = response.status
            item.wav = await response.read()

    async def _announce(self, item: Fetched) -> None:
        await self._get(item)
        assert item.status == 200, item.body
        seconds = wav_seconds(item.wav)
        await asyncio.sleep(seconds * self.bs.scale)  # "plays" it, in the test's time
        await self._reply("finished", {"id": item.body["id"]})

    async def _read_stream(self, item: Fetched) -> None:
        await self._get(item)
        item.ended = time.monotonic()

    async def _ask(self, item: Fetched) -> None:
        await self._get(item)
        assert item.status == 200
        answer = self.answers.pop(0) if self.answers else NOTHING
        reply: dict[str, Any] = {"id": item.body["id"], "answer": None, "slots": {}}
        if answer == ERROR:
            reply |= {"sentence": None, "error": True}
        elif answer == NOTHING:
            reply["sentence"] = None
        else:
            reply |= {"answer": "heard", "sentence": answer, "slots": {"heard": answer}}
        await self._reply("answer", reply)

    async def _reply(self, kind: str, body: dict[str, Any]) -> None:
        await self.bs.publish(f"{self.prefix}/{self.site}/{kind}", json.dumps(body))


def wav_seconds(wav: bytes) -> float:
    """Length of a complete WAV file."""
    with wave.open(io.BytesIO(wav), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


def stream_samples(data: bytes) -> tuple[int, array[int]]:
    """(sample rate, samples) of a live stream: a 44-byte header of unknown length, then PCM."""
    assert data[:4] == b"RIFF", "not a RIFF stream"
    assert data[8:12] == b"WAVE", "not a WAV stream"
    assert data[36:40] == b"data", "not a plain 44-byte PCM header"
    rate = int.from_bytes(data[24:28], "little")
    assert int.from_bytes(data[34:36], "little") == 16, "not 16-bit"
    samples = array("h")
    samples.frombytes(data[44 : 44 + (len(data) - 44) // 2 * 2])
    return rate, samples


def clip_samples(wav: bytes) -> array[int]:
    """The samples of a complete 16-bit mono WAV."""
    with wave.open(io.BytesIO(wav), "rb") as reader:
        out = array("h")
        out.frombytes(reader.readframes(reader.getnframes()))
        return out


def find(samples: array[int], clip: Iterable[int], near: int, within: int) -> int | None:
    """The offset within `within` samples of `near` where `clip` starts exactly, or None."""
    wanted = array("h", clip)
    head = wanted[:32]
    for delta in sorted(range(-within, within + 1), key=abs):
        at = near + delta
        if at < 0 or samples[at : at + len(head)] != head:
            continue
        if samples[at : at + len(wanted)] == wanted:
            return at
    return None
