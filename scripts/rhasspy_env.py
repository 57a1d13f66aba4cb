#!/usr/bin/env python3
"""Build `.rhasspy-venv/`: the real Rhasspy 2.5 NLU and dialogue services, for the live tests.

Needs only Python 3.11+ with venv and pip, and PyPI. The packages and every dependency
are pinned in rhasspy/requirements.txt and installed with `pip install --no-deps`, after
the build tools of rhasspy/build-requirements.txt; then `pip check`, and each service
must start with `--help`. Idempotent: a stamp records which requirements were installed,
so a second run only re-checks the services. Why each pin: rhasspy/README.md.

    python3 scripts/rhasspy_env.py           # build or check; prints the env's python
    python3 scripts/rhasspy_env.py --force   # rebuild from scratch
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".rhasspy-venv"
REQUIREMENTS = ROOT / "rhasspy" / "requirements.txt"
BUILD_REQUIREMENTS_NAME = "build-requirements.txt"
"""Beside the requirements: what their sdists need to build (installed first)."""
SERVICES = ("rhasspynlu_hermes", "rhasspydialogue_hermes")
"""Modules that must start: `python -m <module> --help`."""
STAMP_NAME = "aftercare-requirements.sha256"
"""File in the env holding the hash of the requirements it was built from."""
PIP_TIMEOUT = 900.0
CHECK_TIMEOUT = 60.0
OUTPUT_TAIL = 40
"""Lines of a failed command's output shown in the error."""

Log = Callable[[str], None]


class EnvError(Exception):
    """The Rhasspy environment could not be built or does not work; the text says why."""


def env_python(venv: Path = VENV) -> Path:
    """The interpreter inside the environment."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def build_requirements(requirements: Path) -> Path:
    """The build-tools file that belongs to a requirements file."""
    return requirements.with_name(BUILD_REQUIREMENTS_NAME)


def requirements_hash(requirements: Path) -> str:
    """sha256 of both requirements files, as recorded in the stamp."""
    digest = hashlib.sha256()
    for path in (build_requirements(requirements), requirements):
        try:
            digest.update(path.read_bytes())
        except OSError as err:
            raise EnvError(f"cannot read {path}: {err.strerror}") from err
    return digest.hexdigest()


def _tail(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(f"    {line}" for line in lines[-OUTPUT_TAIL:])


def _run(cmd: Sequence[str | Path], timeout: float, what: str, fix: str) -> str:
    """Run a command; its combined output, or EnvError with the output's tail and `fix`."""
    args = [str(part) for part in cmd]
    try:
        done = subprocess.run(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
            env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONWARNINGS="ignore"),
        )
    except subprocess.TimeoutExpired as err:
        raise EnvError(f"{what}: no result within {timeout:.0f} s. {fix}") from err
    except OSError as err:
        raise EnvError(f"{what}: cannot run {args[0]}: {err.strerror}. {fix}") from err
    if done.returncode != 0:
        raise EnvError(
            f"{what} failed (exit {done.returncode}). {fix}\n"
            f"  command: {' '.join(args)}\n  last output:\n{_tail(done.stdout)}"
        )
    return done.stdout


