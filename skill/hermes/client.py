"""One way to make an MQTT client: the skill's link, the CLI, the demo, tests and benchmarks."""

from __future__ import annotations

import ssl
import uuid

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from skill.config.settings import MqttSettings, TlsSettings


def new_client(
    name: str, *, settings: MqttSettings | None = None, client_id: str | None = None
) -> paho.Client:
    """A paho 2.x client: callback API version 2, MQTT 3.1.1, a clean session, a unique id
    (`<name>-<8 hex digits>` unless `client_id` is given), and with `settings` the broker's
    user name, password and TLS as config.yaml gives them."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"{name}-{uuid.uuid4().hex[:8]}",
        protocol=paho.MQTTv311,
        clean_session=True,
    )
    if settings is not None:
        if settings.username:
            client.username_pw_set(settings.username, settings.password())
        if settings.tls is not None:
            client.tls_set_context(tls_context(settings.tls))
    return client


def tls_context(tls: TlsSettings) -> ssl.SSLContext:
    """Verify the broker's certificate and host name; present a client certificate if set."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls.ca_file:
        context.load_verify_locations(cafile=str(tls.ca_file))
    else:
        context.load_default_certs()
    if tls.cert_file and tls.key_file:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    context.sslsocket_class = _ClosingSSLSocket
    return context


class _ClosingSSLSocket(ssl.SSLSocket):
    """An SSLSocket that closes itself when its handshake fails.

    paho 2.2 drops the socket of a failed handshake without closing it: a ResourceWarning
    and an open file descriptor per attempt until the garbage collector finds it.
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise
