#!/usr/bin/env python3
"""One-command setup for Aftercare: `demo` runs the newcomer demo, `test` runs every check.

Needs only Python 3.11+ and pip. It installs uv into `.tools/`, builds `.venv/` from
the lock file (`uv sync --locked`), and then runs the demo or the checks. Every step
is idempotent, so running it again is fast.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
VENV = ROOT / ".venv"
UV_VERSION = "0.9.5"
MIN_PYTHON = (3, 11)


def _bin(env: Path, name: str) -> Path:
    """Path of an executable inside a virtual environment."""
    return env / ("Scripts" if os.name == "nt" else "bin") / name


def _run(cmd: list[str | Path], **kwargs: object) -> int:
    """Run a command from the project root, echoing it first."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kwargs)  # type: ignore[arg-type]


def ensure_uv() -> Path:
    """Install a pinned uv into .tools/ (pip only; no system changes)."""
    uv = _bin(TOOLS, "uv")
    if uv.exists():
        return uv
    venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
    code = _run([_bin(TOOLS, "python"), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"])
    if code != 0 or not uv.exists():
        sys.exit(f"could not install uv {UV_VERSION} into {TOOLS}; is PyPI reachable?")
    return uv


def ensure_venv() -> None:
    """Create .venv exactly as uv.lock says (with the dev tools)."""
    uv = ensure_uv()
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(VENV), UV_PYTHON_DOWNLOADS="never")
    code = _run([uv, "sync", "--locked", "--python", sys.executable], env=env)
    if code != 0:
        sys.exit("uv sync failed (see above); if uv.lock is stale, run: .tools/bin/uv lock")


def ensure_mosquitto() -> None:
    """The integration tests need a real Mosquitto (and openssl for the TLS tests).

    Installed with apt-get when we may; otherwise a clear message of what to install.
    """
    missing = [
        package
        for package, found in (
            ("mosquitto", shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()),
            ("openssl", shutil.which("openssl")),
        )
        if not found
    ]
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        _run(["apt-get", "update", "-qq"], env=env)
        if _run(["apt-get", "install", "-y", "-qq", *missing], env=env) == 0:
            return
    names = " ".join(missing)
    sys.exit(
        f"The integration tests need {names} and it is not installed.\n"
        f"Install it (Debian/Ubuntu: sudo apt-get install {names}; macOS: brew install "
        f"{names}) and run this command again."
    )


def cmd_demo(args: list[str]) -> int:
    """Run `aftercare demo` on the embedded defaults."""
    ensure_venv()
    return _run([_bin(VENV, "aftercare"), "demo", *args])


def cmd_test(args: list[str]) -> int:
    """Lint, type-check and run the whole test suite; non-zero on any failure."""
    ensure_mosquitto()
    ensure_venv()
    steps: list[list[str | Path]] = [
        [_bin(VENV, "ruff"), "check", "."],
        [_bin(VENV, "ruff"), "format", "--check", "."],
        [_bin(VENV, "mypy")],
        [_bin(VENV, "pytest"), *args],
    ]
    for step in steps:
        code = _run(step)
        if code != 0:
            print(f"FAILED: {' '.join(str(s) for s in step)} (exit {code})", flush=True)
            return code
    return 0


def main() -> int:
    """Dispatch `demo` or `test`."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"Aftercare needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer")
    commands = {"demo": cmd_demo, "test": cmd_test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit("usage: python3 scripts/dev.py {demo|test} [args...]")
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
