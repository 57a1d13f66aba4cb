"""Typed settings: what config.yaml resolves to, every key with its default (see loader.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, Literal

from skill.base.vocabulary import CueStyle
from skill.config.devices import DeviceAction, DeviceSettings
from skill.config.homeassistant import HaSettings, HttpSettings

ENGINES = ("piper", "hermes")
FALLBACKS = ("none", "hermes")
MORNING = time(9, 0)
TONIGHT = time(21, 0)
MAX_SENTENCE_CHARS = 300
"""Longest sentence sent to the synthesizer at once; longer ones are split."""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class TlsSettings:
    """TLS towards the broker; every path is a PEM file."""

    ca_file: Path | None = None
    """CA certificate that signed the broker's certificate."""
    cert_file: Path | None = None
    """Client certificate, when the broker asks for one."""
    key_file: Path | None = None
    """Private key of the client certificate."""


@dataclass(frozen=True)
class MqttSettings:
    """How to reach the broker."""

    host: str = "embedded"
    """Broker host name, or `embedded` to start a private broker on 127.0.0.1."""
    port: int = 1883
    """Broker port; with `embedded`, 0 picks a free port."""
    username: str | None = None
    """User name for the broker, if it asks for one."""
    password_env: str | None = None
    """Name of the environment variable that holds the password."""
    password_file: Path | None = None
    """File whose first line is the password (kept 0600)."""
    tls: TlsSettings | None = None
    """TLS settings; None for plaintext."""
    topic_prefix: str = "aftercare"
    """Prefix of the skill's own topics (`<prefix>/status`)."""
    keepalive: int = 30
    """MQTT keepalive in seconds."""

    @property
    def embedded(self) -> bool:
        """True when the skill starts its own broker."""
        return self.host == "embedded"

    def password(self) -> str | None:
        """The broker password from the environment or a file; never from config text."""
        if self.password_env:
            return os.environ.get(self.password_env)
        if self.password_file:
            return self.password_file.read_text(encoding="utf-8").splitlines()[0].strip()
        return None


@dataclass(frozen=True)
class VoiceSettings:
    """How the skill speaks."""

    engine: Literal["piper", "hermes"] = "piper"
    """`piper`: own voice as WAV clips on playBytes; `hermes`: text on hermes/tts/say."""
    model: str = "bundled"
    """`bundled` (en_US joe, medium) or a path to a Piper .onnx voice."""
    speed: float = 0.9
    """Speaking rate; 1.0 is the voice's own pace, lower is slower and calmer."""
    volume: float = 0.8
    """Loudness of the synthesized voice, 0.1 to 1.0."""
    max_sentence_chars: int = MAX_SENTENCE_CHARS
    """Longest sentence sent to the synthesizer (bounds memory and latency)."""
    fallback: Literal["none", "hermes"] = "none"
    """When the Piper voice cannot load: `none` refuses to start, `hermes` speaks through
    hermes/tts/say (the voice stack's own TTS) instead."""


@dataclass(frozen=True)
class BreathingSettings:
    """Defaults for guided breathing."""

    pattern: str = "settle"
    """Pattern used when none is asked for."""
    minutes: float = 3.0
    """Session length when none is asked for, 1 to 60."""
    style: CueStyle = CueStyle.VOICE
    """How phases are marked: spoken cue, chime, both, or words first then chimes."""
    patterns: Mapping[str, Any] = field(default_factory=dict)
    """User-defined patterns (validated by skill.patterns)."""


@dataclass(frozen=True)
class CooldownSettings:
    """The cool-down music."""

    playlist: str = "Cool down"
    """Playlist started by "play cool-down" when none is named."""
    playlists: tuple[str, ...] = ()
    """Other playlists people may ask for by name."""
    volume: int = 25
    """Player volume (0-100) for the cool-down music."""
    device: str | None = None
    """Name of the player device; default: the first player that serves the site."""
    fade_in: float = 25.0
    """Seconds the music takes to rise from quiet to `volume`."""
    fade_out: float = 6.0
    """Seconds the music takes to fade away on stop."""
    duck: int = 40
    """While the voice speaks, the music dips to this percentage of `volume`."""

    @property
    def names(self) -> tuple[str, ...]:
        """Every playlist people may name: the default first, each once."""
        return (self.playlist, *(p for p in self.playlists if p != self.playlist))


@dataclass(frozen=True)
class Config:
    """Everything the skill needs to run."""

    path: str = "<defaults>"
    """File the settings came from (named in every error)."""
    language: str = "en"
    """Language of intents/ and responses/."""
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    """Broker settings."""
    sites: tuple[str, ...] = ()
    """Allowlist of site ids; empty = every site."""
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    """Voice settings."""
    breathing: BreathingSettings = field(default_factory=BreathingSettings)
    """Breathing defaults."""
    devices: tuple[DeviceSettings, ...] = ()
    """Devices the skill may command."""
    cooldown: CooldownSettings = field(default_factory=CooldownSettings)
    """Cool-down music settings."""
    safewords: tuple[str, ...] = ("red",)
    """Words that act exactly like "stop", everywhere (`safewords.stop`)."""
    caution_words: tuple[str, ...] = ("yellow",)
    """Words that pause everything and ask how everyone is (`safewords.caution`)."""
    emergency_number: str | None = None
    """The local emergency number, digits only, spoken digit by digit (`care.emergency_number`)."""
    min_confidence: float = 1.0
    """Intents recognized with less confidence are ignored (`nlu.min_confidence`): Rhasspy's
    fuzzy matching skips words it does not know and says so with a lower score."""
    names: tuple[str, ...] = ()
    """Names people may ask the voice to use (recognized from this list only)."""
    data_dir: Path = field(default_factory=lambda: default_data_dir())  # noqa: PLW0108 (defined below)
    """Private folder for the audio cache (0700)."""
    log_level: str = "INFO"
    """Logging level; DEBUG shows slot values, INFO never does."""
    homeassistant: HaSettings = field(default_factory=HaSettings)
    """Home Assistant: MQTT discovery, and the sites that speak through it."""
    http: HttpSettings = field(default_factory=HttpSettings)
    """The audio endpoint Home Assistant fetches clips and streams from."""
    timezone: str | None = None
    """IANA zone for follow-up times (None: the system's zone)."""
    morning: time = MORNING
    """Local time of a "tomorrow morning" follow-up."""
    tonight: time = TONIGHT
    """Local time of a "tonight" follow-up."""
    needs: Mapping[str, DeviceAction] = field(default_factory=dict)
    """Optional device command per need (e.g. blanket: a lamp on low)."""
    routines: Mapping[str, Any] = field(default_factory=dict)
    """Routines added or replaced in config.yaml (validated by skill.routines)."""

    def site_allowed(self, site_id: str) -> bool:
        """True when intents from this site should be handled."""
        return not self.sites or site_id in self.sites

    def device(self, name: str) -> DeviceSettings | None:
        """The device with this name, if any."""
        return next((d for d in self.devices if d.name == name), None)

    def player_for(self, site_id: str) -> DeviceSettings | None:
        """The music player serving this site, if one is configured."""
        if self.cooldown.device:
            device = self.device(self.cooldown.device)
            return device if device and device.serves(site_id) else None
        return next((d for d in self.devices if d.is_player and d.serves(site_id)), None)

    def lights_for(self, site_id: str) -> tuple[DeviceSettings, ...]:
        """The lights of this site."""
        return tuple(d for d in self.devices if d.is_light and d.serves(site_id))


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/aftercare, or ~/.local/share/aftercare."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "aftercare"
