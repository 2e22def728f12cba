"""Outages: a week offline in bounded memory, then a backlog drained in order and within the drain rate,
while new votes keep flowing; and votes through a flaky network arrive exactly once."""

from __future__ import annotations

import threading
import time
import tracemalloc
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from collector.db.engine import session_factory
from collector.db.models import Vote
from devtools.faultproxy import FaultProxy
from devtools.kiosk_sim import wait_until
from kiosk.clock import ManualClock
from kiosk.config import KioskConfig
from kiosk.service import Kiosk
from protocol.models import VoteBatch
from tests.field.conftest import Site

DAY = 86400


def kiosk_config(tmp_path: Path, port: int, **uplink: float) -> KioskConfig:
    return KioskConfig.of(kiosk_id="k-1", data_dir=tmp_path / "k-1", ui="touch",
                       broker={"port": port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "keepalive_s": 5},
                       uplink={"heartbeat_s": 5, "confirm_timeout_s": 10, **uplink})


def stored(site: Site) -> dict[int, int]:
    """seq -> copies stored, for k-1."""
    with session_factory(site.engine)() as session:
        rows = session.execute(select(Vote.seq, func.count()).where(Vote.kiosk_id == "k-1").group_by(Vote.seq))
        return {seq: n for seq, n in rows}


class Watcher:
    """Sees every vote batch on the broker, as a second subscriber would."""

    def __init__(self, port: int) -> None:
        self.batches: list[tuple[float, list[int]]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
        self.client.on_message = self._on_message
        ready = threading.Event()
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("fs/v1/kiosks/k-1/votes", qos=1)
        self.client.loop_start()
        assert ready.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        batch = VoteBatch.model_validate_json(message.payload)
        self.batches.append((time.monotonic(), [v.seq for v in batch.votes]))

    def first_seen_order(self) -> list[int]:
        seen: dict[int, None] = {}
        for _, seqs in self.batches:
            for seq in seqs:
                seen.setdefault(seq, None)
        return list(seen)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_week_offline_then_an_orderly_drain(site: Site, tmp_path: Path) -> None:
    per_day, rate, batch = 150, 150.0, 25
    clock = ManualClock()
    watcher = Watcher(site.port)
    with FaultProxy("127.0.0.1", site.port) as proxy:
        kiosk = Kiosk(kiosk_config(tmp_path, proxy.port, drain_rate=rate, batch_max=batch), clock=clock)
        try:
            kiosk.recorder.record(4)
            assert wait_until(lambda: kiosk.outbox.depth() == 0, 20)

            proxy.refuse(True)
            proxy.cut()
            assert wait_until(lambda: kiosk.uplink is not None and not kiosk.uplink.connected, 20)
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            for _day in range(7):
                for _ in range(per_day):
                    clock.advance(DAY / per_day)
                    kiosk.recorder.record(3)
                    kiosk.maintain()  # a week of upkeep rounds too: pruning, clock checks, health
            grown = tracemalloc.get_traced_memory()[0] - base
            tracemalloc.stop()
            backlog = 7 * per_day
            assert kiosk.outbox.depth() == backlog
            # Bounded memory: the backlog is on disk, not in the process (a few hundred bytes a vote would fail).
            assert grown < 300_000, f"memory grew by {grown} bytes over a week offline"
            assert kiosk.uplink is not None
            telemetry = kiosk.uplink.telemetry()
            assert telemetry.outbox_depth == backlog and (telemetry.oldest_unsent_age_s or 0) >= 0

            proxy.refuse(False)
            started = time.monotonic()
            # New votes keep coming while the backlog drains.
            fresh = 0
            while kiosk.outbox.depth() > 0 and time.monotonic() - started < 120:
                clock.advance(20)
                kiosk.recorder.record(4)
                fresh += 1
                time.sleep(0.2)
            assert wait_until(lambda: kiosk.outbox.depth() == 0, 60)
        finally:
            kiosk.close()
    watcher.close()

    total = 1 + backlog + fresh
    counts = stored(site)
    assert sorted(counts) == list(range(1, total + 1)) and set(counts.values()) == {1}
    order = watcher.first_seen_order()
    assert order == sorted(order), "the backlog was not sent in order"
    assert max(len(seqs) for _, seqs in watcher.batches) <= batch
    # Rate-limited: draining N votes at R per second cannot take less than about N/R - 1 seconds.
    drain = [t for t, seqs in watcher.batches if seqs[0] > 1]
    assert drain[-1] - drain[0] >= backlog / rate - 1.5
    assert fresh >= 1


def test_a_flaky_network_delivers_every_vote_exactly_once(site: Site, tmp_path: Path) -> None:
    with FaultProxy("127.0.0.1", site.port, seed=8) as proxy:
        kiosk = Kiosk(kiosk_config(tmp_path, proxy.port, batch_max=10), clock=ManualClock())
        try:
            proxy.set_delay(0.005)
            proxy.drop(0.02)
            for i in range(300):
                kiosk.recorder.record(1 + i % 4)
                if i % 60 == 59:
                    proxy.cut()
                time.sleep(0.005)
            proxy.heal()
            assert wait_until(lambda: kiosk.outbox.depth() == 0, 90), f"depth {kiosk.outbox.depth()}"
        finally:
            kiosk.close()
        assert proxy.stats.cuts + proxy.stats.drops >= 2, "the network was not flaky enough to mean anything"
        assert proxy.stats.connections >= 3
    counts = stored(site)
    assert sorted(counts) == list(range(1, 301)) and set(counts.values()) == {1}
