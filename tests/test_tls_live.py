"""Issue #7, security: the skill on a Mosquitto with TLS, passwords and an ACL.

The broker (tests/support/tls_broker.py) has anonymous access off, a TLS listener with a test CA,
and an ACL that gives the skill's user exactly the topics it needs. The tests' own user
plays Rhasspy (NLU, dialogue manager, audio server) and Home Assistant with every right.

- The skill logs in with a password from a file or from the environment, over TLS with
  the CA file (and with a client certificate when the broker asks for one), says
  `online`, announces itself to Home Assistant and serves a whole routine: a line, a
  check-in answered and one left unanswered, music, a close, a Home Assistant button and
  restart. Each line of the ACL is needed by one of these steps.
- The ACL really is enforced (otherwise the above would prove nothing).
- A wrong password or a CA that did not sign the broker's certificate fails at once with
  a message naming what to fix, and the password never shows up, in the error or the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from support.fakes import FakeVoice, ends, make_config, make_intent, recognizer
from support.mqtt_recorder import MqttRecorder, Received
from support.tls_broker import (
    ADMIN_USER,
    SKILL_USER,
    Pki,
    SecureRecorder,
    TlsBroker,
    acl_text,
    make_ca,
    make_pki,
    missing_tools,
    secure_client,
    skill_acl,
)

from skill.app import Runtime
from skill.base.errors import BrokerError
from skill.config.settings import Config
from skill.room.homeassistant import discovery_messages

pytestmark = pytest.mark.timeout(60)
live = pytest.mark.mosquitto
"""Runs a real Mosquitto (like the tests using the `mosquitto` fixture)."""

SITE = "bedroom"
SCALE = 0.05
"""Real seconds per plan second."""
PLAYER_TOPIC = "home/bedroom/player/set"
"""The test player of fakes.make_config."""
STATUS = "aftercare/status"
SAY = "hermes/tts/say"
PASSWORD_ENV = "AFTERCARE_TEST_MQTT_PASSWORD"
FAIL_FAST = 5.0
"""Seconds within which a refused login or a bad certificate must stop the start."""
GIVE_UP = 12.0
"""Seconds after which a start that neither failed nor succeeded is a test failure."""

ROUTINE = {
    "short": {
        "description": "A line, two check-ins that listen, music and a close.",
        "steps": [
            {"say": "routine.opening"},
            {"checkin": "feeling"},
            {"checkin": "need"},
            {"music": "play"},
            {"close": "routine.close"},
        ],
    }
}
"""What "start aftercare" runs here: every kind of topic a routine uses, in a second."""


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA with server and client certificates (made once for the module)."""
    missing = missing_tools()
    if missing:
        # Fail, never skip: a missing tool must not turn the security tests green.
        pytest.fail(
            "the TLS broker tests need " + ", ".join(missing) + "; install them, or "
            "deselect these tests with -m 'not mosquitto'",
            pytrace=False,
        )
    return make_pki(tmp_path_factory.mktemp("pki"))


def new_password() -> str:
    """A fresh random password, so finding one in a log or message is no coincidence."""
    return f"pw{secrets.token_hex(10)}"  # never starts with "-" (mosquitto_passwd's options)


@pytest.fixture
def passwords() -> dict[str, str]:
    """The two accounts' passwords."""
    return {SKILL_USER: new_password(), ADMIN_USER: new_password()}


def _acl(**overrides: Any) -> str:
    return acl_text(skill_acl(sites=[SITE], device_topics=[PLAYER_TOPIC], **overrides))


@pytest.fixture
def broker(tmp_path: Path, pki: Pki, passwords: dict[str, str]) -> Iterator[TlsBroker]:
    """Mosquitto: TLS with the test CA, passwords, the skill's ACL."""
    folder = tmp_path / "broker"
    folder.mkdir()
    with TlsBroker(folder, pki, passwords, _acl()) as running:
        yield running


