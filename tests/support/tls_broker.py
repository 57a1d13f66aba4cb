"""A locked-down Mosquitto for tests: TLS, passwords and an ACL, built in a temp dir.

Certificates come from the `openssl` CLI, the password file from `mosquitto_passwd`
(both ship with Debian's openssl and mosquitto packages); nothing here needs a Python
crypto library. `TlsBroker` runs `mosquitto -c` on a free 127.0.0.1 port with:

- a TLS listener (server certificate for 127.0.0.1 and localhost, signed by a test CA),
  optionally requiring a client certificate signed by the same CA;
- `allow_anonymous false` and a password file with the skill's user and an admin;
- an ACL that gives the skill's user exactly the topics `skill_acl()` lists.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import paho.mqtt.client as mqtt

from skill.hermes.client import new_client
from skill.hermes.mosquitto import find_mosquitto, free_port
from skill.site.handlers import INTENTS
from support.mqtt_recorder import MqttRecorder

HOST = "127.0.0.1"
"""Where the broker listens (its certificate names this address and localhost)."""

SKILL_USER = "aftercare"
"""The skill's broker account: only the ACL's topics."""
ADMIN_USER = "recorder"
"""The tests' own account: every topic."""

INSTALL = {
    "mosquitto": "apt-get install mosquitto",
    "mosquitto_passwd": "apt-get install mosquitto (it ships mosquitto_passwd)",
    "openssl": "apt-get install openssl",
}
"""How to get each tool these tests need (Debian/Ubuntu)."""

_START_TIMEOUT = 5.0
_STOP_TIMEOUT = 3.0
_DAYS = "2"

# Extensions as a real deployment would have them (Python's strict X.509 checks want the
# key identifiers; clients check the server's subjectAltName, not its CN).
_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = placeholder

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer

