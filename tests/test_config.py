"""config.yaml validation: every mistake names the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from skill.base.errors import ConfigError
from skill.base.text import valid_site_id
from skill.config.loader import load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads() -> None:
    config = load_config(ROOT / "config.yaml")
    assert config.mqtt.embedded
    assert config.voice.engine == "piper"
    assert config.voice.model == "bundled"
    assert config.player_for("bedroom") is not None
    assert config.safewords == ("red",)


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.mqtt.host == "embedded"
    assert config.breathing.minutes == 3
    assert config.sites == ()


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("breathing:\n  minutes: ten\n", "breathing.minutes", 'from 1 to 60, got "ten"'),
        ("breathing:\n  minutes: 90\n", "breathing.minutes", "from 1 to 60, got 90"),
        ("breathing:\n  style: loud\n", "breathing.style", "voice, chime, both, fewer-words"),
        ("voice:\n  engine: espeak\n", "voice.engine", "piper, hermes"),
        ("voice:\n  speed: 3\n", "voice.speed", "from 0.5 to 1.5"),
        ("voice:\n  model: voice.bin\n", "voice.model", ".onnx"),
        ("voice:\n  colour: blue\n", "voice.colour", "allowed keys: engine, model"),
        ("mqtt:\n  port: 70000\n", "mqtt.port", "from 0 to 65535"),
        ("mqtt:\n  host: broker.lan\n  port: 0\n", "mqtt.port", "1 to 65535"),
        ("mqtt:\n  password_env: AFTERCARE_NOPE_X\n", "mqtt.password_env", "is not set"),
        ("mqtt:\n  tls:\n    ca_file: missing.pem\n", "mqtt.tls.ca_file", "file not found"),
        ("sites: [bed/room]\n", "sites[0]", "without / + #"),
        ("sites: bedroom\n", "sites", "expected a list"),
        ("language: english\n", "language", "language code"),
        ("log_level: LOUD\n", "log_level", "DEBUG, INFO, WARNING, ERROR"),
        ("nonsense: 1\n", "nonsense", "allowed keys: language, mqtt"),
        ("cooldown:\n  device: sonos\n", "cooldown.device", 'no player named "sonos"'),
        ("cooldown:\n  volume: 101\n", "cooldown.volume", "from 1 to 100"),
        ("cooldown:\n  fade_in: 500\n", "cooldown.fade_in", "from 0 to 120"),
        ("devices:\n  - name: p\n", "devices[0]", "needs at least `play`"),
        (
            "devices:\n  - name: p\n    play: {topic: 'a/+/b', payload: x}\n",
            "devices[0].play.topic",
            "without wildcards",
        ),
        (
            "devices:\n  - name: p\n    play: {topic: a, payload: '{\"p\": {playlist}}'}\n",
            "devices[0].play.payload",
            "inside quotes",
        ),
        (
            "devices:\n  - name: p\n    play: {topic: a, payload: 'x {song}'}\n",
            "devices[0].play.payload",
            "unknown placeholder {song}",
        ),
        (
            "devices:\n  - name: p\n    play: {topic: a, payload: x}\n  - name: p\n"
            "    stop: {topic: b, payload: y}\n",
            "devices[1].name",
            "unique",
        ),
        ("homeassistant:\n  speakers: [bedroom]\n", "homeassistant.speakers", "mapping of site"),
        (
            "homeassistant:\n  speakers: {bedroom: light.bedroom}\n",
            "homeassistant.speakers.bedroom",
            "assist_satellite.bedroom or media_player.bedroom",
        ),
        (
            "homeassistant:\n  speakers: {'bed/room': assist_satellite.x}\n",
            "homeassistant.speakers.bed/room",
            "site id",
        ),
        (
            "sites: [bedroom]\nhomeassistant:\n  speakers: {guest: assist_satellite.guest}\n",
            "homeassistant.speakers.guest",
            "one of the sites in `sites`: bedroom",
        ),
        (
            "voice:\n  engine: hermes\nhomeassistant:\n  speakers: {guest: media_player.guest}\n",
            "homeassistant.speakers",
            "voice.engine: piper",
        ),
        ("http:\n  port: 99999\n", "http.port", "from 0 to 65535"),
        ("http:\n  public_url: 192.168.1.20\n", "http.public_url", "http://192.168.1.20:12180"),
        ("http:\n  root: /\n", "http.root", "allowed keys: host, port, public_url"),
    ],
)
def test_mistakes_name_file_key_and_allowed(tmp_path: Path, text: str, key: str, hint: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == str(path)
    assert caught.value.key == key
    assert hint in str(caught.value)
    assert str(caught.value).startswith(f"{path}: {key}: ")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt:\n  host: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d+: not valid YAML"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_password_comes_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERCARE_TEST_PW", "s3cret")
    config = parse_config(
        {"mqtt": {"host": "broker", "username": "u", "password_env": "AFTERCARE_TEST_PW"}}
    )
    assert config.mqtt.password() == "s3cret"


def test_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n", encoding="utf-8")
    config = load_config(write(tmp_path, "mqtt:\n  host: b\n  password_file: pw\n"))
    assert config.mqtt.password() == "hunter2"


def test_site_allowlist() -> None:
    config = parse_config({"sites": ["bedroom"]})
    assert config.site_allowed("bedroom")
    assert not config.site_allowed("kitchen")
    assert parse_config({}).site_allowed("anywhere")


@pytest.mark.parametrize(
    ("site", "ok"),
    [
        ("bedroom", True),
        ("a/b", False),
        ("a+", False),
        ("#", False),
        ("", False),
        ("x" * 64, True),
        ("x" * 65, False),
        ("two words", False),
        (None, False),
        (5, False),
    ],
)
def test_valid_site_id(site: object, ok: bool) -> None:
    assert valid_site_id(site) is ok


def test_player_per_site() -> None:
    config = parse_config(
        {
            "devices": [
                {"name": "living", "sites": ["living"], "play": {"topic": "l/set", "payload": "p"}},
                {"name": "bed", "sites": ["bedroom"], "play": {"topic": "b/set", "payload": "p"}},
            ]
        }
    )
    bedroom = config.player_for("bedroom")
    assert bedroom is not None
    assert bedroom.name == "bed"
    assert config.player_for("kitchen") is None


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("safewords: ['!!']\n", "safewords[0]", "no words"),
        ("safewords: [Red, 'red!']\n", "safewords[1]", "sounds the same"),
        ("cooldown:\n  playlists: ['Rain', 'rain.']\n", "cooldown.playlists[1]", "sounds the same"),
        ("cooldown:\n  playlist: '***'\n", "cooldown.playlist", "no words"),
    ],
)
def test_names_people_say_must_be_speakable(tmp_path: Path, text: str, key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.key == key
    assert hint in str(caught.value)


def test_safewords_are_normalized() -> None:
    assert parse_config({"safewords": ["Pineapple!", "RED"]}).safewords == ("pineapple", "red")


def test_traffic_lights_stop_and_caution() -> None:
    config = parse_config({"safewords": {"stop": ["Red"], "caution": ["Amber", "yellow"]}})
    assert config.safewords == ("red",)
    assert config.caution_words == ("amber", "yellow")
    # The old list form means stop words; the caution word keeps its default.
    old = parse_config({"safewords": ["pineapple"]})
    assert (old.safewords, old.caution_words) == (("pineapple",), ("yellow",))
    assert (parse_config({}).safewords, parse_config({}).caution_words) == (("red",), ("yellow",))


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("safewords: red\n", "safewords", "`stop` and `caution` lists"),
        ("safewords:\n  stop: [red]\n  caution: [Red]\n", "safewords.caution", "stop word too"),
        ("safewords:\n  go: [red]\n", "safewords.go", "allowed keys: stop, caution"),
        ("safewords:\n  caution: ['??']\n", "safewords.caution[0]", "no words"),
        ("care:\n  emergency_number: call them\n", "care.emergency_number", '"112" or "911"'),
        ("care:\n  emergency_number: '1'\n", "care.emergency_number", "digits"),
        ("care:\n  phone: 112\n", "care.phone", "allowed keys: emergency_number"),
    ],
)
def test_traffic_light_and_care_mistakes_name_the_key(
    tmp_path: Path, text: str, key: str, hint: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: {key}: ")
    assert hint in str(caught.value)


@pytest.mark.parametrize(
    ("value", "digits"), [("112", "112"), (911, "911"), ("1 1 2", "112"), ("0-0-0", "000")]
)
def test_emergency_number_keeps_its_digits(value: object, digits: str) -> None:
    assert parse_config({"care": {"emergency_number": value}}).emergency_number == digits
    assert parse_config({}).emergency_number is None


def test_min_confidence_is_a_share_from_zero_to_one(tmp_path: Path) -> None:
    assert parse_config({}).min_confidence == 1.0
    assert parse_config({"nlu": {"min_confidence": 0.75}}).min_confidence == 0.75
    path = write(tmp_path, "nlu:\n  min_confidence: high\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: nlu.min_confidence: expected a number from 0")


def test_sites_that_speak_through_home_assistant() -> None:
    config = parse_config(
        {
            "homeassistant": {
                "speakers": {"guest": "assist_satellite.guest", "den": "media_player.den"}
            },
            "http": {"host": "0.0.0.0", "public_url": "http://192.168.1.20:12180/"},
        }
    )
    assert config.homeassistant.speakers == {
        "guest": "assist_satellite.guest",
        "den": "media_player.den",
    }
    assert config.http.public_url == "http://192.168.1.20:12180"
    assert parse_config({}).homeassistant.speakers == {}
    assert parse_config({}).http.host == "127.0.0.1"
