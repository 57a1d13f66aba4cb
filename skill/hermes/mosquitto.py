"""Mosquitto as the embedded broker: found on this machine, started as a child with a private
config on loopback, and never left running without the skill.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

from skill.base.errors import BrokerError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
"""The only address the embedded broker ever listens on."""
POLL_INTERVAL = 0.005
"""Seconds between looks while a broker starts."""

_SBIN_CANDIDATES = (Path("/usr/sbin/mosquitto"), Path("/usr/local/sbin/mosquitto"))
STOP_TIMEOUT = 3.0
"""Seconds a broker has to stop on SIGTERM before it is killed."""
_WATCH = 'read -r _; kill -TERM "$1" 2>/dev/null'
"""Waits for the end of its stdin (the skill's end), then stops mosquitto ($1: its pid)."""


# Quiet by design: mosquitto's log goes to a file in the private temp dir and is only
# shown when it fails to start. No persistence: the demo broker forgets everything.
_MOSQUITTO_CONF = """\
listener {port} {host}
allow_anonymous true
persistence false
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
log_type notice
"""


def find_mosquitto() -> Path | None:
    """The mosquitto binary on PATH, or in /usr/sbin or /usr/local/sbin; None if absent."""
    found = shutil.which("mosquitto")
    if found:
        return Path(found)
    for candidate in _SBIN_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


class Mosquitto:
    """One mosquitto child process with a generated config in a private temp dir."""

    def __init__(self, binary: Path, port: int) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="aftercare-mosquitto-"))
        config = self._dir / "mosquitto.conf"
        config.write_text(_MOSQUITTO_CONF.format(port=port, host=LOOPBACK), encoding="utf-8")
        self._log_path = self._dir / "mosquitto.log"
        # A file, not a pipe: nobody reads a pipe while mosquitto runs, and a full pipe
        # would block the broker.
        self._log: IO[bytes] = self._log_path.open("wb")
        self._proc = subprocess.Popen(
            [str(binary), "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            # Own session: Ctrl-C in the terminal reaches the skill, which then stops
            # mosquitto in order, instead of killing the broker under a running skill.
            start_new_session=True,
        )
        # When the skill dies without stopping it (killed, its terminal closed), nothing of
        # the skill runs any more; a watcher ends mosquitto then. It waits on a pipe only
        # this process holds open, so the pipe's end is the skill's death, however it
        # comes. (A parent-death signal would not do: mosquitto started as root changes
        # to its own user, and the kernel clears the signal on that change.)
        self._watcher = subprocess.Popen(
            [
                "sh",
                "-c",
                'read -r _; kill -TERM "$1" 2>/dev/null',
                "aftercare-watch",
                str(self._proc.pid),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._port = port

    def wait_ready(self, timeout: float) -> None:
        """Block until mosquitto accepts connections; BrokerError with its log if it can't."""
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                log = self.log_text()
                self.stop()
                raise BrokerError(
                    f"mosquitto could not start on {LOOPBACK}:{self._port} "
                    f"(exit code {code}); its log:\n{log}"
                )
            if accepts(self._port):
                return
            if time.monotonic() > deadline:
                log = self.log_text()
                self.stop()
                raise BrokerError(
                    f"mosquitto did not open {LOOPBACK}:{self._port} within {timeout:g} s "
                    f"and was stopped; its log:\n{log or '(empty)'}"
                )
            time.sleep(POLL_INTERVAL)

    def log_text(self) -> str:
        """What mosquitto wrote to stderr so far (the tail, if it is long)."""
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""
        return text[-4000:]

    def stop(self) -> None:
        """Terminate mosquitto (kill it if it ignores SIGTERM) and remove the temp dir."""
        # The watcher first, while mosquitto's pid is still its own: it must never signal
        # a pid the system has since given to another process.
        self._watcher.terminate()
        self._watcher.wait()
        if self._watcher.stdin is not None:
            self._watcher.stdin.close()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("mosquitto ignored SIGTERM for %g s; killing it", STOP_TIMEOUT)
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def port_taken(port: int) -> bool:
    """True if a broker could not bind 127.0.0.1:port (another program listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Same option the brokers use, so a port left in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def accepts(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.25):
            return True
    except OSError:
        return False
