"""The audio endpoint: GET only, offered URLs only, loopback by default, nothing else reachable."""

from __future__ import annotations

import asyncio
import socket
from array import array
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from skill.config.homeassistant import HttpSettings
from skill.voice.audio import wav_bytes
from skill.voice.endpoint import CLIP_TTL, STREAM_GRACE, AudioEndpoint
from skill.voice.stream import LiveStream

RATE = 16000
CLIP = wav_bytes(array("h", [1234] * 800).tobytes(), RATE)


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[AudioEndpoint, FakeTime, aiohttp.ClientSession]]:
    now = FakeTime()
    endpoint = AudioEndpoint(HttpSettings(port=0), now=now)
    await endpoint.serve()
    async with aiohttp.ClientSession() as session:
        try:
            yield endpoint, now, session
        finally:
            await endpoint.close()


def base(endpoint: AudioEndpoint) -> str:
    return f"http://127.0.0.1:{endpoint.port}"


@pytest.mark.asyncio
async def test_it_binds_loopback_unless_told_otherwise(
    served: tuple[AudioEndpoint, FakeTime, aiohttp.ClientSession],
) -> None:
    endpoint, _, _ = served
    assert HttpSettings().host == "127.0.0.1"
    assert endpoint.base_url == f"http://127.0.0.1:{endpoint.port}"
    addresses = {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    outside = sorted(a for a in addresses if not a.startswith("127.") and ":" not in a)
    if outside:  # a machine with another address: nothing answers there
        with pytest.raises(OSError):
            socket.create_connection((outside[0], endpoint.port), timeout=1).close()


@pytest.mark.asyncio
async def test_an_offered_clip_is_served_and_expires(
    served: tuple[AudioEndpoint, FakeTime, aiohttp.ClientSession],
) -> None:
    endpoint, now, session = served
    url = endpoint.offer_clip(CLIP)
    assert url.startswith(f"{endpoint.base_url}/clip/")
    assert url.endswith(".wav")
    token = url.rsplit("/", 1)[1].removesuffix(".wav")
    assert len(token) >= 32  # 24 random bytes: unguessable
    async with session.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/wav"
        assert await response.read() == CLIP
    async with session.get(url) as response:  # a player may fetch twice
        assert response.status == 200
    now.t += CLIP_TTL + 1
    async with session.get(url) as response:
        assert response.status == 404
    assert endpoint.offered == 0


@pytest.mark.asyncio
async def test_two_offers_never_share_a_url(
    served: tuple[AudioEndpoint, FakeTime, aiohttp.ClientSession],
) -> None:
    endpoint, _, _ = served
    urls = {endpoint.offer_clip(CLIP) for _ in range(200)}
    assert len(urls) == 200


HOSTILE = (
    "/",
    "/clip/",
    "/clip/nothing.wav",
    "/clip/../../etc/passwd",
    "/clip/..%2F..%2Fetc%2Fpasswd",
    "/clip/%2e%2e/%2e%2e/etc/passwd",
    "/../../../../etc/passwd",
    "/etc/passwd",
    "/stream/../clip/x.wav",
    "/clip/x.wav/../../../skill/app.py",
    "/static/skill/app.py",
    "/clip/" + "A" * 5000 + ".wav",
    "/clip/%00.wav",
    "/stream/nothing.wav",
)


@pytest.mark.asyncio
@pytest.mark.parametrize("path", HOSTILE)
async def test_a_url_never_offered_is_404_whatever_the_path(
    served: tuple[AudioEndpoint, FakeTime, aiohttp.ClientSession], path: str
) -> None:
    endpoint, _, _ = served
    real = endpoint.offer_clip(CLIP)  # something is on offer: still nothing else is reachable
    token = real.rsplit("/", 1)[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status = answer.split(b"\r\n", 1)[0]
    assert status.split()[1] in (b"404", b"400", b"431"), status
    assert b"root:" not in answer
    assert token.encode() not in answer


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"])
async def test_only_get_is_answered(
    served: tuple[AudioEndpoint, FakeTime, aiohttp.ClientSession], method: str
) -> None:
    endpoint, _, session = served
    url = endpoint.offer_clip(CLIP)
    async with session.request(method, url) as response:
        assert response.status == 405
    async with session.get(url) as response:
        assert response.status == 200


@pytest.mark.asyncio
async def test_a_stream_is_served_while_it_lasts_then_404(
    served: tuple[AudioEndpoint, FakeTime, aiohttp.ClientSession],
) -> None:
    endpoint, now, session = served
    stream = LiveStream(RATE)
    url = endpoint.offer_stream(stream)
    assert "/stream/" in url
    stream.place(CLIP, at=stream.start)
    stream.finish()
    async with session.get(url) as response:
        assert response.status == 200
        body = await response.read()
    assert body[:4] == b"RIFF"
    samples = array("h")
    samples.frombytes(body[44:])
    assert list(samples[:800]) == [1234] * 800
    endpoint.withdraw(stream)
    now.t += STREAM_GRACE + 1
    async with session.get(url) as response:
        assert response.status == 404


@pytest.mark.asyncio
async def test_a_stopped_stream_is_gone_at_once(
    served: tuple[AudioEndpoint, FakeTime, aiohttp.ClientSession],
) -> None:
    endpoint, _, session = served
    stream = LiveStream(RATE)
    url = endpoint.offer_stream(stream)
    stream.stop()
    async with session.get(url) as response:
        assert response.status == 404


@pytest.mark.asyncio
async def test_public_url_is_what_home_assistant_is_given() -> None:
    endpoint = AudioEndpoint(HttpSettings(port=0, public_url="http://192.168.1.20:12180"))
    url = endpoint.offer_clip(CLIP)
    assert url.startswith("http://192.168.1.20:12180/clip/")
    assert AudioEndpoint(HttpSettings(host="::1", port=5)).base_url == "http://[::1]:5"