@pytest.fixture
def cert_broker(tmp_path: Path, pki: Pki, passwords: dict[str, str]) -> Iterator[TlsBroker]:
    """The same, and a client certificate signed by the test CA is required."""
    folder = tmp_path / "cert-broker"
    folder.mkdir()
    with TlsBroker(folder, pki, passwords, _acl(), require_certificate=True) as running:
        yield running


# --- the skill's side ----------------------------------------------------------------------


def write_secret(path: Path, text: str) -> Path:
    """A 0600 file holding one line (a password file as the README describes it)."""
    path.write_text("", encoding="utf-8")
    path.chmod(0o600)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def skill_config(
    broker: TlsBroker,
    tmp_path: Path,
    *,
    password: str | None = None,
    from_env: bool = False,
    ca_file: Path | None = None,
    client_cert: bool = False,
    **overrides: Any,
) -> Config:
    """The skill's config for this broker: user `aftercare`, its password, the CA file."""
    pki = broker.security.pki
    if password is None:
        password = broker.security.passwords[SKILL_USER]
    tls: dict[str, str] = {"ca_file": str(ca_file or pki.ca_file)}
    if client_cert:
        tls |= {"cert_file": str(pki.client_cert), "key_file": str(pki.client_key)}
    mqtt_section: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "username": SKILL_USER,
        "tls": tls,
    }
    if from_env:
        mqtt_section["password_env"] = PASSWORD_ENV
    else:
        mqtt_section["password_file"] = str(write_secret(tmp_path / "mqtt-password", password))
    settings: dict[str, Any] = {
        "mqtt": mqtt_section,
        "sites": [SITE],
        "routines": ROUTINE,
        "cooldown": {"playlist": "Cool down", "fade_in": 0, "fade_out": 0},
        **overrides,
    }
    return make_config(broker.host, broker.port, tmp_path / "data", **settings)


def runtime(config: Config) -> Runtime:
    """The real skill with the silent fake voice and compressed time."""
    voice = FakeVoice() if config.voice.engine == "piper" else None
    return Runtime(config, time_scale=SCALE, synthesizer=voice, cache=False)


