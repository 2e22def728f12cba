"""Ingest: takes messages off the broker, stores them, and only then acknowledges them.

The MQTT client comes from :mod:`collector.broker.client` and runs with ``manual_ack=True``:
paho's network thread only queues each message; a worker thread groups queued messages (up to
``ingest_max_messages``, waiting ``ingest_linger_ms`` for more) into one :meth:`Store.ingest` transaction,
and after the commit acknowledges each message (PUBACK) and publishes receipts to the kiosks. A collector
killed at any point has acknowledged only what is committed: the broker redelivers the rest to its persistent
session (fixed client id, no clean start, a session expiry) or to another collector of the shared group.

An acknowledgement is sent only on the connection the message came in on: after a reconnection, message ids
start again and an old id could acknowledge a new, unstored message.

The ingest says when it is stuck: :attr:`Ingestor.stalled` is true when messages wait (queued or in the group
under way) and no group was stored for ``ingest_stall_after_s`` seconds (a database that stays unavailable, a
bug), which ``/healthz`` and ``/metrics`` show.
"""

from __future__ import annotations

import gc
import logging
import queue
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collector.broker import client as mqtt
from collector.broker.client import PacketTypes, Properties, new_client
from collector.config import Settings
from collector.ingest.store import Incoming, Store, StoreUnavailable
from collector.metrics import Metrics
from protocol.codec import encode
from protocol.models import Receipt
from protocol.topics import TopicKind, kiosk_filter, kiosk_topic, shared

_LOG = logging.getLogger(__name__)

#: Python's cyclic garbage collector runs a young collection every 700 container allocations by default; the
#: ingest allocates several per vote (pydantic models, rows), so at tens of thousands of votes a second the
#: collections, and the full ones they trigger over the collector's ~200,000 long-lived objects, took about a
#: third of the ingest's time (``bench/ingest.py``, py-spy). What the ingest allocates is freed by reference
#: counting (no cycles), so collecting less often costs no memory to speak of.
GC_YOUNG_THRESHOLD = 50_000


def _fewer_gc_collections() -> None:
    young, middle, old = gc.get_threshold()
    if 0 < young < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


#: While the database is unavailable, the group waiting is tried again after this many seconds, plus jitter.
RETRY_FIRST_S = 0.5
RETRY_EVERY_S = 1.0
RETRY_JITTER_S = 1.0


def retry_delay(attempt: int) -> float:
    """Seconds before trying a group again: 0.5 s the first time, then 1 to 2 s, with jitter (so that several
    collectors and workers do not all knock on a database coming back at the same instant)."""
    if attempt == 0:
        return RETRY_FIRST_S
    return RETRY_EVERY_S + random.uniform(0, RETRY_JITTER_S)  # noqa: S311 - jitter, not a secret


@dataclass(frozen=True, slots=True)
class _Queued:
    generation: int
    mid: int
    qos: int
    incoming: Incoming


