"""The uplink: sends the outbox's votes to the broker, and takes the collector's receipts back.

The MQTT client comes from :mod:`kiosk.mqtt_client` (the kiosk's only module importing paho-mqtt). paho keeps its
session in memory only, so the outbox is the source of truth:

- a batch is published (QoS 1) with its vote ids remembered under the message id;
- the broker's PUBACK marks those votes *sent* in the outbox;
- the collector's receipt marks them *confirmed*: only votes this kiosk sent (published, or acknowledged) and
  has not confirmed yet; any other id in a receipt (unknown, unsent, already confirmed) is ignored and logged,
  since whoever can write on the receipts topic could otherwise make the kiosk drop votes it never sent;
- votes sent but not confirmed within ``confirm_timeout_s`` are sent again (the collector ignores the
  duplicate by vote id). This is what covers a broker that dies after its PUBACK and before delivering.

With more than one broker (``[broker] others``), the kiosk fails over: unreachable (or refusing it) for
``failover_after_s``, it connects to the next one, with the same account; connected to another than the first for
``prefer_first_after_s``, it tries the first again. Nothing of the vote's path changes: the batches in flight on
the connection left are sent again on the new one (the collector counts a vote once, by its id, whichever brokers
it came through), and the receipt comes back on the broker the votes went to.

Status is retained on ``.../status``: ``online`` at each connection, ``offline`` as the Last Will and on a clean
close. A heartbeat goes to ``.../telemetry``.

With ``clock_grace_s`` set, while the wall clock is not synchronised, this boot's votes wait up to that long
before they are sent, so that the sync (which re-dates them, see :meth:`kiosk.outbox.Outbox.correct_times`) can
come first.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiosk import __version__
from kiosk.clock import Clock
from kiosk.config import BrokerConfig, UplinkConfig
from kiosk.mqtt_client import MQTT_ERR_SUCCESS, Client, MQTTMessage, new_client
from kiosk.outbox import Outbox, OutboxClosed
from protocol.errors import ProtocolError
from protocol.topics import KioskTopic, TopicKind, kiosk_topic
from protocol.wire import Status, StatusMessage, Telemetry, decode_receipt

_LOG = logging.getLogger(__name__)

#: A good ``clock_grace_s`` in the field: NTP usually syncs within seconds of the network coming up, and a
#: vote re-dated before it is sent is exact. Off by default: machines without NTP (containers, CI, laptops
#: offline) would hold every vote this long.
CLOCK_GRACE_S = 120.0


@dataclass
class _Inflight:
    ids: list[str]
    published_at: float


@dataclass
class UplinkStats:
    connects: int = 0
    disconnects: int = 0
    batches_published: int = 0
    votes_published: int = 0
    votes_acked: int = 0
    votes_confirmed: int = 0
    receipts_invalid: int = 0
    receipts_ignored: int = 0
    receipts: int = 0
    heartbeats: int = 0
    last_error: str | None = None
    connected_since: float | None = field(default=None)
    #: The broker in use ("host:port"), and how many times the kiosk changed brokers.
    broker: str = ""
    broker_changes: int = 0


class Uplink:
    """Drains an :class:`~kiosk.outbox.Outbox` to an MQTT broker. Start with :meth:`start`; :meth:`close`."""

    def __init__(
        self,
        outbox: Outbox,
        kiosk_id: str,
        broker: BrokerConfig,
        settings: UplinkConfig,
        clock: Clock,
        *,
        on_config: Callable[[bytes], None] | None = None,
        on_release: Callable[[bytes], None] | None = None,
        telemetry_extra: Callable[[], dict[str, Any]] | None = None,
        boot_id: str | None = None,
        clock_grace_s: float = 0.0,
    ) -> None:
        self.outbox = outbox
        self.kiosk_id = kiosk_id
        self.broker = broker
        self.settings = settings
        self.clock = clock
        self.on_config = on_config
        self.on_release = on_release
        self.telemetry_extra = telemetry_extra
        self.boot_id = boot_id
        self.clock_grace_s = clock_grace_s
        self.loops = 0
        self.stats = UplinkStats()
        self._started_mono = time.monotonic()
        # Touched by the sender thread only; PUBACKs reach it through ``_acks`` (paho calls on_publish
        # holding its own lock, which the sender needs to publish: sharing a lock here would deadlock).
        self._inflight: dict[int, _Inflight] = {}
        self._unmarked: dict[int, _Inflight] = {}
        self._unmarked_keys = itertools.count()
        self._acks: queue.SimpleQueue[tuple[int, str | None]] = queue.SimpleQueue()
        # Ids published and not yet marked sent in the outbox: a receipt may come before their PUBACK is taken.
        # Shared with paho's thread (receipts), under its own lock, never held while calling paho.
        self._published: set[str] = set()
        self._published_lock = threading.Lock()
        self._wake = threading.Event()
        self._heartbeat_now = threading.Event()
        self._stop = threading.Event()
        self.last_loop = time.monotonic()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._topics = {kind: kiosk_topic(kiosk_id, kind) for kind in TopicKind}
        self._addresses = broker.addresses()
        self._current = 0  # index in _addresses of the broker in use
        self._down_since: float | None = time.monotonic()  # not connected since; None while connected
        self.stats.broker = f"{self._addresses[0][0]}:{self._addresses[0][1]}"
        self._client = self._make_client()

    # -- paho wiring ---------------------------------------------------------------------------------------

    def _make_client(self) -> Client:
        client = new_client(self.kiosk_id, self.broker)
        will = self._status_payload(Status.OFFLINE)
        client.will_set(self._topics[TopicKind.STATUS], will, qos=1, retain=True)
        client.reconnect_delay_set(
            max(1, round(self.broker.reconnect_min_s)), max(1, round(self.broker.reconnect_max_s))
        )
        client.max_inflight_messages_set(max(20, self.settings.inflight_max))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _status_payload(self, status: Status) -> bytes:
        return StatusMessage(status=status, ts=self.clock.now(), version=__version__).encode()

    def _on_connect(self, client: Client, userdata: object, flags: object, reason: object,
                    properties: object) -> None:
        if getattr(reason, "is_failure", False):
            self.stats.last_error = f"connection refused: {reason}"
            _LOG.warning("broker %s refused the connection: %s", self.stats.broker, reason)
            return
        self.stats.connects += 1
        self.stats.connected_since = time.monotonic()
        self._down_since = None
        _LOG.info("connected to %s", self.stats.broker)
        topics = [(self._topics[TopicKind.RECEIPTS], 1), (self._topics[TopicKind.CONFIG], 1)]
        if self.on_release is not None:
            topics.append((self._topics[TopicKind.RELEASE], 1))
        client.subscribe(topics)
        client.publish(self._topics[TopicKind.STATUS], self._status_payload(Status.ONLINE), qos=1, retain=True)
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, client: Client, userdata: object, flags: object, reason: object,
                       properties: object) -> None:
        self._connected.clear()
        self.stats.disconnects += 1
        self.stats.connected_since = None
        if self._down_since is None:
            self._down_since = time.monotonic()
        if not self._stop.is_set():
            _LOG.warning("disconnected from broker (%s); reconnecting", reason)

    def _on_publish(self, client: Client, userdata: object, mid: int, reason: object,
                    properties: object) -> None:
        failure = str(reason) if getattr(reason, "is_failure", False) else None
        self._acks.put((mid, failure))
        self._wake.set()

    def _take_acks(self) -> None:
        while True:
            try:
                mid, failure = self._acks.get_nowait()
            except queue.Empty:
                return
            entry = self._inflight.pop(mid, None)
            if entry is None:
                continue  # status and telemetry messages
            if failure is not None:
                _LOG.warning("broker refused a batch of %d votes: %s", len(entry.ids), failure)
                self.stats.last_error = f"publish refused: {failure}"
                self._forget_published(entry.ids)
                continue
            if self.outbox.mark_sent(entry.ids):
                self._forget_published(entry.ids)
            else:
                # A full disk: keep these aside until the confirmation timeout rather than send them again now.
                self._unmarked[next(self._unmarked_keys)] = _Inflight(entry.ids, entry.published_at)
            self.stats.votes_acked += len(entry.ids)

    def _forget_published(self, ids: list[str]) -> None:
        with self._published_lock:
            self._published.difference_update(ids)

    def _on_message(self, client: Client, userdata: object, message: MQTTMessage) -> None:
        topic = KioskTopic.parse(message.topic)
        if topic is None or topic.kiosk_id != self.kiosk_id:
            return
        if topic.kind is TopicKind.RECEIPTS:
            self._take_receipt(bytes(message.payload))
        elif topic.kind is TopicKind.CONFIG and self.on_config is not None:
            try:
                self.on_config(bytes(message.payload))
            except Exception:
                _LOG.exception("configuration handler failed")
        elif topic.kind is TopicKind.RELEASE and self.on_release is not None:
            try:
                self.on_release(bytes(message.payload))
            except Exception:
                _LOG.exception("release handler failed")

    def _take_receipt(self, payload: bytes) -> None:
        try:
            receipt = decode_receipt(payload)
        except ProtocolError as exc:
            self.stats.receipts_invalid += 1
            _LOG.warning("ignored an invalid receipt: %s", exc.reason)
            return
        named = list(dict.fromkeys(str(i) for i in (*receipt.stored, *receipt.rejected)))
        try:
            with self._published_lock:
                published = self._published.intersection(named)
            awaiting = published | self.outbox.awaiting_receipt(i for i in named if i not in published)
            ids = [i for i in named if i in awaiting]
            self.stats.votes_confirmed += self.outbox.confirm(ids)
            self.stats.receipts += 1 if ids else 0
        except OutboxClosed:
            return
        except sqlite3.Error as exc:
            # A full disk, say: the votes stay sent and are sent again after the timeout; harmless.
            self.stats.last_error = f"outbox: {exc}"
            _LOG.warning("could not confirm %d votes in the outbox: %s", len(ids), exc)
            return
        self._forget_published(ids)
        if len(ids) < len(named):
            self.stats.receipts_ignored += 1
            _LOG.warning("ignored %d of the %d vote ids of a receipt: not sent by this kiosk, or already confirmed",
                         len(named) - len(ids), len(named))
        rejected = {str(i) for i in receipt.rejected}.intersection(ids)
        if rejected:
            _LOG.warning("collector quarantined %d of our votes", len(rejected))

    # -- the sender ----------------------------------------------------------------------------------------

    def start(self) -> Uplink:
        host, port = self._addresses[self._current]
        self._client.connect_async(host, port, keepalive=self.broker.keepalive_s)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name=f"uplink-{self.kiosk_id}", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """A vote was recorded: send it without waiting for the next tick."""
        self._wake.set()

    def heartbeat_soon(self) -> None:
        """Send the telemetry at the next step (after a configuration change, say)."""
        self._heartbeat_now.set()
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def alive(self, stale_after: float = 30.0) -> bool:
        """The sender thread runs and went round its loop lately: what the watchdog asks."""
        thread = self._thread
        return (thread is not None and thread.is_alive()
                and time.monotonic() - self.last_loop < stale_after)

    def _run(self) -> None:
        next_heartbeat = time.monotonic()
        sent_this_second = 0
        second = int(time.monotonic())
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            if self._stop.is_set():
                break
            now = time.monotonic()
            self.last_loop = now
            self.loops += 1
            if int(now) != second:
                second, sent_this_second = int(now), 0
            try:
                self._take_acks()
                self._maybe_change_broker(now)
                if self.connected:
                    self._expire_inflight(now)
                    sent_this_second += self._send_some(self.settings.drain_rate - sent_this_second)
                    if now >= next_heartbeat or self._heartbeat_now.is_set():
                        self._heartbeat_now.clear()
                        self._heartbeat()
                        next_heartbeat = now + self.settings.heartbeat_s
            except OutboxClosed:
                break
            except Exception:
                _LOG.exception("uplink step failed; going on")
                time.sleep(1.0)

    def _maybe_change_broker(self, now: float) -> None:
        """Fail over to the next broker when this one stays unreachable; come back to the first after a while."""
        if len(self._addresses) < 2:
            return
        down_since = self._down_since
        connected_since = self.stats.connected_since
        if not self.connected:
            if down_since is not None and now - down_since >= self.broker.failover_after_s:
                self._use_broker((self._current + 1) % len(self._addresses),
                                 f"unreachable for {now - down_since:.0f} s")
        elif (self._current != 0 and connected_since is not None
              and now - connected_since >= self.broker.prefer_first_after_s):
            self._use_broker(0, "the first broker is preferred")

    def _use_broker(self, index: int, why: str) -> None:
        """Leave the broker in use for ``self._addresses[index]`` (sender thread only)."""
        host, port = self._addresses[index]
        _LOG.warning("leaving broker %s (%s) for %s:%d", self.stats.broker, why, host, port)
        old = self._client
        old.disconnect()
        old.loop_stop()  # no callback of the old connection after this
        self._take_acks()
        # Message ids mean nothing on another connection: the batches still in flight are sent again there.
        for entry in self._inflight.values():
            self._forget_published(entry.ids)
        self._inflight.clear()
        self._connected.clear()
        self._current = index
        self._down_since = time.monotonic()
        self.stats.connected_since = None
        self.stats.broker = f"{host}:{port}"
        self.stats.broker_changes += 1
        self._client = self._make_client()
        self._client.connect_async(host, port, keepalive=self.broker.keepalive_s)
        self._client.loop_start()

    def _expire_inflight(self, now: float) -> None:
        """Forget batches whose PUBACK never came, so that their votes are sent again."""
        limit = self.settings.confirm_timeout_s
        stale = [mid for mid, e in self._inflight.items() if now - e.published_at > limit]
        for mid in stale:
            self._forget_published(self._inflight.pop(mid).ids)
        for mid in [mid for mid, e in self._unmarked.items() if now - e.published_at > limit]:
            self._forget_published(self._unmarked.pop(mid).ids)
        if stale:
            _LOG.warning("%d batches got no PUBACK within %.0fs: sending again", len(stale), limit)

    def _send_some(self, budget: float) -> int:
        sent = 0
        while self.connected and budget - sent >= 1 and not self._stop.is_set():
            if len(self._inflight) >= self.settings.inflight_max:
                return sent
            busy = {i for e in (*self._inflight.values(), *self._unmarked.values()) for i in e.ids}
            limit = int(min(self.settings.batch_max, budget - sent))
            pending = self.outbox.unsent(limit, resend_after=self.settings.confirm_timeout_s, exclude=busy,
                                         hold_unsynced=self._clock_hold())
            if not pending:
                return sent
            payload = self._batch_payload([p.body for p in pending])
            with self._published_lock:
                self._published.update(p.id for p in pending)
            info = self._client.publish(self._topics[TopicKind.VOTES], payload, qos=1)
            self._inflight[info.mid] = _Inflight([p.id for p in pending], time.monotonic())
            if info.rc != MQTT_ERR_SUCCESS:
                _LOG.info("batch queued while the connection is down (rc=%s)", info.rc)
            self.stats.batches_published += 1
            self.stats.votes_published += len(pending)
            sent += len(pending)
            if len(pending) < limit:
                return sent
        if budget - sent < 1:
            self._wake.set()  # more may be waiting: come back in the next second
            time.sleep(0.05)
        return sent

    def _clock_hold(self) -> tuple[str, int] | None:
        """While the clock is not synchronised, this boot's newest votes wait ``clock_grace_s`` for it."""
        if self.boot_id is None or self.clock_grace_s <= 0 or self.clock.synced():
            return None
        return self.boot_id, int((self.clock.monotonic() - self.clock_grace_s) * 1000)

    def _batch_payload(self, bodies: list[str]) -> bytes:
        # The votes are stored as their own JSON: join them rather than parse and dump them again.
        sent_at = self.clock.now().isoformat()
        return (
            f'{{"v":1,"kiosk_id":"{self.kiosk_id}","sent_at":"{sent_at}","votes":[{",".join(bodies)}]}}'
        ).encode()

    def telemetry(self) -> Telemetry:
        """The heartbeat as it would be sent now."""
        extra: dict[str, Any] = {}
        if self.telemetry_extra is not None:
            try:
                extra = self.telemetry_extra()
            except Exception:
                _LOG.exception("telemetry readings failed; sending the basic heartbeat")
        telemetry = Telemetry(
            ts=self.clock.now(),
            uptime_s=time.monotonic() - self._started_mono,
            version=__version__,
            outbox_depth=self.outbox.depth(),
            oldest_unsent_age_s=self.outbox.oldest_unconfirmed_age(),
            clock_synced=self.clock.synced(),
            **extra,
        )
        return telemetry

    def _heartbeat(self) -> None:
        telemetry = self.telemetry()
        info = self._client.publish(self._topics[TopicKind.TELEMETRY], telemetry.encode(), qos=0)
        if info.rc == MQTT_ERR_SUCCESS:
            self.stats.heartbeats += 1

    # -- lifetime ------------------------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Say ``offline``, disconnect and stop; safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.connected:
            info = self._client.publish(self._topics[TopicKind.STATUS], self._status_payload(Status.OFFLINE),
                                        qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Uplink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