[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""

_MOSQUITTO_CONF = """\
per_listener_settings false
allow_anonymous false
password_file {passwords}
acl_file {acl}
persistence false
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
user {user}

listener {port} {host}
cafile {ca}
certfile {cert}
keyfile {key}
require_certificate {require}
use_identity_as_username false
"""


def find_tool(name: str) -> Path | None:
    """A tool on PATH or in /usr/sbin, /usr/bin (mosquitto: as the skill finds it)."""
    if name == "mosquitto":
        return find_mosquitto()
    found = shutil.which(name)
    if found:
        return Path(found)
    for folder in ("/usr/sbin", "/usr/bin", "/usr/local/bin"):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_tools() -> list[str]:
    """One line per missing tool, saying how to install it (empty when all are there)."""
    return [f"{tool} ({how})" for tool, how in INSTALL.items() if find_tool(tool) is None]


# --- certificates ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A test CA with a server certificate (127.0.0.1, localhost) and a client certificate."""

    ca_file: Path
    """The CA certificate (what mqtt.tls.ca_file points at)."""
    server_cert: Path
    """The broker's certificate."""
    server_key: Path
    """The broker's private key (0600)."""
    client_cert: Path
    """A client certificate signed by the CA."""
    client_key: Path
    """Its private key (0600)."""


def _openssl(folder: Path, *args: str) -> None:
    binary = find_tool("openssl")
    assert binary is not None, "openssl is not installed"
    result = subprocess.run(
        [str(binary), *args], cwd=folder, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def _cnf(folder: Path) -> Path:
    cnf = folder / "openssl.cnf"
    if not cnf.exists():
        cnf.write_text(_OPENSSL_CNF, encoding="utf-8")
    return cnf


_NEW_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def make_ca(folder: Path, stem: str, name: str) -> tuple[Path, Path]:
    """A self-signed CA: (certificate, private key) as <stem>.crt and <stem>.key."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{stem}.crt", folder / f"{stem}.key"
    _openssl(
        folder,
        "req", "-x509", "-new", *_NEW_KEY, "-sha256", "-days", _DAYS,
        "-config", str(_cnf(folder)), "-extensions", "ca_ext",
        "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


def issue(
    folder: Path, stem: str, ca: tuple[Path, Path], name: str, extensions: str
) -> tuple[Path, Path]:
    """A certificate signed by `ca` with the extensions of one section of the config."""
    cert, key, request = folder / f"{stem}.crt", folder / f"{stem}.key", folder / f"{stem}.csr"
    cnf = str(_cnf(folder))
    _openssl(
        folder,
        "req", "-new", *_NEW_KEY, "-config", cnf,
        "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(request),
    )  # fmt: skip
    key.chmod(0o600)
    _openssl(
        folder,
        "x509", "-req", "-in", str(request), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-set_serial", f"0x{secrets.token_hex(8)}", "-sha256", "-days", _DAYS,
        "-extfile", cnf, "-extensions", extensions, "-out", str(cert),
    )  # fmt: skip
    request.unlink()
    return cert, key


def make_pki(folder: Path) -> Pki:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    ca = make_ca(folder, "ca", "Aftercare test CA")
    server = issue(folder, "server", ca, "localhost", "server_ext")
    client = issue(folder, "client", ca, "aftercare-skill", "client_ext")
    return Pki(ca[0], server[0], server[1], client[0], client[1])


# --- accounts and what they may do --------------------------------------------------------


def write_passwords(path: Path, users: Mapping[str, str]) -> Path:
    """A Mosquitto password file (hashed by mosquitto_passwd), 0600."""
    binary = find_tool("mosquitto_passwd")
    assert binary is not None, "mosquitto_passwd is not installed"
    path.write_text("", encoding="utf-8")
    path.chmod(0o600)
    for user, password in users.items():
        # -b: the password is on the command line; fine for a throwaway test password.
        result = subprocess.run(
            [str(binary), "-b", str(path), user, password],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"mosquitto_passwd failed for {user}:\n{result.stderr}")
    return path


def skill_acl(
    *,
    sites: Sequence[str],
    device_topics: Iterable[str] = (),
    topic_prefix: str = "aftercare",
    ha_prefix: str = "homeassistant",
    node_id: str = "aftercare",
) -> list[str]:
    """The ACL lines the skill's user needs: what it subscribes to and what it publishes.

    Written out from the topics the skill documents (README, skill/hermes/messages.py,
    skill/room/status.py, skill/room/homeassistant.py), not computed by the skill, so a new topic it
    starts to use shows up as a message that never arrives. (Mosquitto 2.0 grants a
    subscription its ACL forbids and then delivers nothing on it: a missing `topic read`
    line is silent, never a refused subscription.) Site ids must be plain ([a-zA-Z0-9_-]):
    discovery ids of other sites carry a digest (skill.homeassistant.site_key).
    """
    read = [
        *(f"hermes/intent/{name}" for name in INTENTS),  # its own intents, no others
        "hermes/audioServer/+/playFinished",  # a clip has played (every site)
        "hermes/tts/sayFinished",  # voice.engine: hermes, a sentence has been spoken
        "hermes/dialogueManager/sessionStarted",  # check-ins that listen
        "hermes/dialogueManager/sessionEnded",
        f"{topic_prefix}/+/command",  # Home Assistant buttons
        f"{ha_prefix}/status",  # Home Assistant restarted: announce again
    ]
    write = [
        f"{topic_prefix}/status",  # retained online/offline, and the last will
        "hermes/dialogueManager/endSession",
        "hermes/dialogueManager/startSession",
        "hermes/tts/say",  # voice.engine: hermes
    ]
    for site in sites:
        write += [
            f"hermes/audioServer/{site}/playBytes/+",
            f"{topic_prefix}/{site}/state",
            *(
                f"{ha_prefix}/button/{node_id}_{site}_{action}/config"
                for action in ("start_aftercare", "start_breathing", "cooldown", "stop")
            ),
            f"{ha_prefix}/sensor/{node_id}_{site}_activity/config",
        ]
    write += device_topics
    return [f"topic read {topic}" for topic in read] + [f"topic write {t}" for t in write]


def acl_text(skill_lines: Iterable[str], *, skill_user: str = SKILL_USER) -> str:
    """The whole ACL file: the skill's lines, and everything for the admin user."""
    return "\n".join(
        [f"user {skill_user}", *skill_lines, "", f"user {ADMIN_USER}", "topic readwrite #", ""]
    )


# --- the broker --------------------------------------------------------------------------


@dataclass(frozen=True)
class Security:
    """Everything a client needs besides the address: CA, client certificate, passwords."""

    pki: Pki
    """The certificates."""
    passwords: Mapping[str, str]
    """Plain passwords per user (the broker only has their hashes)."""
    require_certificate: bool
    """True when the broker refuses clients without a certificate signed by the CA."""


class TlsBroker:
    """mosquitto -c with TLS, a password file and an ACL, in `folder`; a context manager."""

    def __init__(
        self,
        folder: Path,
        pki: Pki,
        passwords: Mapping[str, str],
        acl: str,
        *,
        require_certificate: bool = False,
    ) -> None:
        binary = find_tool("mosquitto")
        assert binary is not None, "mosquitto is not installed"
        self._binary = binary
        self.folder = folder
        """Where the config, password file, ACL and log live."""
        self.host = HOST
        """Always 127.0.0.1."""
        self.port = free_port()
        """The TLS listener's port."""
        self.security = Security(pki, dict(passwords), require_certificate)
        """What clients need to connect."""
        passwd = write_passwords(folder / "passwd", passwords)
        acl_file = folder / "acl"
        acl_file.write_text(acl, encoding="utf-8")
        acl_file.chmod(0o600)
        self._config = folder / "mosquitto.conf"
        self._config.write_text(
            _MOSQUITTO_CONF.format(
                passwords=passwd,
                acl=acl_file,
                # As root, mosquitto would switch to the `mosquitto` user and could no
                # longer read these 0600 files: stay who we are.
                user=pwd.getpwuid(os.getuid()).pw_name,
                port=self.port,
                host=HOST,
                ca=pki.ca_file,
                cert=pki.server_cert,
                key=pki.server_key,
                require="true" if require_certificate else "false",
            ),
            encoding="utf-8",
        )
        self._log_path = folder / "mosquitto.log"
        self._log: IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        """Start mosquitto and wait until its TLS listener completes a handshake."""
        self._log = self._log_path.open("wb")
        self._proc = subprocess.Popen(
            [str(self._binary), "-c", str(self._config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._handshakes():
            code = self._proc.poll()
            if code is not None or time.monotonic() > deadline:
                log = self.log_text()
                self.stop()
                raise AssertionError(
                    f"mosquitto did not start a TLS listener on {HOST}:{self.port} "
                    f"(exit code {code}); its log:\n{log}"
                )
            time.sleep(0.01)
        return self

    def _handshakes(self) -> bool:
        """True once a TLS handshake with the broker succeeds (a certificate-checked probe)."""
        context = ssl.create_default_context(cafile=str(self.security.pki.ca_file))
        if self.security.require_certificate:
            pki = self.security.pki
            context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
        try:
            with (
                socket.create_connection((HOST, self.port), timeout=0.5) as raw,
                context.wrap_socket(raw, server_hostname=HOST),
            ):
                return True
        except OSError:
            return False

    def log_text(self) -> str:
        """What mosquitto logged so far (the tail)."""
        try:
            return self._log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate mosquitto (kill it if it ignores SIGTERM)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def secure_client(broker: TlsBroker, user: str, *, client_id: str | None = None) -> mqtt.Client:
    """A paho client for `user` with the broker's CA (and the client certificate if required)."""
    client = new_client(user, client_id=client_id)
    configure(client, broker, user)
    return client


def configure(client: mqtt.Client, broker: TlsBroker, user: str) -> None:
    """Set `user`'s password and the broker's TLS on a paho client that has not connected."""
    security = broker.security
    pki = security.pki
    client.username_pw_set(user, security.passwords[user])
    client.tls_set(
        ca_certs=str(pki.ca_file),
        certfile=str(pki.client_cert) if security.require_certificate else None,
        keyfile=str(pki.client_key) if security.require_certificate else None,
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )


class SecureRecorder(MqttRecorder):
    """An MqttRecorder that logs in as `user` over the broker's TLS listener."""

    def __init__(
        self, broker: TlsBroker, topic_filters: Iterable[str], *, user: str = ADMIN_USER
    ) -> None:
        super().__init__(broker.host, broker.port, topic_filters)
        configure(self._client, broker, user)
