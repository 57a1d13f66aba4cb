"""The room around the bed: music that fades, lights that dim, a light that breathes along."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from skill.base.clock import Clock
from skill.base.tasks import Tasks
from skill.config.devices import DeviceSettings, LightLevel
from skill.config.settings import Config
from skill.hermes.messages import Outgoing
from skill.room.commands import (
    DeviceCommand,
    LightPurpose,
    PlayerAction,
    light_commands,
    player_commands,
)

log = logging.getLogger(__name__)

STEP_SECONDS = 0.5
"""One volume step every half second: smooth, and at most two messages a second."""
UNDUCK_HOLD = 0.6
"""Seconds after the voice stops before the music comes back up."""
QUIET_START = 1
"""Volume the music starts at before it fades in (sonos2mqtt takes 1-100)."""


@dataclass
class _Music:
    """The music this skill started on one site."""

    player: DeviceSettings
    """The device playing it."""
    target: int
    """Volume it fades in to."""
    level: int = 0
    """Volume last sent."""
    fade: asyncio.Task[None] | None = None
    """The fade in progress, if any."""
    ducked: int = 0
    """How many voices are speaking over it right now."""
    stopping: bool = False
    """True once it is fading out for good."""
    heard: int = -1
    """Volume actually sent last (after ducking); repeats are not sent."""


@dataclass
class _SiteRoom:
    """Music and lights of one site."""

    music: _Music | None = None
    """Music this skill started, if any."""
    scene: bool = False
    """True while the cool-down light scene is on."""
    lights: set[str] = field(default_factory=set)
    """Lights this skill changed (restored on stop when a restore level is set)."""
    unduck: asyncio.TimerHandle | None = None
    """Pending return of the music after speech."""


Publish = Callable[[Outgoing], None]


class Room:
    """Sends device commands for every site; each site only touches its own devices."""

    def __init__(self, config: Config, publish: Publish, clock: Clock) -> None:
        self._config = config
        self._publish = publish
        self._clock = clock
        self._sites: dict[str, _SiteRoom] = {}
        self._tasks = Tasks("a fade")

    def _site(self, site_id: str) -> _SiteRoom:
        return self._sites.setdefault(site_id, _SiteRoom())

    def music_playing(self, site_id: str) -> bool:
        """True while music this skill started plays on the site."""
        music = self._site(site_id).music
        return music is not None and not music.stopping

    def _send(self, commands: list[DeviceCommand]) -> None:
        for cmd in commands:
            self._publish(Outgoing(cmd.topic, cmd.payload.encode("utf-8")))

    def _player(
        self,
        site_id: str,
        device: DeviceSettings,
        action: PlayerAction,
        *,
        playlist: str = "",
        volume: int = 0,
    ) -> None:
        self._send(
            player_commands(device, action, site_id=site_id, playlist=playlist, volume=volume)
        )

    # Music.

    def play(self, site_id: str, playlist: str, *, soft: bool = False) -> bool:
        """Start the playlist quietly and fade it in (to half the volume when `soft`: one
        person wished for quiet, one for music); False when the site has no player."""
        player = self._config.player_for(site_id)
        if player is None:
            return False
        room = self._site(site_id)
        if room.music is not None and room.music.fade is not None:
            room.music.fade.cancel()
        cooldown = self._config.cooldown
        target = max(QUIET_START, cooldown.volume // 2) if soft else cooldown.volume
        music = _Music(player=player, target=target, level=QUIET_START)
        room.music = music
        self._set_volume(site_id, music, QUIET_START)
        self._player(site_id, player, "play", playlist=playlist, volume=QUIET_START)
        music.fade = self._spawn(self._fade(site_id, music, target, cooldown.fade_in))
        log.info("Cool-down music on site %s (fading in over %.0f s)", site_id, cooldown.fade_in)
        return True

    def stop_music(self, site_id: str, *, fade: bool = True) -> None:
        """Fade out and stop the music this skill started (at once when fade is False)."""
        room = self._site(site_id)
        music = room.music
        if music is None or music.stopping:
            return
        music.stopping = True
        if music.fade is not None:
            music.fade.cancel()
        if room.unduck is not None:
            room.unduck.cancel()
            room.unduck = None
        # Fade out from what is heard now: never louder on the way out.
        music.level, music.ducked = max(QUIET_START, music.heard), 0
        seconds = self._config.cooldown.fade_out if fade else 0.0
        music.fade = self._spawn(self._fade(site_id, music, 0, seconds, then_stop=True))

    async def _fade(
        self, site_id: str, music: _Music, target: int, seconds: float, *, then_stop: bool = False
    ) -> None:
        """Step the volume from its level to `target` on absolute deadlines."""
        start_level = music.level
        steps = max(1, math.ceil(seconds / STEP_SECONDS))
        begin = self._clock.now()
        try:
            for step in range(1, steps + 1):
                await self._clock.sleep_until(self._clock.deadline(begin, step * seconds / steps))
                level = round(start_level + (target - start_level) * step / steps)
                self._set_volume(site_id, music, level)
        finally:
            room = self._site(site_id)
            if then_stop and room.music is music:  # not when new music replaced it meanwhile
                self._player(site_id, music.player, "stop")
                room.music = None

    def _set_volume(self, site_id: str, music: _Music, level: int) -> None:
        music.level = level
        heard = level * self._config.cooldown.duck // 100 if music.ducked else level
        heard = max(QUIET_START, heard)
        if heard != music.heard:
            music.heard = heard
            self._player(site_id, music.player, "volume", volume=heard)

    # Ducking: the music dips while the voice speaks.

    def duck(self, site_id: str) -> None:
        """The voice starts speaking on the site."""
        room = self._site(site_id)
        if room.unduck is not None:
            room.unduck.cancel()
            room.unduck = None
        music = room.music
        if music is None or music.stopping:
            return
        music.ducked += 1
        if music.ducked == 1:
            self._set_volume(site_id, music, music.level)

    def unduck(self, site_id: str) -> None:
        """The voice stopped speaking; the music comes back after a short hold."""
        room = self._site(site_id)
        music = room.music
        if music is None or music.ducked == 0:
            return
        music.ducked -= 1
        if music.ducked == 0 and not music.stopping:
            room.unduck = asyncio.get_running_loop().call_later(
                UNDUCK_HOLD * self._clock.scale,
                lambda: self._set_volume(site_id, music, music.level),
            )

    # Lights.

    def scene(self, site_id: str) -> None:
        """Dim the site's lights to their warm cool-down level (they fade by themselves)."""
        room = self._site(site_id)
        for light in self._config.lights_for(site_id):
            self._light(site_id, light, light.scene, "scene")
            room.lights.add(light.name)
        room.scene = True

    def restore(self, site_id: str) -> None:
        """Bring changed lights back to their restore level, where one is configured."""
        room = self._site(site_id)
        for light in self._config.lights_for(site_id):
            if light.name in room.lights and light.restore is not None:
                self._light(site_id, light, light.restore, "restore")
        room.lights.clear()
        room.scene = False

    def breathe(self, site_id: str, phase: str, seconds: float) -> None:
        """Lights that follow breathing: brighter over the in-breath, dimmer over the out-breath."""
        room = self._site(site_id)
        for light in self._config.lights_for(site_id):
            follow = light.breathing
            if follow is None:
                continue
            if phase in ("inhale", "top-up"):
                level = follow.high
            elif phase == "exhale":
                level = follow.low
            else:
                continue  # holds and rests keep the light where it is
            transition = round(seconds * self._clock.scale, 2)
            color = light.scene.color_temp if light.scene else None
            self._light(site_id, light, LightLevel(level, color, transition), "breathe")
            room.lights.add(light.name)

    def breathing_ended(self, site_id: str) -> None:
        """Lights that followed a session go back to the scene, or to their restore level."""
        room = self._site(site_id)
        for light in self._config.lights_for(site_id):
            if light.breathing is None or light.name not in room.lights:
                continue
            level = light.scene if room.scene else light.restore
            if level is not None:
                self._light(site_id, light, level, "scene" if room.scene else "restore")

    def _light(
        self, site_id: str, light: DeviceSettings, level: LightLevel | None, purpose: LightPurpose
    ) -> None:
        self._send(light_commands(light, level, site_id=site_id, purpose=purpose))

    def need(self, site_id: str, need: str) -> None:
        """Run the device command configured for a need (e.g. blanket: a lamp on low)."""
        action = self._config.needs.get(need)
        if action is not None:
            self._publish(Outgoing(action.topic, action.payload.encode("utf-8")))

    # Whole site.

    def stop(self, site_id: str) -> None:
        """Stop: the music fades out, the lights go back."""
        self.stop_music(site_id)
        self.restore(site_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return self._tasks.spawn(work)

    async def close(self) -> None:
        """Let running fades finish their last message (a restart leaves the music be)."""
        self._tasks.cancel()
        await self._tasks.settle()
