#!/usr/bin/env python3
"""One-command setup for Aftercare: `demo`, `test`, and `install` for real use.

Needs only Python 3.11+ and pip. `demo` and `test` install uv into `.tools/`, build the
development venv `.venv/` from the lock file (`uv sync --locked`), and then run the
demo or the checks. `install [--prefix DIR]` builds a production venv without uv and
without any development tool: the runtime dependencies exactly as `uv.lock` pins them
(`requirements.lock.txt`, hash-checked), then Aftercare itself. Every step is
idempotent, so running it again is fast.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
# uv.lock's runtime dependencies with their hashes (no dev group, not the project);
# tests/test_install.py fails when it falls out of step with uv.lock. pip cannot resolve
# the project itself (rhasspy-hermes pins paho-mqtt==1.5.0 and only uv reads the override
# in pyproject's [tool.uv]), so `install` takes these pins and then the project, both
# with --no-deps.
LOCKED_REQUIREMENTS = ROOT / "requirements.lock.txt"
# The locked dependencies published without a wheel. Everything else must come as a
# wheel, so no machine (a Raspberry Pi least of all) ever compiles during an install.
# rhasspy-hermes 0.6.2 is a pure-Python sdist: it builds without a compiler.
SOURCE_ONLY = ("rhasspy-hermes",)
# Installed by `python -m venv` itself; never removed as strays.
VENV_BASE = ("pip", "setuptools")


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


def default_prefix() -> Path:
    """The venv `install` builds without --prefix: /opt/aftercare as root, else ~/aftercare."""
    if os.name == "posix" and os.geteuid() == 0:
        return Path("/opt/aftercare")
    return Path.home() / "aftercare"


def _canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_names() -> set[str]:
    """Every distribution pinned in requirements.lock.txt (whatever its marker)."""
    text = LOCKED_REQUIREMENTS.read_text(encoding="utf-8")
    return {_canonical(m) for m in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", text, re.M)}


def _venv_python_version(python: Path) -> tuple[int, int] | None:
    """(major, minor) of a venv's interpreter, or None when it does not run."""
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    major, minor = out.split()
    return int(major), int(minor)


def ensure_production_venv(prefix: Path) -> Path:
    """A venv with pip at prefix for this Python: reused if it runs this Python's version,
    rebuilt if it is broken or runs another; returns its interpreter."""
    if prefix in (ROOT, VENV, TOOLS):
        sys.exit(f"--prefix {prefix} is part of the checkout; choose a folder of its own")
    python = _bin(prefix, "python")
    if (prefix / "pyvenv.cfg").is_file():
        if _venv_python_version(python) == sys.version_info[:2]:
            return python
    elif prefix.exists() and (not prefix.is_dir() or any(prefix.iterdir())):
        sys.exit(
            f"{prefix} exists and is not a virtual environment (an older checkout?); "
            "move it away or choose another --prefix"
        )
    print(f"+ python3 -m venv {prefix}", flush=True)
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(prefix)
    except subprocess.CalledProcessError:
        sys.exit(
            f"could not set up pip in {prefix}: this Python has no ensurepip. On Debian, "
            "Ubuntu and Raspberry Pi OS install it with: sudo apt install python3-venv"
        )
    return python


def _remove_strays(python: Path) -> None:
    """Uninstall what is in the venv but not in the lock (left over from an older lock)."""
    listing = subprocess.run(
        [python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keep = locked_names() | {"aftercare", *VENV_BASE}
    strays = sorted(
        name for name in (_canonical(d["name"]) for d in json.loads(listing)) if name not in keep
    )
    if strays and _run([python, "-m", "pip", "uninstall", "--yes", *strays]) != 0:
        sys.exit(f"could not remove {', '.join(strays)} (no longer in uv.lock) from the venv")


def cmd_install(args: list[str]) -> int:
    """Build a production venv: the locked runtime dependencies, then Aftercare; no uv."""
    parser = argparse.ArgumentParser(
        prog="python3 scripts/dev.py install",
        description="Install Aftercare for real use into a virtual environment of its own.",
    )
    parser.add_argument(
        "--prefix",
        type=Path,
        default=default_prefix(),
        help="the venv to build or update (default: /opt/aftercare as root, else ~/aftercare)",
    )
    prefix = parser.parse_args(args).prefix.expanduser().resolve()
    # Readable by the service user even when root's umask is stricter.
    os.umask(0o022)
    python = ensure_production_venv(prefix)
    pip: list[str | Path] = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    wheels_only = ["--only-binary=:all:", *(f"--no-binary={name}" for name in SOURCE_ONLY)]
    code = _run([*pip, "--require-hashes", "--no-deps", *wheels_only, "-r", LOCKED_REQUIREMENTS])
    if code != 0:
        sys.exit(
            "pip could not install the locked dependencies (see above); is PyPI reachable? "
            "On a Raspberry Pi this needs 64-bit Raspberry Pi OS: onnxruntime, which the "
            "voice needs, publishes no wheels for 32-bit ARM."
        )
    # Non-editable, and built afresh every time, so the venv runs this checkout's code.
    if _run([*pip, "--no-deps", "--force-reinstall", ROOT]) != 0:
        sys.exit(f"pip could not build Aftercare from {ROOT} (see above)")
    _remove_strays(python)
    print(f"Installed Aftercare into {prefix}; the command is {_bin(prefix, 'aftercare')}")
    return 0


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
    """Dispatch `demo`, `test` or `install`."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"Aftercare needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer")
    commands = {"demo": cmd_demo, "test": cmd_test, "install": cmd_install}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit("usage: python3 scripts/dev.py {demo|test|install} [args...]")
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
