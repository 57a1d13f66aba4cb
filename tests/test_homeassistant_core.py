"""Aftercare's Home Assistant package inside a real Home Assistant core.

The package (skill/room/ha_package.py) and the custom sentences (`aftercare sentences
--format hassil`) are written here, then tests/homeassistant_core/ runs inside
.homeassistant-venv/ (Home Assistant 2024.3.3 and pytest-homeassistant-custom-component,
built by scripts/homeassistant_env.py; this test fails, never skips, when it cannot be
built): Home Assistant merges the package, its automations answer the skill's MQTT topics
and its intent scripts forward what Assist recognizes. What those tests check, and what
stands in for the satellites: tests/homeassistant_core/conftest.py and speakers.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from skill.language.sentences import to_hassil
from skill.language.templates import load_templates
from skill.room.ha_package import package

ROOT = Path(__file__).resolve().parent.parent
ENV_SCRIPT = ROOT / "scripts" / "homeassistant_env.py"
INNER = ROOT / "tests" / "homeassistant_core"
SITE = "bedroom"
ENTITY = "assist_satellite.bedroom"
BUILD_TIMEOUT = 1100.0
INNER_TIMEOUT = 600.0
TAIL = 150
"""Lines of the inner run shown when it fails."""


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-TAIL:])


def _home_assistant_python() -> Path:
    """The python of .homeassistant-venv/, built by scripts/homeassistant_env.py when needed."""
    try:
        done = subprocess.run(
            [sys.executable, str(ENV_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"scripts/homeassistant_env.py did not finish within {BUILD_TIMEOUT:.0f} s")
    if done.returncode != 0:
        pytest.fail(f"scripts/homeassistant_env.py failed:\n{_tail(done.stderr)}")
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(1200)
def test_the_package_drives_a_real_home_assistant(tmp_path: Path) -> None:
    python = _home_assistant_python()
    templates = load_templates(ROOT / "intents")
    package_file = tmp_path / f"aftercare_{SITE}.yaml"
    package_file.write_text(package(templates, site_id=SITE, entity_id=ENTITY), encoding="utf-8")
    sentences_file = tmp_path / "aftercare.yaml"
    sentences_file.write_text(to_hassil(templates), encoding="utf-8")
    env = dict(
        os.environ,
        AFTERCARE_HA_PACKAGE=str(package_file),
        AFTERCARE_HA_SENTENCES=str(sentences_file),
        AFTERCARE_HA_SITE=SITE,
        AFTERCARE_HA_ENTITY=ENTITY,
    )
    command = [str(python), "-m", "pytest", "-c", str(INNER / "pytest.ini"), str(INNER), "-q"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=INNER_TIMEOUT,
        check=False,
        env=env,
        cwd=tmp_path,  # not the repository: its homeassistant/ folder is no Python package
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{_tail(output)}"
    summary = re.search(r"^(\d+) passed(?P<rest>.*) in [\d.]+s", output, re.MULTILINE)
    assert summary is not None, f"no pytest summary:\n{_tail(output)}"
    assert not summary.group("rest").strip(" ,"), f"not every test passed: {summary.group(0)}"
    assert int(summary.group(1)) >= 20, summary.group(0)