class RhasspyStandIn:
    """The tests' user as Rhasspy's audio server and TTS: answers every clip at once.

    playFinished for each playBytes of the site and sayFinished for each tts/say, so the
    skill goes on at once only if it receives them (otherwise it waits 1.5 s or more).
    """

    def __init__(self, broker: TlsBroker) -> None:
        self.answered: list[tuple[float, str]] = []
        """(time.monotonic(), topic answered) per clip or sentence."""
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = secure_client(broker, ADMIN_USER)
        self._client.on_connect = self._connected
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._answer
        self._broker = broker

    def _connected(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(f"hermes/audioServer/{SITE}/playBytes/+", 0), ("hermes/tts/say", 0)])

    def _on_subscribe(self, *args: Any) -> None:
        self._subscribed.set()

    def _answer(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == "hermes/tts/say":
            request = json.loads(message.payload)
            topic, body = "hermes/tts/sayFinished", {"id": request["id"], "siteId": SITE}
        else:
            request_id = message.topic.rsplit("/", 1)[1]
            topic = f"hermes/audioServer/{SITE}/playFinished"
            body = {"id": request_id, "siteId": SITE}
        with self._lock:  # before the answer: the skill cannot be done with it yet
            self.answered.append((time.monotonic(), message.topic))
        client.publish(topic, json.dumps(body), qos=0)

    def __enter__(self) -> RhasspyStandIn:
        self._client.connect(self._broker.host, self._broker.port)
        self._client.loop_start()
        assert self._subscribed.wait(5), "the stand-in audio server did not subscribe"
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@contextlib.asynccontextmanager
async def watching(
    broker: TlsBroker, *topics: str, user: str = ADMIN_USER
) -> AsyncIterator[SecureRecorder]:
    """A recorder logged in as `user` (the tests' own by default); closed at the end."""
    recorder = SecureRecorder(broker, topics, user=user)
    await asyncio.to_thread(recorder.start)
    try:
        yield recorder
    finally:
        await asyncio.to_thread(recorder.close)


async def wait_for(recorder: MqttRecorder, test: str | Callable[[Received], bool]) -> Received:
    """recorder.wait_for on a worker thread (the skill shares this event loop)."""
    return await asyncio.to_thread(recorder.wait_for, test, 5.0)


def assert_secret_kept(secret: str, *texts: str) -> None:
    """The password is in none of the texts."""
    for text in texts:
        assert secret not in text, "the broker password appeared in a message or the log"


async def answer_checkin(recorder: MqttRecorder, request: dict[str, Any], text: str | None) -> None:
    """As Rhasspy's dialogue manager: sessionStarted, then the NluIntent of `text`.

    The answer carries only the session id, no customData, so the skill can match it
    only if it received sessionStarted. `text` None: the session ends unanswered
    (sessionEnded, reason timeout), which the skill must hear to go on at once.
    """
    session, site = f"dm-{secrets.token_hex(4)}", request["siteId"]
    started = {"sessionId": session, "siteId": site, "customData": request.get("customData")}
    await asyncio.to_thread(
        recorder.publish, "hermes/dialogueManager/sessionStarted", json.dumps(started)
    )
    if text is None:
        ended = {"sessionId": session, "siteId": site, "termination": {"reason": "timeout"}}
        await asyncio.to_thread(
            recorder.publish, "hermes/dialogueManager/sessionEnded", json.dumps(ended)
        )
        return
    intent = recognizer().recognize(text, site_id=site, session_id=session)
    assert intent is not None
    topic = intent.topic(intent_name=intent.intent.intent_name)
    await asyncio.to_thread(recorder.publish, topic, json.dumps(intent.to_dict()))
    await wait_for(recorder, lambda m: ends(m, session))


def _new_checkin(message: Received, seen: list[float]) -> bool:
    return message.topic == "hermes/dialogueManager/startSession" and message.t not in seen


def _plays(message: Received) -> bool:
    return message.topic == PLAYER_TOPIC and json.loads(message.payload)["action"] == "play"


# --- 1. everything the skill needs is allowed ------------------------------------------


async def serve_a_routine(broker: TlsBroker, config: Config) -> None:
    """Start the skill; check `online` and discovery; run a routine that uses every topic."""
    speech = SAY if config.voice.engine == "hermes" else f"hermes/audioServer/{SITE}/playBytes/+"
    checkins: list[float] = []
    async with watching(broker, "#") as everything:
        with RhasspyStandIn(broker) as audio:
            async with runtime(config) as skill:
                # Retained: a client that connects later still learns the skill is up.
                # (Later than the broker has it: the skill is ready once it has sent it.)
                await wait_for(everything, lambda m: m.topic == STATUS and m.payload == b"online")
                async with watching(broker, STATUS) as late:
                    online = await wait_for(late, STATUS)
                assert (online.payload, online.retain) == (b"online", True)
                for message in discovery_messages(
                    config.homeassistant,
                    topic_prefix="aftercare",
                    status_topic=STATUS,
                    sites=[SITE],
                    version="",
                ):
                    await wait_for(everything, message.topic)
                await wait_for(everything, f"aftercare/{SITE}/state")

                topic, payload, session = make_intent("start aftercare")
                await asyncio.to_thread(everything.publish, topic, payload)
                await wait_for(everything, lambda m: ends(m, session))
                for answer in ("i'm okay", None):
                    asked = await wait_for(everything, lambda m: _new_checkin(m, checkins))
                    checkins.append(asked.t)
                    await answer_checkin(everything, json.loads(asked.payload), answer)
                await wait_for(everything, _plays)
                assert skill.skill is not None
                await asyncio.wait_for(skill.skill.idle(SITE), 5.0)  # the close has played
                # Every clip was answered, and the skill heard the answers: each sentence
                # came right after the answer to the one before (else 1.5 s or more later).
                count = len(audio.answered)
                spoken = await asyncio.to_thread(everything.wait_count, speech, count)
                assert len(spoken) == count >= 4
                for before, after in itertools.pairwise(spoken):
                    if any(before.t < asked < after.t for asked in checkins):
                        continue  # waiting for the person's answer, not for the clip
                    gap = after.t - before.t
                    assert gap < 1.0, f"{gap:.2f} s between two sentences"
                await home_assistant_is_heard(everything, speech)


async def home_assistant_is_heard(recorder: MqttRecorder, speech: str) -> None:
    """A button press is obeyed, and Home Assistant's `online` brings discovery again."""
    pressed = time.monotonic()
    await asyncio.to_thread(recorder.publish, f"aftercare/{SITE}/command", "stop")
    await wait_for(recorder, lambda m: m.t > pressed and mqtt.topic_matches_sub(speech, m.topic))
    restarted = time.monotonic()
    await asyncio.to_thread(recorder.publish, "homeassistant/status", "online")
    await wait_for(recorder, lambda m: m.t > restarted and m.topic.endswith("/config"))


def assert_quiet_log(caplog: pytest.LogCaptureFixture, *secrets_: str) -> None:
    """No warning or error from the skill, and no password anywhere in the log."""
    loud = [
        r for r in caplog.records if r.name.startswith("skill") and r.levelno >= logging.WARNING
    ]
    assert not loud, [r.getMessage() for r in loud]
    for secret in secrets_:
        assert_secret_kept(secret, caplog.text)


@live
@pytest.mark.asyncio
@pytest.mark.parametrize("source", ["password_file", "password_env"])
async def test_skill_serves_a_routine_over_tls_with_a_password_and_the_acl(
    broker: TlsBroker,
    tmp_path: Path,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """CA file + user/password (file or environment): online, discovery, a whole routine.

    The ACL gives the skill only its own topics, so everything that arrives proves that
    those are enough: intents, check-in, clips and their answers, music, state, discovery.
    """
    caplog.set_level(logging.DEBUG)
    password = broker.security.passwords[SKILL_USER]
    if source == "password_env":
        monkeypatch.setenv(PASSWORD_ENV, password)
    config = skill_config(broker, tmp_path, from_env=source == "password_env")
    await serve_a_routine(broker, config)
    assert_quiet_log(caplog, password)


@live
@pytest.mark.asyncio
async def test_skill_logs_in_with_a_client_certificate(
    cert_broker: TlsBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker that requires a client certificate: mqtt.tls.cert_file/key_file work.

    Spoken through hermes/tts/say this time (voice.engine: hermes), so the other way of
    speaking is covered by the ACL too.
    """
    assert refuses_without_certificate(cert_broker)
    caplog.set_level(logging.DEBUG)
    config = skill_config(cert_broker, tmp_path, client_cert=True, voice={"engine": "hermes"})
    await serve_a_routine(cert_broker, config)
    assert_quiet_log(caplog, cert_broker.security.passwords[SKILL_USER])


def refuses_without_certificate(broker: TlsBroker) -> bool:
    """True when the broker ends a TLS connection that offers no client certificate.

    With TLS 1.3 the server's verdict on the client comes after the handshake, as an
    alert; a broker that accepts the connection just waits for CONNECT (a time-out here).
    """
    context = ssl.create_default_context(cafile=str(broker.security.pki.ca_file))
    with (
        socket.create_connection((broker.host, broker.port), timeout=2) as raw,
        context.wrap_socket(raw, server_hostname=broker.host) as tls,
    ):
        tls.settimeout(1.0)
        try:
            return tls.recv(1) == b""
        except TimeoutError:
            return False
        except (ssl.SSLError, ConnectionResetError):
            return True


# --- 2. the ACL is really enforced ----------------------------------------------------------


@live
@pytest.mark.asyncio
async def test_the_acl_is_enforced(broker: TlsBroker) -> None:
    """The skill's user reads only its intents and writes only its topics.

    Without this, the routine above would prove nothing about the ACL. No sleeping: each
    forbidden message is followed by an allowed one on the same path, and messages on one
    path arrive in order.
    """
    async with (
        watching(broker, "#") as admin,
        watching(broker, "hermes/#", "aftercare/#", user=SKILL_USER) as skill_user,
    ):
        # Reading: another skill's intent never reaches the skill's user; its own does.
        await asyncio.to_thread(admin.publish, "hermes/intent/GetWeather", b"{}")
        await asyncio.to_thread(admin.publish, "hermes/intent/AftercareStop", b"{}")
        await wait_for(skill_user, "hermes/intent/AftercareStop")
        assert skill_user.messages("hermes/intent/GetWeather") == []
        # Writing: the skill's user cannot make up intents; it can say it is online.
        await asyncio.to_thread(skill_user.publish, "hermes/intent/AftercareStop", b"forged")
        await asyncio.to_thread(skill_user.publish, STATUS, b"probe")
        await wait_for(admin, lambda m: m.topic == STATUS and m.payload == b"probe")
        assert [m.payload for m in admin.messages("hermes/intent/#")] == [b"{}", b"{}"]


def test_the_acl_is_narrow() -> None:
    """No line gives the skill's user a whole tree: every wildcard stands for a site or an id."""
    lines = skill_acl(sites=[SITE], device_topics=[PLAYER_TOPIC])
    for line in lines:
        topic = line.split()[-1]
        assert "#" not in topic, line
        assert topic.split("/")[0] != "+", line
    assert "topic read hermes/intent/+" not in lines


def test_the_readme_shows_the_acl_the_tests_use() -> None:
    """The README's example ACL is the one these tests prove, line for line."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```\nuser aftercare\n", 1)[1].split("```", 1)[0]
    expected = skill_acl(sites=["bedroom"], device_topics=["zigbee2mqtt/bedside_lamp/set"])
    assert block.splitlines() == expected


# --- 3. a wrong password or certificate fails at once, clearly ------------------------------


async def start_fails(config: Config) -> tuple[BrokerError, float]:
    """The BrokerError Runtime.__aenter__ raises, and how many seconds it took."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(GIVE_UP), runtime(config):
            pass
    except BrokerError as err:
        return err, time.monotonic() - started
    except TimeoutError:
        pytest.fail(f"the skill was still trying to start after {GIVE_UP:g} s", pytrace=False)
    pytest.fail("the skill started", pytrace=False)


@live
@pytest.mark.asyncio
@pytest.mark.parametrize("source", ["password_file", "password_env"])
async def test_a_wrong_password_fails_at_once_and_names_the_settings(
    broker: TlsBroker,
    tmp_path: Path,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The broker refuses the login: a BrokerError within seconds that says what to check.

    The message names mqtt.username and where the password comes from, and neither the
    wrong password nor the right one appears in it or in the log.
    """
    caplog.set_level(logging.DEBUG)
    wrong = new_password()
    if source == "password_env":
        monkeypatch.setenv(PASSWORD_ENV, wrong)
    config = skill_config(broker, tmp_path, password=wrong, from_env=source == "password_env")
    error, seconds = await start_fails(config)
    message = str(error)
    assert seconds < FAIL_FAST, f"{seconds:.1f} s to give up: {message}"
    assert "refused the login" in message
    assert "mqtt.username" in message
    assert "mqtt.password_env" in message or "mqtt.password_file" in message
    assert_secret_kept(wrong, message, caplog.text)
    assert_secret_kept(broker.security.passwords[SKILL_USER], message, caplog.text)


@live
@pytest.mark.asyncio
async def test_a_certificate_from_another_ca_fails_at_once_and_names_the_ca_file(
    broker: TlsBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """mqtt.tls.ca_file is a CA that did not sign the broker's certificate: a clear error."""
    caplog.set_level(logging.DEBUG)
    other_ca, _ = make_ca(tmp_path / "other-ca", "ca", "Some other CA")
    config = skill_config(broker, tmp_path, ca_file=other_ca)
    error, seconds = await start_fails(config)
    message = str(error)
    assert seconds < FAIL_FAST, f"{seconds:.1f} s to give up: {message}"
    assert "TLS" in message
    assert "mqtt.tls.ca_file" in message
    assert_secret_kept(broker.security.passwords[SKILL_USER], message, caplog.text)
