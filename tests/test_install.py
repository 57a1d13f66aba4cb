"""The production install: the README's command, the lock it installs, and wheels for a Pi.

`pip install .` cannot install Aftercare (rhasspy-hermes pins paho-mqtt==1.5.0 and only uv
reads the override), so `python3 scripts/dev.py install` installs requirements.lock.txt,
uv.lock's runtime set with hashes, and then the project, both with --no-deps.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The README marks its production install command with this comment; the code block
# right after it is what test_the_readme_install_command_gives_a_working_aftercare runs.
MARK = "<!-- tests/test_install.py runs the command below exactly as written -->"
# The uv command that wrote requirements.lock.txt (its header repeats it).
EXPORT = (
    "export --locked --no-dev --no-emit-project --format requirements-txt "
    "--output-file requirements.lock.txt"
)


@dataclass(frozen=True)
class Pin:
    """One requirement of requirements.lock.txt."""

    name: str
    """Canonical distribution name (PEP 503)."""
    version: str
    """The exact version pinned with ==."""
    marker: Marker | None
    """Where it applies (e.g. python_full_version >= '3.13'); None: everywhere."""
    hashes: frozenset[str]
    """The files pip will accept, as `sha256:<hex>`."""

    def applies(self, environment: Mapping[str, str]) -> bool:
        """Whether pip installs this pin in that marker environment."""
        return self.marker is None or self.marker.evaluate(dict(environment))


@dataclass(frozen=True)
class PiTarget:
    """A Raspberry Pi OS release the README promises (64-bit)."""

    release: str
    """Debian release name."""
    python: tuple[int, int, int]
    """The python3 it ships."""
    glibc: tuple[int, int]
    """The glibc it ships: manylinux wheels up to this version install."""


PI_TARGETS = (
    PiTarget("bookworm", (3, 11, 2), (2, 36)),
    PiTarget("trixie", (3, 13, 5), (2, 41)),
)


@cache
def dev() -> ModuleType:
    """scripts/dev.py as a module (its paths and constants are the install's)."""
    spec = importlib.util.spec_from_file_location("dev", ROOT / "scripts" / "dev.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_pins(text: str) -> list[Pin]:
    """The requirements of a hashed requirements file (uv export's format)."""
    pins = []
    for logical in text.replace("\\\n", " ").splitlines():
        line = logical.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *hashes = line.split("--hash=")
        requirement = Requirement(spec)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        pins.append(
            Pin(
                canonicalize_name(requirement.name),
                specifier.version,
                requirement.marker,
                frozenset(h.strip() for h in hashes),
            )
        )
    return pins


def locked_pins() -> list[Pin]:
    """The pins of the committed requirements.lock.txt."""
    path: Path = dev().LOCKED_REQUIREMENTS
    return read_pins(path.read_text(encoding="utf-8"))


def lock_files() -> dict[tuple[str, str], list[tuple[str, str]]]:
    """uv.lock's files per (name, version): (file name, hash), the sdist included."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    files: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for package in lock["package"]:
        entries = [*package.get("wheels", ()), *([package["sdist"]] if "sdist" in package else [])]
        files[canonicalize_name(package["name"]), package["version"]] = [
            (entry["url"].rsplit("/", 1)[1], entry["hash"]) for entry in entries if "url" in entry
        ]
    return files


def dev_group() -> set[str]:
    """Names in pyproject's dev dependency group."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {canonicalize_name(Requirement(r).name) for r in pyproject["dependency-groups"]["dev"]}


def test_the_locked_requirements_are_uv_lock_without_dev_tools(tmp_path: Path) -> None:
    """requirements.lock.txt is exactly what uv exports from uv.lock today, and no dev tool."""
    uv: Path = dev()._bin(dev().TOOLS, "uv")
    if not uv.exists():
        pytest.fail(f"{uv} is missing; run the tests with: python3 scripts/dev.py test")
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    subprocess.run([uv, *EXPORT.split(), "--quiet"], cwd=tmp_path, check=True)
    fresh = (tmp_path / "requirements.lock.txt").read_text(encoding="utf-8")
    committed: Path = dev().LOCKED_REQUIREMENTS
    assert committed.read_text(encoding="utf-8") == fresh, (
        f"{committed.name} is out of step with uv.lock; in the checkout run: .tools/bin/uv {EXPORT}"
    )
    names = {pin.name for pin in read_pins(fresh)}
    assert "aftercare" not in names
    assert not names & dev_group()
    assert {"rhasspy-hermes", "paho-mqtt", "piper-tts", "onnxruntime"} <= names


def pi_tags(target: PiTarget) -> set[Tag]:
    """Every wheel tag pip accepts on 64-bit Raspberry Pi OS of that release."""
    python = target.python[:2]
    interpreter = f"cp{python[0]}{python[1]}"
    glibc_major, glibc_minor = target.glibc
    platforms = [
        *(f"manylinux_{glibc_major}_{minor}_aarch64" for minor in range(glibc_minor, 16, -1)),
        "manylinux2014_aarch64",
        "linux_aarch64",
    ]
    return {
        *cpython_tags(python, [interpreter], platforms),
        *compatible_tags(python, interpreter, platforms),
    }


def marker_environment(python: tuple[int, ...], machine: str = "aarch64") -> dict[str, str]:
    """Marker values of CPython `python` on Linux `machine`."""
    full = ".".join(map(str, python))
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "python_version": ".".join(map(str, python[:2])),
        "sys_platform": "linux",
    }


@pytest.mark.parametrize("target", PI_TARGETS, ids=lambda t: f"{t.release}-py{t.python[1]}")
def test_every_runtime_dependency_comes_as_a_wheel_on_a_raspberry_pi(target: PiTarget) -> None:
    """On 64-bit Raspberry Pi OS nothing compiles: each locked runtime dependency has a
    wheel for its Python and glibc whose hash requirements.lock.txt lets pip accept,
    except the sdists dev.py names (pure Python: the install test shows they build to
    py3-none-any wheels), and the README names those."""
    accepted = pi_tags(target)
    files = lock_files()
    environment = marker_environment(target.python)
    pins = [pin for pin in locked_pins() if pin.applies(environment)]
    without_wheel = []
    for pin in pins:
        wheels = [
            name
            for name, digest in files[pin.name, pin.version]
            if name.endswith(".whl")
            and digest in pin.hashes
            and parse_wheel_filename(name)[3] & accepted
        ]
        if not wheels:
            without_wheel.append(pin.name)
    source_only: tuple[str, ...] = dev().SOURCE_ONLY
    assert sorted(without_wheel) == sorted(source_only)
    assert len(pins) >= 35  # the whole runtime set was looked at, not a stray subset
    for name in source_only:
        assert any(name == pin.name and pin.hashes for pin in pins)
        assert f"`{name}`" in readme_section("## Running it for real")


def readme_section(heading: str) -> str:
    """The README's text from a heading to the next heading of the same level."""
    text = README.read_text(encoding="utf-8")
    start = text.index(heading)
    level = heading.split(maxsplit=1)[0]
    end = text.find(f"\n{level} ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def readme_install_command() -> str:
    """The one command in the code block after MARK in the README."""
    text = README.read_text(encoding="utf-8")
    assert text.count(MARK) == 1, f"README.md must mark its install command once with {MARK}"
    block = re.search(re.escape(MARK) + r"\s*```sh\n(.*?)\n\s*```", text, re.S)
    assert block is not None, f"no ```sh code block right after {MARK}"
    lines = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 1, f"one command after {MARK}, got {lines}"
    return lines[0]


def find_python(minor: int) -> str | None:
    """The real executable of a CPython 3.<minor> on this machine, or None."""
    name = f"python3.{minor}"
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [
        getattr(sys, "_base_executable", None) if sys.version_info[:2] == (3, minor) else None,
        shutil.which(name),
        *sorted(str(p) for p in pyenv.glob(f"3.{minor}.*/bin/{name}")),
        f"/usr/bin/{name}",
        f"/usr/local/bin/{name}",
    ]
    probe = "import sys; print(sys.version_info[1], sys.executable)"
    for candidate in candidates:
        if candidate is None or not Path(candidate).exists():
            continue
        found = subprocess.run(
            [candidate, "-c", probe], check=False, capture_output=True, text=True
        )
        if found.returncode == 0:
            got, executable = found.stdout.split(maxsplit=1)
            if int(got) == minor:
                return executable.strip()
    return None


def pip_cache() -> str:
    """The user's pip cache, kept when HOME points elsewhere (warm runs stay fast)."""
    if "PIP_CACHE_DIR" in os.environ:
        return os.environ["PIP_CACHE_DIR"]
    return str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pip")


def in_venv(python: Path, code: str) -> str:
    """Run Python code with the installed venv's interpreter, isolated (-I: the checkout
    in the working directory is not on sys.path); its stdout."""
    done = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


INSTALLED = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)
HERMES_WHEEL = (
    "import importlib.metadata as m; print(m.distribution('rhasspy-hermes').read_text('WHEEL'))"
)


def overridden() -> list[str]:
    """The names pyproject's [tool.uv] override-dependencies overrides."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(r).name for r in pyproject["tool"]["uv"]["override-dependencies"]]


def python_under_test(minor: int) -> str:
    """Python 3.<minor>'s executable; skips without it, but fails on CI (CI=true)."""
    executable = find_python(minor)
    if executable is None:
        reason = f"Python 3.{minor} is not installed here (looked on PATH and in pyenv)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{reason}; CI must test every Python the README promises")
        pytest.skip(reason)
    return executable


