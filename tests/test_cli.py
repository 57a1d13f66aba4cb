"""The `aftercare` command: check, forget and run as a person at a terminal meets them."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from skill.app import store_path
from skill.care.store import Store
from skill.cli import main
from skill.config.loader import load_config
from skill.hermes.mosquitto import free_port
from skill.voice.piper import bundled_model

SECRET = "correct horse battery staple"


def write_config(tmp_path: Path, **sections: Any) -> Path:
    """config.yaml in tmp_path with a private data_dir and the given sections."""
    raw: dict[str, Any] = {"data_dir": str(tmp_path / "data"), **sections}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def corrupt_voice(tmp_path: Path) -> Path:
    """A .onnx that is not a model, with the real .onnx.json beside it."""
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"not a model" * 100)
    shutil.copy(f"{bundled_model()}.json", f"{model}.json")
    return model


def test_check_masks_a_password_from_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` prints the resolved settings with the password as asterisks, never its text."""
    secret = tmp_path / "mqtt-password"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    secret.chmod(0o600)
    path = write_config(
        tmp_path,
        mqtt={"host": "broker.lan", "username": "aftercare", "password_file": str(secret)},
        voice={"engine": "hermes"},
    )
    assert main(["check", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert '"password": "********"' in out
    assert "OK:" in out


def test_check_masks_a_password_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same with mqtt.password_env: the variable's name shows, its value does not."""
    monkeypatch.setenv("AFTERCARE_TEST_PASSWORD", SECRET)
    path = write_config(
        tmp_path,
        mqtt={"host": "broker.lan", "username": "u", "password_env": "AFTERCARE_TEST_PASSWORD"},
        voice={"engine": "hermes"},
    )
    assert main(["check", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "AFTERCARE_TEST_PASSWORD" in out
    assert '"password": "********"' in out


def test_a_config_mistake_names_file_key_and_allowed_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong value: exit 2, and the message has the file, the dotted key and the choices."""
    path = write_config(tmp_path, voice={"fallback": "espeak"})
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "voice.fallback" in err
    assert "none, hermes" in err


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_corrupt_voice_refuses_to_start_and_says_how_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Without a fallback, both `check` and `run` stop before serving anyone, with the fix."""
    path = write_config(tmp_path, voice={"model": str(corrupt_voice(tmp_path))})
    assert main([command, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"aftercare {command}: voice.model" in err
    assert "download it again or set voice.model: bundled" in err
    assert not store_path(load_config(path)).exists()  # refused before opening anything


def test_check_with_a_fallback_warns_and_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """voice.fallback: hermes turns the broken voice into a warning and engine hermes."""
    path = write_config(
        tmp_path, voice={"model": str(tmp_path / "gone.onnx"), "fallback": "hermes"}
    )
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "WARNING: the Piper voice did not load" in out
    assert "hermes/tts/say" in out
    assert "voice: hermes" in out


def test_forget_erases_preferences_follow_ups_and_the_audio_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Everything the skill stored is gone afterwards; a second run says nothing was stored."""
    path = write_config(tmp_path)
    config = load_config(path)
    now = datetime.now(UTC)
    with Store.open(store_path(config)) as store:
        store.update_preferences("bedroom", names=("Sam",), pattern="calm")
        store.add_follow_up("bedroom", "morning", now + timedelta(hours=8), now=now)
    cache = config.data_dir / "cache"
    cache.mkdir(mode=0o700)
    (cache / "0123abcd.wav").write_bytes(b"RIFF a clip that says Sam")
    assert main(["forget", "--config", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "Erased everything Aftercare stored."
    left = sorted(p.name for p in config.data_dir.rglob("*"))
    assert left == []
    assert main(["forget", "--config", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "Nothing was stored."


def test_say_to_a_broker_that_is_not_there_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`say` with nothing listening: exit 2 and the address, not a traceback or "Published"."""
    port = free_port()
    path = write_config(tmp_path, mqtt={"host": "127.0.0.1", "port": port})
    assert main(["say", "start breathing", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert f"Cannot reach the MQTT broker at 127.0.0.1:{port}" in err
    assert "Published" not in out


def test_the_readme_demo_breathes_stops_and_writes_whole_transcript_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's first command, as a newcomer runs it: intro, cues, "stop", a reply.

    Transcript lines come from the event loop and from MQTT threads; each must stay whole.
    """
    path = write_config(tmp_path)
    folder = tmp_path / "demo-audio"
    says = ["--say", "start breathing", "--say", "stop"]
    pace = ["--gap", "20", "--time-scale", "0.05"]
    where = ["--output", "folder", "--folder", str(folder)]
    assert main(["demo", "--config", str(path), *says, *pace, *where]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("[")]
    for line in lines:
        assert re.fullmatch(r"\[\d\d:\d\d\.\d\] \S+ +\S.*", line), line
        assert line.count("[") == 1, line  # two lines run together
    who = [line.split()[1] for line in lines]
    assert who[0] == "you"
    assert "cue" in who
    stop = lines.index(next(line for line in lines if line.endswith("you      stop")))
    after = who[stop + 1 :]
    assert after, "no reply to stop"
    assert set(after) <= {"speaker"}  # the reply, then quiet: no cue after the stop
    clips = list(folder.iterdir())
    assert len(clips) >= 4  # intro, cues and the reply, with no sound card here
    assert all(clip.suffix == ".wav" for clip in clips)


def test_a_voice_that_fails_only_when_it_loads_stops_the_run_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model that looks like ONNX but is not one passes the quick check before `online`;
    when it fails to load in the background, `run` ends with exit 2 and the same fix."""
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"\x08" + b"not a model" * 100)
    shutil.copy(f"{bundled_model()}.json", f"{model}.json")
    path = write_config(tmp_path, voice={"model": str(model)}, mqtt={"host": "embedded"})
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "aftercare run: voice.model: cannot load" in err
    assert "download it again or set voice.model: bundled" in err


def test_homeassistant_prints_the_package_of_a_configured_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The site's speaker from config.yaml is the package's default target; the package
    listens on the site's topics and forwards the intents for that site."""
    path = write_config(tmp_path, homeassistant={"speakers": {"guest": "assist_satellite.guest"}})
    assert main(["homeassistant", "--site", "guest", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    package = yaml.safe_load(out)
    topics = {a["trigger"][0]["topic"] for a in package["automation"]}
    assert {"aftercare/guest/speak", "aftercare/guest/play", "aftercare/guest/ask"} <= topics
    assert "assist_satellite.guest" in out
    assert '"siteId": "guest"' in out
    assert set(package["intent_script"]) >= {"AftercareBreathe", "AftercareStop"}


def test_homeassistant_refuses_a_bad_site_or_entity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path)
    assert main(["homeassistant", "--site", "bed/room", "--config", str(path)]) == 2
    assert "site" in capsys.readouterr().err
    assert main(["homeassistant", "--site", "x", "--entity", "light.x", "--config", str(path)]) == 2
    assert "light.x" in capsys.readouterr().err


def test_homeassistant_says_when_the_site_is_not_a_speaker_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path)
    args = ["homeassistant", "--site", "den", "--entity", "media_player.den", "--config", str(path)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "media_player.den" in out
    assert "homeassistant.speakers" in err