class Ingestor:
    """Subscribes to every kiosk's votes, status and telemetry, and stores them through a :class:`Store`."""

    def __init__(self, settings: Settings, store: Store, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics or store.metrics
        self._queue: queue.Queue[_Queued] = queue.Queue()
        self._generation = 0
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._worker: threading.Thread | None = None
        self._v5 = settings.mqtt_protocol == "5"
        self._subscribe_mid: int | None = None
        self._in_hand = 0  # messages of the group being stored
        self._last_progress = time.monotonic()  # when a group was last stored, or nothing waited
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = new_client(s.mqtt_client_id, username=s.mqtt_username,
                            password=s.mqtt_password.get_secret_value() if s.mqtt_password else None,
                            tls=s.mqtt_tls, ca_file=s.mqtt_ca_file, mqtt5=self._v5,
                            clean_session=None if self._v5 else False, manual_ack=True)
        client.reconnect_delay_set(1, 30)
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # -- paho callbacks (network thread) -------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, reason: object,
                    properties: object) -> None:
        if getattr(reason, "is_failure", False):
            _LOG.error("broker refused the collector: %s", reason)
            return
        self._generation += 1
        _LOG.info("connected to %s:%d (session present: %s)", self.settings.mqtt_host, self.settings.mqtt_port,
                  flags.session_present)
        group = self.settings.mqtt_share_group or None
        _result, self._subscribe_mid = client.subscribe([
            (shared(kiosk_filter(TopicKind.VOTES), group), 1),
            (shared(kiosk_filter(TopicKind.TELEMETRY), group), 0),
            # Not shared: a shared subscription gets no retained messages, and every collector wants them.
            (kiosk_filter(TopicKind.STATUS), 1),
            (kiosk_filter(TopicKind.SELFTEST), 1),  # retained too
        ])

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reason_codes: list[Any],
                      properties: object) -> None:
        # Connected means subscribed: a message published before the broker took the subscription would not
        # reach a new session.
        if mid != self._subscribe_mid:
            return
        refused = [i for i, code in enumerate(reason_codes) if getattr(code, "is_failure", False)]
        if refused:
            _LOG.error("broker refused subscriptions %s of the collector (0: votes, 1: telemetry, 2: status, "
                       "3: self-tests): %s", refused, [str(reason_codes[i]) for i in refused])
        if 0 not in refused:  # without the votes, the collector is not connected to anything that matters
            self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                       properties: object) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            _LOG.warning("collector disconnected from broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        incoming = Incoming(message.topic, bytes(message.payload), datetime.now(UTC))
        self._queue.put(_Queued(self._generation, message.mid, message.qos, incoming))

    # -- the worker ----------------------------------------------------------------------------------------

    def start(self) -> Ingestor:
        s = self.settings
        _fewer_gc_collections()
        props = None
        if self._v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.mqtt_session_expiry_s
            props.ReceiveMaximum = s.mqtt_receive_maximum
            self._client.connect_async(s.mqtt_host, s.mqtt_port, keepalive=30, clean_start=False,
                                       properties=props)
        else:
            self._client.connect_async(s.mqtt_host, s.mqtt_port, keepalive=30)
        self._client.loop_start()
        self._worker = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._worker.start()
        return self

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def backlog(self) -> int:
        """Messages received and not acknowledged yet: queued, and in the group being stored."""
        return self._queue.qsize() + self._in_hand

    @property
    def last_progress_s(self) -> float:
        """Seconds since a group was last stored (or since nothing waited)."""
        return max(0.0, time.monotonic() - self._last_progress)

    @property
    def stalled(self) -> bool:
        """Messages wait and none was stored for ``ingest_stall_after_s`` seconds."""
        return self.backlog > 0 and self.last_progress_s > self.settings.ingest_stall_after_s

    def _next_group(self) -> list[_Queued]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            self._last_progress = time.monotonic()  # nothing waits: nothing is stuck
            return []
        group = [first]
        deadline = time.monotonic() + self.settings.ingest_linger_ms / 1000
        while len(group) < self.settings.ingest_max_messages:
            try:
                group.append(self._queue.get_nowait())
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    group.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
        return group

    def _run(self) -> None:
        while not self._stop.is_set():
            group = self._next_group()
            if not group:
                continue
            self._in_hand = len(group)
            try:
                self._store_until_done(group)
            finally:
                self._in_hand = 0

    def _store_until_done(self, group: list[_Queued]) -> None:
        attempt = 0
        while True:
            try:
                outcome = self.store.ingest([q.incoming for q in group])
                break
            except StoreUnavailable as exc:
                # Nothing is acknowledged: the broker keeps the messages. The group itself is the probe: tried
                # again every second or two, so that counting resumes within about two seconds of the database
                # being back (a delay doubling up to 30 s left it idle for up to 30 s).
                self.metrics.inc("store_unavailable")
                delay = retry_delay(attempt)
                _LOG.error("database unavailable (%s); retrying in %.1fs", exc, delay)
                if self._stop.wait(delay):
                    return
                attempt += 1
            except Exception:
                # A bug, not bad input (the store keeps bad input as rejects): do not acknowledge, so the
                # messages come back after a restart; log loudly.
                self.metrics.inc("ingest_errors")
                _LOG.exception("storing %d messages failed; they stay unacknowledged", len(group))
                if self._stop.wait(retry_delay(attempt)):
                    return
                attempt += 1
        self._last_progress = time.monotonic()
        generation = self._generation
        for q in group:
            if q.qos > 0 and q.generation == generation:
                self._client.ack(q.mid, q.qos)
        for kiosk_id, (stored, rejected) in outcome.receipts.items():
            self._send_receipts(kiosk_id, stored, rejected)

    def _send_receipts(self, kiosk_id: str, stored: list, rejected: list) -> None:
        step = 500
        topic = kiosk_topic(kiosk_id, TopicKind.RECEIPTS)
        for start in range(0, max(len(stored), len(rejected)), step):
            receipt = Receipt(stored=stored[start:start + step], rejected=rejected[start:start + step])
            self._client.publish(topic, encode(receipt), qos=1)

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking messages, finish the group under way, disconnect. Safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout)
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Ingestor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