def check_services(python: Path) -> None:
    """Start every service with --help (in parallel); EnvError naming the first that fails."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    running = {
        module: subprocess.Popen(
            [str(python), "-m", module, "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for module in SERVICES
    }
    problems: list[str] = []
    for module, process in running.items():
        try:
            output, _ = process.communicate(timeout=CHECK_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            problems.append(f"{module} --help did not return within {CHECK_TIMEOUT:.0f} s")
            continue
        if process.returncode != 0 or "usage:" not in output:
            problems.append(f"{module} --help failed (exit {process.returncode}):\n{_tail(output)}")
    if problems:
        raise EnvError("a Rhasspy service does not start: " + "\n".join(problems))


def build(venv: Path, requirements: Path, python: str, log: Log) -> Path:
    """Create the environment from scratch and install the pinned requirements."""
    if venv.exists():
        if any(venv.iterdir()) and not (venv / "pyvenv.cfg").is_file():
            raise EnvError(f"{venv} exists and is not a virtualenv; move it away or pick --venv")
        log(f"removing the old {venv.name}/")
        shutil.rmtree(venv)
    log(f"creating {venv} with {python} -m venv")
    _run(
        [python, "-m", "venv", venv],
        timeout=120,
        what="python -m venv",
        fix="On Debian/Ubuntu install the venv module: apt-get install python3-venv.",
    )
    env_py = env_python(venv)
    unreachable = "Is PyPI reachable (proxy settings, PIP_INDEX_URL)? Every pin must exist there."
    pip: list[str | Path] = [env_py, "-m", "pip", "install", "--no-input"]
    log(f"installing {build_requirements(requirements)} (pip, from PyPI)")
    _run(
        [*pip, "-r", build_requirements(requirements)],
        timeout=PIP_TIMEOUT,
        what="pip install (build tools)",
        fix=unreachable,
    )
    log(f"installing {requirements} (pip, from PyPI)")
    _run(
        [*pip, "--no-deps", "--no-build-isolation", "-r", requirements],
        timeout=PIP_TIMEOUT,
        what="pip install",
        fix=unreachable,
    )
    _run(
        [env_py, "-m", "pip", "check"],
        timeout=120,
        what="pip check",
        fix=f"The pins in {requirements.name} contradict a package's own requirements; fix them.",
    )
    return env_py


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on a file, so two test runs never build at the same time."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield
        return
    with path.open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(
    venv: Path = VENV,
    requirements: Path = REQUIREMENTS,
    *,
    python: str = sys.executable,
    force: bool = False,
    log: Log | None = None,
) -> Path:
    """The python of a working Rhasspy environment, building it only when needed."""
    return ensure_env(venv, requirements, check_services, python=python, force=force, log=log)


def ensure_env(
    venv: Path,
    requirements: Path,
    check: Callable[[Path], None],
    *,
    python: str,
    force: bool,
    log: Log | None,
) -> Path:
    """The python of a working env built from `requirements`, building it only when it is
    missing, stale (the stamp) or fails `check` (EnvError); for every env script."""
    say = log or (lambda _: None)
    wanted = requirements_hash(requirements)
    with _exclusive(requirements):  # the file always exists, so it serves as the lock
        stamp = venv / STAMP_NAME
        env_py = env_python(venv)
        current = stamp.read_text().strip() if stamp.is_file() else ""
        if not force and current == wanted and env_py.exists():
            try:
                check(env_py)
            except EnvError as err:
                say(f"{venv.name}/ is up to date but broken ({err}); rebuilding")
            else:
                return env_py
        env_py = build(venv, requirements, python, say)
        check(env_py)
        stamp.write_text(wanted + "\n")  # last: an interrupted build is redone next time
        say(f"{venv.name}/ is ready")
        return env_py


def run_cli(
    argv: Sequence[str] | None,
    *,
    doc: str | None,
    venv: Path,
    ensure_env: Callable[..., Path],
    what: str,
    name: str,
) -> int:
    """The command line of an env script: build or check the environment; print its
    python, or a clear error and exit 1. `what` names it in errors, `name` in the log."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--force", action="store_true", help="rebuild from scratch")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter that creates the env (default: the one running this script)",
    )
    parser.add_argument("--venv", type=Path, default=venv, help=f"where (default: {venv})")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(f"{name}: {line}", file=sys.stderr, flush=True)

    try:
        python = ensure_env(args.venv, python=args.python, force=args.force, log=log)
    except EnvError as err:
        print(f"error: cannot build the {what} environment: {err}", file=sys.stderr)
        return 1
    print(python)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Build or check the environment; print its python, or a clear error and exit 1."""
    return run_cli(
        argv, doc=__doc__, venv=VENV, ensure_env=ensure, what="Rhasspy", name="rhasspy_env"
    )


if __name__ == "__main__":
    sys.exit(main())
