"""The audio endpoint Home Assistant fetches the skill's clips and live streams from.

GET only, at unguessable URLs that expire: `/clip/<token>.wav` (a rendered clip, for a
while after it was offered) and `/stream/<token>.wav` (a live session, while it lasts).
Anything else is 404 (405 for another method on a served path). No file is read: the
server knows only what the skill handed it, so no path can reach outside it. It binds
loopback unless `http.host` says otherwise, and logs no URL (a token is a key).

WAV, not FLAC: 16-bit PCM needs no encoder, every sample sits exactly where it was
placed, a block can be sent the moment it is released, and Home Assistant transcodes what
it fetches for the satellite anyway. 44 kB/s on the home network is nothing.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from skill.config.homeassistant import HttpSettings
from skill.voice.stream import LiveStream

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

CLIP_TTL = 600.0
"""Seconds a clip's URL stays valid (a queued announcement may wait behind others)."""
STREAM_GRACE = 30.0
"""Seconds a finished stream's URL stays valid, for a reader that is still catching up."""
_TOKEN_BYTES = 24


@dataclass
class _Offer:
    expires: float
    clip: bytes | None = None
    stream: LiveStream | None = None


class AudioEndpoint:
    """Serves what the skill offers, nothing else; `start` binds, `close` lets go."""

    def __init__(self, settings: HttpSettings, *, now: Callable[[], float] = time.monotonic):
        self._settings = settings
        self._now = now
        self._offers: dict[str, _Offer] = {}
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None
        self.port = settings.port
        """The bound port (the chosen one when `http.port` is 0)."""

    @property
    def base_url(self) -> str:
        """What Home Assistant puts before /clip/... (`http.public_url`, else host:port)."""
        if self._settings.public_url:
            return self._settings.public_url
        host = self._settings.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    def bind(self) -> None:
        """Take the address now (before `online`: a port in use stops the start, with its
        reason); OSError when it cannot. Serving starts later, in `serve`."""
        host, port = self._settings.host, self._settings.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(64)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self.port = int(sock.getsockname()[1])

    async def serve(self) -> None:
        """Serve on the bound address. aiohttp is imported here, in a worker thread (a
        third of a second on a small board): after `online`, and only with a site that
        speaks through Home Assistant."""
        if self._socket is None:
            self.bind()
        await asyncio.to_thread(importlib.import_module, "aiohttp.web")
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/clip/{name}", self._get_clip, allow_head=False)
        app.router.add_get("/stream/{name}", self._get_stream, allow_head=False)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        assert self._socket is not None
        await web.SockSite(runner, self._socket).start()
        log.info("Audio endpoint for Home Assistant on %s", self.base_url)

    async def close(self) -> None:
        """Stop serving; open streams end."""
        for offer in self._offers.values():
            if offer.stream is not None:
                offer.stream.stop()
        self._offers.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def offer_clip(self, wav: bytes) -> str:
        """A URL serving this clip for `CLIP_TTL` seconds."""
        return f"{self.base_url}/clip/{self._offer(_Offer(self._now() + CLIP_TTL, clip=wav))}.wav"

    def offer_stream(self, stream: LiveStream) -> str:
        """A URL serving this live stream while it lasts."""
        token = self._offer(_Offer(float("inf"), stream=stream))
        return f"{self.base_url}/stream/{token}.wav"

    def withdraw(self, stream: LiveStream) -> None:
        """The stream has ended: its URL expires after a grace for a reader catching up."""
        for offer in self._offers.values():
            if offer.stream is stream:
                offer.expires = min(offer.expires, self._now() + STREAM_GRACE)

    @property
    def offered(self) -> int:
        """URLs currently valid."""
        self._expire()
        return len(self._offers)

    def _offer(self, offer: _Offer) -> str:
        self._expire()
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        self._offers[token] = offer
        return token

    def _expire(self) -> None:
        now = self._now()
        for token in [t for t, offer in self._offers.items() if offer.expires <= now]:
            del self._offers[token]

    def _find(self, name: str) -> _Offer | None:
        if not name.endswith(".wav"):
            return None
        self._expire()
        return self._offers.get(name.removesuffix(".wav"))

    async def _get_clip(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        offer = self._find(request.match_info["name"])
        if offer is None or offer.clip is None:
            raise web.HTTPNotFound
        return web.Response(body=offer.clip, content_type="audio/wav")

    async def _get_stream(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        offer = self._find(request.match_info["name"])
        if offer is None or offer.stream is None or offer.stream.stopped:
            raise web.HTTPNotFound
        response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            async for chunk in offer.stream.read():
                await response.write(chunk)
        except (ConnectionResetError, ConnectionError):
            log.debug("A stream reader went away")
            return response
        await response.write_eof()
        return response
