"""Typed settings and the config.yaml loader that points at the exact mistake."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn, cast

import yaml

from skill.devices import DeviceTemplateError, check_template
from skill.errors import ConfigError
from skill.text import normalize

SITE_ID_MAX = 64
_SITE_ID_RE = re.compile(r"^[^/+#\s\x00-\x1f\x7f]{1,64}$")
_TOPIC_RE = re.compile(r"^[^+#\x00]{1,200}$")
ACTIONS = ("play", "stop", "volume")
ENGINES = ("piper", "hermes")
CUE_STYLES = ("voice", "chime", "both", "fewer-words")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def valid_site_id(site_id: object) -> bool:
    """True when a site id is safe to put into a topic: no / + #, whitespace, 1-64 chars."""
    return isinstance(site_id, str) and _SITE_ID_RE.fullmatch(site_id) is not None


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
    """User-defined patterns (validated by skill.breathing)."""


@dataclass(frozen=True)
class DeviceAction:
    """One device command: where it goes and what it says."""

    topic: str
    """MQTT topic (no wildcards, never built from what people said)."""
    payload: str
    """Payload template; {playlist} and {volume} are substituted JSON-safely."""


@dataclass(frozen=True)
class DeviceSettings:
    """A device the skill may command."""

    name: str
    """Name used in logs and in `cooldown.device`."""
    kind: Literal["generic"] = "generic"
    """Preset; `generic` takes a topic and payload template per action."""
    actions: Mapping[str, DeviceAction] = field(default_factory=dict)
    """Per action (`play`, `stop`, `volume`), what to publish."""
    sites: tuple[str, ...] = ()
    """Sites this device belongs to; empty = every site."""


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
    """Name of the player device; default: the first device with a `play` action."""


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
    """Words that act exactly like "stop", everywhere."""
    data_dir: Path = field(default_factory=lambda: default_data_dir())  # noqa: PLW0108 (defined below)
    """Private folder for the audio cache (0700)."""
    log_level: str = "INFO"
    """Logging level; DEBUG shows slot values, INFO never does."""

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
            return device if device and (not device.sites or site_id in device.sites) else None
        return next(
            (
                d
                for d in self.devices
                if "play" in d.actions and (not d.sites or site_id in d.sites)
            ),
            None,
        )


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/aftercare, or ~/.local/share/aftercare."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "aftercare"


class _Reader:
    """Walks the raw YAML and raises ConfigError naming the file and dotted key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ConfigError(self.path, key, problem)

    def section(self, raw: Mapping[str, Any], key: str, allowed: Sequence[str]) -> dict[str, Any]:
        value = raw.get(key.rsplit(".", 1)[-1])
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(key, f"expected a mapping with keys {', '.join(allowed)}, got {_show(value)}")
        self.known(value, key, allowed)
        return dict(value)

    def known(self, raw: Mapping[str, Any], prefix: str, allowed: Sequence[str]) -> None:
        for name in raw:
            if name not in allowed:
                where = f"{prefix}.{name}" if prefix else str(name)
                self.fail(where, f"unknown key; allowed keys: {', '.join(allowed)}")

    def string(self, raw: Mapping[str, Any], key: str, default: str) -> str:
        value = raw.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty text, got {_show(value)}")
        return value

    def optional_string(self, raw: Mapping[str, Any], key: str) -> str | None:
        value = raw.get(key.rsplit(".", 1)[-1])
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty text or null, got {_show(value)}")
        return value

    def choice(self, raw: Mapping[str, Any], key: str, default: str, allowed: Sequence[str]) -> str:
        value = raw.get(key.rsplit(".", 1)[-1], default)
        if value not in allowed:
            self.fail(key, f"expected one of: {', '.join(allowed)}; got {_show(value)}")
        return cast(str, value)

    def number(
        self, raw: Mapping[str, Any], key: str, default: float, low: float, high: float
    ) -> float:
        value = raw.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            self.fail(
                key, f"expected a number from {_num(low)} to {_num(high)}, got {_show(value)}"
            )
        if not low <= value <= high:
            self.fail(key, f"expected a number from {_num(low)} to {_num(high)}, got {_num(value)}")
        return float(value)

    def integer(self, raw: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
        value = raw.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected a whole number from {low} to {high}, got {_show(value)}")
        if not low <= value <= high:
            self.fail(key, f"expected a whole number from {low} to {high}, got {value}")
        return value

    def strings(self, raw: Mapping[str, Any], key: str, default: Sequence[str]) -> tuple[str, ...]:
        value = raw.get(key.rsplit(".", 1)[-1], list(default))
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(key, f"expected a list of texts, got {_show(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.fail(f"{key}[{index}]", f"expected a non-empty text, got {_show(item)}")
        return tuple(value)

    def file(self, raw: Mapping[str, Any], key: str, base: Path, must_exist: bool) -> Path | None:
        value = self.optional_string(raw, key)
        if value is None:
            return None
        resolved = (base / Path(value).expanduser()).resolve()
        if must_exist and not resolved.is_file():
            self.fail(key, f"file not found: {resolved}")
        return resolved


def _show(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:57] + "..."


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


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
    reader = _Reader(path)
    base = base or Path.cwd()
    if not isinstance(raw, Mapping):
        reader.fail("", f"expected a mapping at the top level, got {_show(raw)}")
    top_keys = (
        "language",
        "mqtt",
        "sites",
        "voice",
        "breathing",
        "devices",
        "cooldown",
        "safewords",
        "data_dir",
        "log_level",
    )
    reader.known(raw, "", top_keys)
    sites = reader.strings(raw, "sites", ())
    for index, site in enumerate(sites):
        if not valid_site_id(site):
            reader.fail(
                f"sites[{index}]",
                f"site ids are 1-{SITE_ID_MAX} characters without / + # or spaces; "
                f"got {_show(site)}",
            )
    data_dir = reader.optional_string(raw, "data_dir")
    devices = _devices(reader, raw)
    cooldown = _cooldown(reader, raw, devices)
    language = reader.string(raw, "language", "en")
    if not re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", language):
        reader.fail("language", f'expected a language code such as "en", got {_show(language)}')
    return Config(
        path=path,
        language=language,
        mqtt=_mqtt(reader, raw, base),
        sites=sites,
        voice=_voice(reader, raw, base),
        breathing=_breathing(reader, raw),
        devices=devices,
        cooldown=cooldown,
        safewords=_safewords(reader, raw),
        data_dir=(base / Path(data_dir).expanduser()).resolve() if data_dir else default_data_dir(),
        log_level=reader.choice(raw, "log_level", "INFO", LOG_LEVELS),
    )


def _safewords(reader: _Reader, raw: Mapping[str, Any]) -> tuple[str, ...]:
    words = reader.strings(raw, "safewords", ("red",))
    _speakable(reader, "safewords", words)
    return tuple(normalize(word) for word in words)


def _mqtt(reader: _Reader, raw: Mapping[str, Any], base: Path) -> MqttSettings:
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


def _voice(reader: _Reader, raw: Mapping[str, Any], base: Path) -> VoiceSettings:
    v = reader.section(raw, "voice", ("engine", "model", "speed", "volume"))
    model = reader.string(v, "voice.model", "bundled")
    if model != "bundled":
        resolved = (base / Path(model).expanduser()).resolve()
        if resolved.suffix != ".onnx":
            reader.fail(
                "voice.model",
                f'expected "bundled" or a path to a Piper .onnx voice, got {_show(model)}',
            )
        model = str(resolved)
    return VoiceSettings(
        engine=cast(Literal["piper", "hermes"], reader.choice(v, "voice.engine", "piper", ENGINES)),
        model=model,
        speed=reader.number(v, "voice.speed", 0.9, 0.5, 1.5),
        volume=reader.number(v, "voice.volume", 0.8, 0.1, 1.0),
    )


def _breathing(reader: _Reader, raw: Mapping[str, Any]) -> BreathingSettings:
    b = reader.section(raw, "breathing", ("pattern", "minutes", "style", "patterns"))
    patterns = b.get("patterns") or {}
    if not isinstance(patterns, Mapping):
        reader.fail(
            "breathing.patterns", f"expected a mapping of pattern names, got {_show(patterns)}"
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


def _devices(reader: _Reader, raw: Mapping[str, Any]) -> tuple[DeviceSettings, ...]:
    items = raw.get("devices") or []
    if not isinstance(items, list):
        reader.fail("devices", f"expected a list of devices, got {_show(items)}")
    devices: list[DeviceSettings] = []
    for index, item in enumerate(items):
        key = f"devices[{index}]"
        if not isinstance(item, Mapping):
            reader.fail(key, f"expected a mapping with name, kind and actions, got {_show(item)}")
        reader.known(item, key, ("name", "kind", "sites", *ACTIONS))
        name = reader.string(item, f"{key}.name", "")
        if any(d.name == name for d in devices):
            reader.fail(f"{key}.name", f'device names must be unique; "{name}" is used twice')
        reader.choice(item, f"{key}.kind", "generic", ("generic",))
        actions: dict[str, DeviceAction] = {}
        for action in ACTIONS:
            spec = reader.section(item, f"{key}.{action}", ("topic", "payload"))
            if not spec:
                continue
            topic = reader.string(spec, f"{key}.{action}.topic", "")
            if not _TOPIC_RE.fullmatch(topic) or "{" in topic:
                reader.fail(
                    f"{key}.{action}.topic",
                    "expected a plain topic without wildcards (+ #) or {placeholders}",
                )
            payload = spec.get("payload", "")
            if not isinstance(payload, str):
                reader.fail(
                    f"{key}.{action}.payload", f"expected a text template, got {_show(payload)}"
                )
            _check_template(reader, f"{key}.{action}.payload", payload)
            actions[action] = DeviceAction(topic=topic, payload=payload)
        if not actions:
            reader.fail(key, f"a device needs at least one action: {', '.join(ACTIONS)}")
        devices.append(
            DeviceSettings(
                name=name, actions=actions, sites=reader.strings(item, f"{key}.sites", ())
            )
        )
    return tuple(devices)


def _check_template(reader: _Reader, key: str, template: str) -> None:
    for placeholder in re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template):
        if placeholder not in ("playlist", "volume"):
            reader.fail(
                key, f"unknown placeholder {{{placeholder}}}; allowed: {{playlist}}, {{volume}}"
            )
    try:
        check_template(template)
    except DeviceTemplateError as err:
        reader.fail(key, str(err))


def _speakable(reader: _Reader, key: str, names: Sequence[str]) -> None:
    """Names people say must have words in them and must not sound like another name."""
    seen: dict[str, str] = {}
    for index, name in enumerate(names):
        spoken = normalize(name)
        where = f"{key}[{index}]" if len(names) > 1 or key.endswith("s") else key
        if not spoken:
            reader.fail(where, f"{_show(name)} has no words a person could say")
        if spoken in seen:
            reader.fail(where, f"{_show(name)} sounds the same as {_show(seen[spoken])}")
        seen[spoken] = name


def _cooldown(
    reader: _Reader, raw: Mapping[str, Any], devices: Sequence[DeviceSettings]
) -> CooldownSettings:
    c = reader.section(raw, "cooldown", ("playlist", "playlists", "volume", "device"))
    device = reader.optional_string(c, "cooldown.device")
    if device is not None and not any(d.name == device for d in devices):
        names = ", ".join(d.name for d in devices) or "(no devices configured)"
        reader.fail("cooldown.device", f'no device named "{device}"; devices: {names}')
    playlist = reader.string(c, "cooldown.playlist", "Cool down")
    playlists = reader.strings(c, "cooldown.playlists", ())
    _speakable(reader, "cooldown.playlist", (playlist,))
    _speakable(reader, "cooldown.playlists", playlists)
    return CooldownSettings(
        playlist=playlist,
        playlists=playlists,
        volume=reader.integer(c, "cooldown.volume", 25, 0, 100),
        device=device,
    )
