"""Typed settings and the config.yaml loader that points at the exact mistake."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from skill.base.errors import ConfigError
from skill.base.reader import Reader, show
from skill.base.text import SITE_ID_MAX, normalize, valid_site_id
from skill.care.replies import NEEDS
from skill.config.devices import DeviceAction, DeviceSettings, check_playlists, parse_devices
from skill.room.homeassistant import HaSettings, settings_problem

__all__ = ["Config", "load_config", "parse_config", "valid_site_id"]

ENGINES = ("piper", "hermes")
FALLBACKS = ("none", "hermes")
CUE_STYLES = ("voice", "chime", "both", "fewer-words")
MORNING = time(9, 0)
EVENING = time(21, 0)
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
    max_sentence_chars: int = 300
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
    style: Literal["voice", "chime", "both", "fewer-words"] = "voice"
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
    """Home Assistant MQTT discovery (buttons and a state sensor per site in `sites`)."""
    timezone: str | None = None
    """IANA zone for follow-up times (None: the system's zone)."""
    morning: time = MORNING
    """Local time of a "tomorrow morning" follow-up."""
    evening: time = EVENING
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


def load_config(path: Path | str) -> Config:
    """Read and validate config.yaml; raises ConfigError naming file, key and allowed values."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(name, "", "file not found") from None
    except OSError as err:
        raise ConfigError(name, "", f"cannot read: {err.strerror}") from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        raise ConfigError(name, where, f"not valid YAML: {getattr(err, 'problem', err)}") from err
    return parse_config(raw if raw is not None else {}, path=name, base=path.parent)


def parse_config(raw: object, *, path: str = "<config>", base: Path | None = None) -> Config:
    """Validate an already-parsed config mapping (see load_config)."""
    reader = Reader(path)
    base = base or Path.cwd()
    if not isinstance(raw, Mapping):
        reader.fail("", f"expected a mapping at the top level, got {show(raw)}")
    top_keys = (
        "language",
        "mqtt",
        "sites",
        "voice",
        "breathing",
        "devices",
        "cooldown",
        "safewords",
        "care",
        "nlu",
        "data_dir",
        "log_level",
        "homeassistant",
        "timezone",
        "names",
        "followup",
        "needs",
        "routines",
    )
    reader.known(raw, "", top_keys)
    sites = reader.strings(raw, "sites", ())
    for index, site in enumerate(sites):
        if not valid_site_id(site):
            reader.fail(
                f"sites[{index}]",
                f"site ids are 1-{SITE_ID_MAX} characters without / + # or spaces; "
                f"got {show(site)}",
            )
    data_dir = reader.optional_string(raw, "data_dir")
    mqtt = _mqtt(reader, raw, base)
    followup = reader.section(raw, "followup", ("morning", "evening"))
    devices = parse_devices(reader, raw, mqtt.topic_prefix)
    cooldown = _cooldown(reader, raw, devices)
    check_playlists(reader, devices, (cooldown.playlist, *cooldown.playlists))
    stop_words, caution_words = _safewords(reader, raw)
    language = reader.string(raw, "language", "en")
    if not re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", language):
        reader.fail("language", f'expected a language code such as "en", got {show(language)}')
    return Config(
        path=path,
        language=language,
        mqtt=mqtt,
        sites=sites,
        voice=_voice(reader, raw, base),
        breathing=_breathing(reader, raw),
        devices=devices,
        cooldown=cooldown,
        safewords=stop_words,
        caution_words=caution_words,
        emergency_number=_emergency_number(reader, raw),
        min_confidence=reader.number(
            reader.section(raw, "nlu", ("min_confidence",)), "nlu.min_confidence", 1.0, 0.0, 1.0
        ),
        names=_names(reader, raw),
        data_dir=(base / Path(data_dir).expanduser()).resolve() if data_dir else default_data_dir(),
        log_level=reader.choice(raw, "log_level", "INFO", LOG_LEVELS),
        homeassistant=_homeassistant(reader, raw),
        timezone=_timezone(reader, raw),
        morning=_clock_time(reader, followup, "followup.morning", MORNING),
        evening=_clock_time(reader, followup, "followup.evening", EVENING),
        needs=_needs(reader, raw),
        routines=_routines(reader, raw),
    )


def _timezone(reader: Reader, raw: Mapping[str, Any]) -> str | None:
    name = reader.optional_string(raw, "timezone")
    if name is not None:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            reader.fail(
                "timezone", f'unknown time zone {show(name)}; e.g. "Europe/Berlin", or null'
            )
    return name


def _clock_time(reader: Reader, raw: Mapping[str, Any], key: str, default: time) -> time:
    value = raw.get(key.rsplit(".", 1)[-1])
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):  # YAML reads 09:00 as 540 (minutes)
        value = f"{value // 60:02d}:{value % 60:02d}"
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        reader.fail(key, f'expected a time such as "09:00", got {show(value)}')


def _needs(reader: Reader, raw: Mapping[str, Any]) -> dict[str, DeviceAction]:
    needs = reader.section(raw, "needs", NEEDS)
    out: dict[str, DeviceAction] = {}
    for need in needs:
        spec = reader.section(needs, f"needs.{need}", ("topic", "payload"))
        topic = reader.string(spec, f"needs.{need}.topic", "")
        if "+" in topic or "#" in topic or "{" in topic:
            reader.fail(f"needs.{need}.topic", "expected a plain topic without wildcards")
        payload = spec.get("payload", "")
        if not isinstance(payload, str):
            reader.fail(f"needs.{need}.payload", f"expected a text, got {show(payload)}")
        out[need] = DeviceAction(topic, payload)
    return out


def _routines(reader: Reader, raw: Mapping[str, Any]) -> dict[str, Any]:
    routines = raw.get("routines") or {}
    if not isinstance(routines, Mapping):
        reader.fail("routines", f"expected a mapping of routine names, got {show(routines)}")
    return dict(routines)


def _homeassistant(reader: Reader, raw: Mapping[str, Any]) -> HaSettings:
    h = reader.section(raw, "homeassistant", ("discovery", "prefix", "node_id"))
    discovery = h.get("discovery", True)
    if not isinstance(discovery, bool):
        reader.fail("homeassistant.discovery", f"expected true or false, got {show(discovery)}")
    settings = HaSettings(
        discovery=discovery,
        prefix=reader.string(h, "homeassistant.prefix", "homeassistant"),
        node_id=reader.string(h, "homeassistant.node_id", "aftercare"),
    )
    problem = settings_problem(settings)
    if problem is not None:
        reader.fail(f"homeassistant.{problem[0]}", problem[1])
    return settings


def _names(reader: Reader, raw: Mapping[str, Any]) -> tuple[str, ...]:
    names = reader.strings(raw, "names", ())
    _speakable(reader, "names", names)
    for index, name in enumerate(names):
        if len(name) > 40:
            reader.fail(f"names[{index}]", "expected a name of at most 40 characters")
    return names


def _safewords(reader: Reader, raw: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`safewords: [red]` (stop words only) or `safewords: {stop: [red], caution: [yellow]}`."""
    value = raw.get("safewords", {"stop": ["red"], "caution": ["yellow"]})
    if value is None or isinstance(value, list):
        stop = reader.strings(raw, "safewords", ("red",))
        caution: tuple[str, ...] = ("yellow",)
    elif isinstance(value, Mapping):
        section = reader.section(raw, "safewords", ("stop", "caution"))
        stop = reader.strings(section, "safewords.stop", ("red",))
        caution = reader.strings(section, "safewords.caution", ("yellow",))
    else:
        reader.fail(
            "safewords",
            f"expected a list of stop words, or a mapping with `stop` and `caution` lists, "
            f"got {show(value)}",
        )
    _speakable(
        reader, "safewords.stop" if isinstance(value, Mapping) else "safewords", stop, listed=True
    )
    _speakable(reader, "safewords.caution", caution, listed=True)
    both = {normalize(word) for word in stop} & {normalize(word) for word in caution}
    if both:
        reader.fail(
            "safewords.caution",
            f"{show(sorted(both)[0])} is a stop word too; a word either stops or pauses",
        )
    return tuple(normalize(w) for w in stop), tuple(normalize(w) for w in caution)


def _emergency_number(reader: Reader, raw: Mapping[str, Any]) -> str | None:
    """`care.emergency_number`: digits (spaces and dashes allowed), spoken digit by digit."""
    care = reader.section(raw, "care", ("emergency_number",))
    number = care.get("emergency_number")
    if number is None:
        return None
    if isinstance(number, int) and not isinstance(number, bool):
        number = str(number)
    digits = re.sub(r"[\s-]", "", number) if isinstance(number, str) else ""
    if not re.fullmatch(r"[0-9]{2,15}", digits):
        reader.fail(
            "care.emergency_number",
            f'expected the digits of your local emergency number, e.g. "112" or "911", '
            f"or null; got {show(number)}",
        )
    return digits


def _mqtt(reader: Reader, raw: Mapping[str, Any], base: Path) -> MqttSettings:
    keys = ("host", "port", "username", "password_env", "password_file", "tls", "topic_prefix")
    m = reader.section(raw, "mqtt", keys)
    host = reader.string(m, "mqtt.host", "embedded")
    port = reader.integer(m, "mqtt.port", 0 if host == "embedded" else 1883, 0, 65535)
    if port == 0 and host != "embedded":
        reader.fail("mqtt.port", "expected a port from 1 to 65535 (0 only with host: embedded)")
    prefix = reader.string(m, "mqtt.topic_prefix", "aftercare")
    if not re.fullmatch(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", prefix):
        reader.fail("mqtt.topic_prefix", "expected letters, digits, _ or -, levels split by /")
    password_env = reader.optional_string(m, "mqtt.password_env")
    if password_env and password_env not in os.environ:
        reader.fail("mqtt.password_env", f"environment variable {password_env} is not set")
    tls: TlsSettings | None = None
    t = reader.section(m, "mqtt.tls", ("ca_file", "cert_file", "key_file"))
    if t:
        tls = TlsSettings(
            ca_file=reader.file(t, "mqtt.tls.ca_file", base, must_exist=True),
            cert_file=reader.file(t, "mqtt.tls.cert_file", base, must_exist=True),
            key_file=reader.file(t, "mqtt.tls.key_file", base, must_exist=True),
        )
        if (tls.cert_file is None) != (tls.key_file is None):
            reader.fail("mqtt.tls", "cert_file and key_file go together; give both or neither")
    return MqttSettings(
        host=host,
        port=port,
        username=reader.optional_string(m, "mqtt.username"),
        password_env=password_env,
        password_file=reader.file(m, "mqtt.password_file", base, must_exist=True),
        tls=tls,
        topic_prefix=prefix,
    )


def _voice(reader: Reader, raw: Mapping[str, Any], base: Path) -> VoiceSettings:
    v = reader.section(raw, "voice", ("engine", "model", "speed", "volume", "fallback"))
    model = reader.string(v, "voice.model", "bundled")
    if model != "bundled":
        resolved = (base / Path(model).expanduser()).resolve()
        if resolved.suffix != ".onnx":
            reader.fail(
                "voice.model",
                f'expected "bundled" or a path to a Piper .onnx voice, got {show(model)}',
            )
        model = str(resolved)
    return VoiceSettings(
        engine=cast(Literal["piper", "hermes"], reader.choice(v, "voice.engine", "piper", ENGINES)),
        model=model,
        speed=reader.number(v, "voice.speed", 0.9, 0.5, 1.5),
        volume=reader.number(v, "voice.volume", 0.8, 0.1, 1.0),
        fallback=cast(
            Literal["none", "hermes"], reader.choice(v, "voice.fallback", "none", FALLBACKS)
        ),
    )


def _breathing(reader: Reader, raw: Mapping[str, Any]) -> BreathingSettings:
    b = reader.section(raw, "breathing", ("pattern", "minutes", "style", "patterns"))
    patterns = b.get("patterns") or {}
    if not isinstance(patterns, Mapping):
        reader.fail(
            "breathing.patterns", f"expected a mapping of pattern names, got {show(patterns)}"
        )
    return BreathingSettings(
        pattern=reader.string(b, "breathing.pattern", "settle"),
        minutes=reader.number(b, "breathing.minutes", 3, 1, 60),
        style=cast(
            Literal["voice", "chime", "both", "fewer-words"],
            reader.choice(b, "breathing.style", "voice", CUE_STYLES),
        ),
        patterns=dict(patterns),
    )


def _speakable(reader: Reader, key: str, names: Sequence[str], *, listed: bool = False) -> None:
    """Names people say must have words in them and must not sound like another name."""
    seen: dict[str, str] = {}
    for index, name in enumerate(names):
        spoken = normalize(name)
        where = f"{key}[{index}]" if listed or len(names) > 1 or key.endswith("s") else key
        if not spoken:
            reader.fail(where, f"{show(name)} has no words a person could say")
        if spoken in seen:
            reader.fail(where, f"{show(name)} sounds the same as {show(seen[spoken])}")
        seen[spoken] = name


def _cooldown(
    reader: Reader, raw: Mapping[str, Any], devices: Sequence[DeviceSettings]
) -> CooldownSettings:
    keys = ("playlist", "playlists", "volume", "device", "fade_in", "fade_out", "duck")
    c = reader.section(raw, "cooldown", keys)
    device = reader.optional_string(c, "cooldown.device")
    players = [d.name for d in devices if d.is_player]
    if device is not None and device not in players:
        names = ", ".join(players) or "(no players configured)"
        reader.fail("cooldown.device", f'no player named "{device}"; players: {names}')
    playlist = reader.string(c, "cooldown.playlist", "Cool down")
    playlists = reader.strings(c, "cooldown.playlists", ())
    _speakable(reader, "cooldown.playlist", (playlist,))
    _speakable(reader, "cooldown.playlists", playlists)
    return CooldownSettings(
        playlist=playlist,
        playlists=playlists,
        volume=reader.integer(c, "cooldown.volume", 25, 1, 100),
        device=device,
        fade_in=reader.number(c, "cooldown.fade_in", 25, 0, 120),
        fade_out=reader.number(c, "cooldown.fade_out", 6, 0, 60),
        duck=reader.integer(c, "cooldown.duck", 40, 0, 100),
    )
