"""deploy/aftercare.service agrees with the command it runs and with the README's steps."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
import yaml

from skill.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "aftercare.service"


def service_text() -> str:
    """deploy/aftercare.service as written, comments included."""
    return UNIT.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string(service_text())
    return parser["Service"]


def test_the_unit_runs_the_skill_with_the_readme_config(
    service: configparser.SectionProxy,
) -> None:
    """ExecStart is a command line the skill's own parser accepts, with the README's paths."""
    binary, *args = shlex.split(service["ExecStart"])
    assert binary == "/opt/aftercare/bin/aftercare"
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run"
    assert parsed.config == "/etc/aftercare/config.yaml"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{binary} check --config {parsed.config}" in readme


def test_the_pi_steps_build_the_venv_the_unit_runs(service: configparser.SectionProxy) -> None:
    """The Raspberry Pi steps build ExecStart's venv with the production install command,
    and nothing tells anyone to run the demo as root."""
    binary = Path(shlex.split(service["ExecStart"])[0])
    prefix = binary.parent.parent
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`sudo python3 scripts/dev.py install --prefix {prefix}`" in readme
    assert f"--prefix {prefix}" in service_text()  # the unit's comment names it too
    assert "sudo python3 scripts/dev.py demo" not in readme


def test_the_unit_keeps_data_private_to_its_user(service: configparser.SectionProxy) -> None:
    """Its own user, data in a 0700 state folder, new files 0600."""
    assert service["User"] == "aftercare"
    assert service["StateDirectory"] == "aftercare"
    assert service["StateDirectoryMode"] == "0700"
    assert service["UMask"] == "0077"
    assert service["Environment"] == "XDG_DATA_HOME=/var/lib"  # data_dir: /var/lib/aftercare


def test_a_mistake_a_restart_cannot_fix_is_not_restarted(
    service: configparser.SectionProxy, tmp_path: Path
) -> None:
    """The status `run` exits with on a config mistake is the one the unit will not restart."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"breathing": {"pattern": "nope"}}), encoding="utf-8")
    status = main(["run", "--config", str(config)])
    assert status != 0
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"].split() == [str(status)]
