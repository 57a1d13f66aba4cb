#!/usr/bin/env python3
"""Build `.homeassistant-venv/`: a real Home Assistant core and its test harness, for the tests.

tests/test_homeassistant_core.py loads the package that skill/room/ha_package.py writes into
this Home Assistant (tests/homeassistant_core/ runs inside the env). Needs only Python 3.11
with venv and pip, and PyPI. Home Assistant and every dependency are pinned in
homeassistant/requirements.txt and installed the way scripts/rhasspy_env.py installs its
env (its `build`: the pinned build tools first, then `pip install --no-deps
--no-build-isolation`, then `pip check`); then Home Assistant must import and report the
pinned version. Idempotent: a stamp records which requirements were installed, so a second
run only re-checks the import. Why each pin: homeassistant/README.md.

    python3 scripts/homeassistant_env.py           # build or check; prints the env's python
    python3 scripts/homeassistant_env.py --force   # rebuild from scratch
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rhasspy_env import (
    EnvError,
    _run,
    ensure_env,
    run_cli,
)

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".homeassistant-venv"
REQUIREMENTS = ROOT / "homeassistant" / "requirements.txt"
CHECK_TIMEOUT = 120.0
"""Importing Home Assistant and the test plugin takes a few seconds; a cold disk, more."""
_PROBE = (
    "import homeassistant.const as c, pytest_homeassistant_custom_component; print(c.__version__)"
)

Log = Callable[[str], None]


def pinned_version(requirements: Path) -> str:
    """The homeassistant==<version> pin of the requirements file."""
    try:
        text = requirements.read_text(encoding="utf-8")
    except OSError as err:
        raise EnvError(f"cannot read {requirements}: {err.strerror}") from err
    found = re.search(r"^homeassistant==(\S+)", text, re.MULTILINE)
    if found is None:
        raise EnvError(f"{requirements} pins no homeassistant==<version>")
    return found.group(1)


def check_env(python: Path, requirements: Path) -> None:
    """Import Home Assistant and the test plugin; EnvError unless the pinned version answers."""
    wanted = pinned_version(requirements)
    output = _run(
        [python, "-c", _PROBE],
        timeout=CHECK_TIMEOUT,
        what="importing homeassistant and pytest_homeassistant_custom_component",
        fix="Rebuild the env: python3 scripts/homeassistant_env.py --force.",
    )
    found = output.strip().splitlines()[-1] if output.strip() else "(nothing)"
    if found != wanted:
        raise EnvError(f"the env runs Home Assistant {found}, the requirements pin {wanted}")


def ensure(
    venv: Path = VENV,
    requirements: Path = REQUIREMENTS,
    *,
    python: str = sys.executable,
    force: bool = False,
    log: Log | None = None,
) -> Path:
    """The python of a working Home Assistant environment, building it only when needed."""
    return ensure_env(
        venv,
        requirements,
        lambda env_py: check_env(env_py, requirements),
        python=python,
        force=force,
        log=log,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Build or check the environment; print its python, or a clear error and exit 1."""
    return run_cli(
        argv,
        doc=__doc__,
        venv=VENV,
        ensure_env=ensure,
        what="Home Assistant",
        name="homeassistant_env",
    )


if __name__ == "__main__":
    sys.exit(main())