def fresh_home(tmp_path: Path, executable: str) -> dict[str, str]:
    """The environment of a new user whose `python3` is `executable`, in tmp_path/home."""
    home = tmp_path / "home"
    home.mkdir()
    shims = tmp_path / "bin"
    shims.mkdir()
    python3 = shims / "python3"
    python3.write_text(f'#!/bin/sh\nexec {executable} "$@"\n', encoding="utf-8")
    python3.chmod(0o755)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    }
    env.update(
        HOME=str(home),
        PATH=f"{shims}{os.pathsep}{env['PATH']}",
        PIP_CACHE_DIR=pip_cache(),
        XDG_DATA_HOME=str(home / ".local" / "share"),
    )
    return env


def run(command: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    """Run a command; its stdout, or a failure showing the end of its output."""
    done = subprocess.run(command, check=False, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n" + (
        done.stdout[-3000:] + done.stderr[-3000:]
    )
    return done.stdout


@pytest.mark.timeout(900)
@pytest.mark.parametrize("minor", [11, 13], ids=["python3.11", "python3.13"])
def test_the_readme_install_command_gives_a_working_aftercare(tmp_path: Path, minor: int) -> None:
    """The README's install command, run as written with python3 being 3.<minor>, in a fresh
    home: the venv holds exactly the locked runtime set (no dev tool), and `aftercare
    check` and `aftercare recognize` work from it, away from the checkout."""
    env = fresh_home(tmp_path, python_under_test(minor))
    command = readme_install_command()
    argv = shlex.split(command)
    assert argv[:3] == ["python3", "scripts/dev.py", "install"], command
    prefix_arg = argv[argv.index("--prefix") + 1]
    assert prefix_arg.startswith("~/"), "the README's install goes to the user's home"
    prefix = Path(env["HOME"]) / prefix_arg.removeprefix("~/")
    for attempt in ("cold", "again"):  # a second run is an update in place
        started = time.monotonic()
        said = run(["/bin/sh", "-c", command], ROOT, env)
        print(f"install with Python 3.{minor}, {attempt}: {time.monotonic() - started:.1f} s")
        assert f"the command is {prefix}/bin/aftercare" in said
    python = prefix / "bin" / "python"
    aftercare = prefix / "bin" / "aftercare"

    # Exactly the locked runtime set for this Python, at the locked versions.
    version = in_venv(python, "import platform; print(platform.python_version())")
    environment = marker_environment(tuple(map(int, version.split("."))), os.uname().machine)
    assert environment["python_version"] == f"3.{minor}"
    expected = {pin.name: pin.version for pin in locked_pins() if pin.applies(environment)}
    installed: dict[str, str] = {
        canonicalize_name(k): v for k, v in json.loads(in_venv(python, INSTALLED)).items()
    }
    assert installed.pop("aftercare") == "0.1.0"
    base: tuple[str, ...] = dev().VENV_BASE
    assert {name: v for name, v in installed.items() if name not in base} == expected
    assert not installed.keys() & dev_group()

    # The one sdist built here into a pure-Python wheel: no compiler on a Pi either.
    wheel = in_venv(python, HERMES_WHEEL)
    assert "Root-Is-Purelib: true" in wheel
    assert "Tag: py3-none-any" in wheel

    # pip check knows only rhasspy-hermes's stale pins, the ones pyproject overrides.
    check = subprocess.run(
        [python, "-m", "pip", "check"], check=False, capture_output=True, text=True
    )
    complaints = check.stdout.strip().splitlines()
    assert complaints or check.returncode == 0
    names = "|".join(re.escape(name) for name in overridden())
    for line in complaints:
        assert re.match(rf"rhasspy-hermes \S+ has requirement ({names})==", line), line

    # The installed wheel carries intents/ and responses/; nothing comes from the checkout.
    work = tmp_path / "work"  # no config.yaml here: check runs on the defaults
    work.mkdir()
    data = Path(in_venv(python, "from skill.app import project_dir; print(project_dir())"))
    assert data.is_relative_to(prefix), data
    assert "OK:" in run([aftercare, "check"], work, env)
    heard = json.loads(run([aftercare, "recognize", "start aftercare"], work, env))
    assert heard["intent"]["intentName"] == "AftercareStart"
