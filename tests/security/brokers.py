"""The brokers the boundary tests attack, and a client that records what reaches it.

Both brokers the collector supports, with accounts made as the collector makes them: a national-style Mosquitto
(``devtools/dynsec.py``: dynamic security, the limits of deploy/mosquitto/borne.conf, the collector's account
made by ``borne provision broker collector-account``, not bound) and the embedded broker the collector starts
itself (``collector/broker/mosquitto.py``, the collector's account bound to its client id).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties

from collector.broker.accounts import DynsecAccounts, hash_secret, new_secret
from collector.broker.mosquitto import EmbeddedBroker, free_port
from devtools.dynsec import DynsecMosquitto
from devtools.kiosk_sim import wait_until
from protocol.topics import kiosk_client_id

COLLECTOR_ID = "borne-collector-test"


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    client_id: str


@dataclass
class Boundary:
    """A broker with accounts: kiosks made by :meth:`kiosk`, the collector's in ``collector``."""

    kind: str
    port: int
    accounts: DynsecAccounts
    collector: Account
    log: Path
    kiosks: dict[str, Account] = field(default_factory=dict)

    def kiosk(self, kiosk_id: str) -> Account:
        secret = new_secret()
        self.accounts.create(kiosk_id, secret, hash_secret(secret))
        account = Account(self.accounts.username(kiosk_id), secret, kiosk_client_id(kiosk_id))
        self.kiosks[kiosk_id] = account
        return account


@contextlib.contextmanager
def boundary(kind: str, workdir: Path) -> Iterator[Boundary]:
    password = new_secret()
    if kind == "national":
        national = DynsecMosquitto(workdir / "national")
        national.start()
        try:
            accounts = DynsecAccounts("127.0.0.1", national.port, national.admin_user, national.admin_password)
            accounts.ensure_collector("borne-collector", password)
            yield Boundary(kind, national.port, accounts, Account("borne-collector", password, COLLECTOR_ID),
                           national.log)
        finally:
            national.stop()
    else:
        embedded = EmbeddedBroker("127.0.0.1", free_port(), data_dir=workdir / "embedded", accounts=True)
        embedded.start()
        try:
            user, admin_password, host, port = embedded.admin()
            accounts = DynsecAccounts(host, port, user, admin_password, kind="embedded")
            accounts.ensure_collectors({"borne-collector": COLLECTOR_ID}, password)  # as accounts_for does
            yield Boundary(kind, embedded.port, accounts, Account("borne-collector", password, COLLECTOR_ID),
                           embedded.log_file)
        finally:
            embedded.stop()


class Probe:
    """An MQTT client that records what it receives, its subscriptions' answers and its disconnections."""

    def __init__(self, port: int, account: Account | None, *, client_id: str | None = None, v5: bool = False,
                 clean: bool = True, will: tuple[str, bytes, bool] | None = None) -> None:
        self.port = port
        self.received: list[tuple[str, bytes, bool]] = []
        self.granted: dict[int, list[bool]] = {}
        self.connack: str | None = None
        self.disconnects = 0
        self._connected = threading.Event()
        self._answered = threading.Event()
        cid = client_id or (account.client_id if account else f"probe-{time.monotonic_ns()}")
        if v5:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        else:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311,
                                      clean_session=clean)
        self._v5, self._clean = v5, clean
        if account:
            self.client.username_pw_set(account.username, account.password)
        if will:
            self.client.will_set(will[0], will[1], qos=1, retain=will[2])
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload), bool(m.retain)))
        self.client.on_subscribe = lambda c, u, mid, reasons, p: self.granted.__setitem__(
            mid, [not getattr(r, "is_failure", False) for r in reasons])
        self.client.max_inflight_messages_set(200)

    def _on_connect(self, c: Any, u: object, flags: object, reason: Any, props: object) -> None:
        self.connack = str(reason)
        if not getattr(reason, "is_failure", False):
            self._connected.set()
        self._answered.set()

    def _on_disconnect(self, c: Any, u: object, flags: object, reason: Any, props: object) -> None:
        if self._connected.is_set():
            self.disconnects += 1
        self._connected.clear()
        self._answered.set()

    def start(self, timeout: float = 10.0) -> Probe:
        properties = None
        if self._v5 and not self._clean:
            properties = Properties(mqtt.PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 3600
        if self._v5:
            self.client.connect("127.0.0.1", self.port, keepalive=30, clean_start=self._clean,
                                properties=properties)
        else:
            self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        assert self._answered.wait(timeout), "the broker did not answer the connection"
        time.sleep(0.1)  # a refusal is followed by the broker closing the connection
        return self

    @property
    def connected(self) -> bool:
        return self._connected.is_set() and self.client.is_connected()

    def subscribe(self, *filters: str) -> list[bool]:
        """Whether each filter was granted (SUBACK)."""
        _rc, mid = self.client.subscribe([(f, 1) for f in filters])
        assert mid is not None
        assert wait_until(lambda: mid in self.granted, 10), "no SUBACK"
        return self.granted[mid]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1,
                timeout: float = 10.0) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        with contextlib.suppress(RuntimeError, ValueError):  # a refused publish may close the connection
            info.wait_for_publish(timeout)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect_with_will_then_drop(port: int, account: Account, topic: str, payload: bytes, *,
                                retain: bool = False) -> int:
    """CONNECT (MQTT 3.1.1) with a Last Will, then close the socket without DISCONNECT, which makes the broker
    send the Will; returns the CONNACK return code (0: accepted)."""

    def utf8(text: str | bytes) -> bytes:
        data = text.encode() if isinstance(text, str) else text
        return struct.pack("!H", len(data)) + data

    flags = 0x80 | 0x40 | 0x04 | 0x08 | (0x20 if retain else 0) | 0x02  # user, password, will QoS 1, clean
    body = utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", 30)
    body += utf8(account.client_id) + utf8(topic) + utf8(payload) + utf8(account.username) + utf8(account.password)
    length, encoded = len(body), b""
    while True:
        byte, length = length % 128, length // 128
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\x10" + encoded + body)
        connack = sock.recv(4)
        code = connack[3] if len(connack) == 4 else -1
        sock.shutdown(socket.SHUT_RDWR)  # no DISCONNECT: the Will is due
    return code
