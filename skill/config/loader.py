"""Reads config.yaml into the typed settings; a mistake names the file, key and what is allowed."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import time
from pathlib import Path
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from skill.base.errors import ConfigError
from skill.base.reader import Reader, show
from skill.base.text import SITE_ID_MAX, normalize, valid_site_id
from skill.base.vocabulary import CueStyle, Need
from skill.config.devices import DeviceAction, DeviceSettings, check_playlists, parse_devices
from skill.config.homeassistant import read_homeassistant, read_http
from skill.config.settings import (
    ENGINES,
    FALLBACKS,
    LOG_LEVELS,
    MORNING,
    TONIGHT,
    BreathingSettings,
    Config,
    CooldownSettings,
    MqttSettings,
    TlsSettings,
    VoiceSettings,
    default_data_dir,
)


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
        "http",
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
    followup = reader.section(raw, "followup", ("morning", "tonight"))
    devices = parse_devices(reader, raw, mqtt.topic_prefix)
    cooldown = _cooldown(reader, raw, devices)
    check_playlists(reader, devices, (cooldown.playlist, *cooldown.playlists))
    stop_words, caution_words = _safewords(reader, raw)
    language = reader.string(raw, "language", "en")
    if not re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", language):
        reader.fail("language", f'expected a language code such as "en", got {show(language)}')
    config = Config(
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
        homeassistant=read_homeassistant(reader, raw, sites),
        http=read_http(reader, raw),
        timezone=_timezone(reader, raw),
        morning=_clock_time(reader, followup, "followup.morning", MORNING),
        tonight=_clock_time(reader, followup, "followup.tonight", TONIGHT),
        needs=_needs(reader, raw),
        routines=_routines(reader, raw),
    )
    if config.homeassistant.speakers and config.voice.engine != "piper":
        reader.fail(
            "homeassistant.speakers",
            "a site that speaks through Home Assistant plays the skill's own clips: "
            "expected voice.engine: piper",
        )
    return config


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
    needs = reader.section(raw, "needs", tuple(Need))
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
        style=CueStyle(reader.choice(b, "breathing.style", "voice", tuple(CueStyle))),
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
