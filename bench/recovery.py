"""National recovery: every kiosk reconnects at once, each with a week's backlog, into one collector.

``borne sim --kiosks N --backlog 150`` (a process of its own: asyncio, one MQTT connection per kiosk) connects
all its kiosks at once to a Mosquitto of our own, and each sends its backlog in batches of 100, one batch in
flight at a time, as the kiosk's uplink does. A collector (the real :class:`collector.ingest.subscriber.Ingestor` and
:class:`collector.ingest.store.Store`, in this process) stores them into SQLite and into PostgreSQL. Timed: from the
moment the fleet starts connecting (the simulator reports its connection time) to the last vote stored; the
simulator's own end (every vote confirmed by a receipt) is reported beside it.

Baseline, in the same run: the same recovery with votes sent one per message (``--batch 1``), on a tenth of the
fleet (it is about ten times slower), compared in votes a second.

Target: 3,000 kiosks x ~150 votes stored in under 30 s. ``--quick``: 300 kiosks, SQLite only.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from bench.ingest import start_mosquitto, start_postgres
from collector.db.engine import session_factory
from collector.db.models import Vote
from collector.ingest.store import Store
from collector.ingest.subscriber import Ingestor
from collector.metrics import Metrics
from devtools import processes
from devtools.brokers import Mosquitto
from devtools.builders import collector_settings, migrated_engine
from devtools.sim.fleet import kiosk_ids, register_fleet

_LOG = logging.getLogger(__name__)

BACKLOG = 150
TARGET_S = 30.0
TIMEOUT_S = 600.0


class _Sim:
    """``borne sim`` in a child process; notes when its fleet started connecting."""

    def __init__(self, port: int, kiosks: int, prefix: str, batch: int) -> None:
        self.connect_started: float | None = None
        self.confirmed_at: float | None = None
        self.lines: list[str] = []
        launched = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "borne", "sim", "--kiosks", str(kiosks), "--port", str(port), "--prefix", prefix,
             "--backlog", str(BACKLOG), "--batch", str(batch), "--votes-per-hour", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._launched = launched
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = time.perf_counter()
            self.lines.append(line.rstrip())
            # "sim: 3000 connected, 0 failed in 2.3s": the fleet started connecting 2.3 s before this line.
            if " connected, " in line and " in " in line and self.connect_started is None:
                self.connect_started = now - float(line.rsplit(" in ", 1)[1].rstrip().rstrip("s"))
            if "backlog confirmed" in line:
                self.confirmed_at = now

    def stop(self) -> None:
        processes.stop(self.proc)
        self._reader.join(5)


def recover(broker: Mosquitto, url: str, kiosks: int, batch: int, workdir: Path) -> tuple[float, float | None]:
    """Seconds from the fleet's reconnection to the last vote stored, and to the simulator's last receipt."""
    prefix = f"r{uuid.uuid4().hex[:6]}"
    engine = migrated_engine(url)
    register_fleet(engine, kiosk_ids(prefix, kiosks))
    metrics = Metrics()
    settings = collector_settings(url, broker.port, workdir, mqtt_share_group=f"g{prefix}")
    ingest = Ingestor(settings, Store(engine, metrics), metrics).start()
    expected = kiosks * BACKLOG
    sim = None
    try:
        if not ingest.wait_connected(30):
            raise RuntimeError("the collector did not connect")
        sim = _Sim(broker.port, kiosks, prefix, batch)
        deadline = time.perf_counter() + TIMEOUT_S
        while metrics.get("votes_stored") < expected and time.perf_counter() < deadline:
            if sim.proc.poll() is not None and sim.confirmed_at is None:
                raise RuntimeError("borne sim ended early: " + " | ".join(sim.lines[-5:]))
            time.sleep(0.01)
        stored_at = time.perf_counter()
        while sim.confirmed_at is None and sim.proc.poll() is None and time.perf_counter() < deadline:
            time.sleep(0.05)
    finally:
        if sim is not None:
            sim.stop()
        ingest.close()
    with session_factory(engine)() as session:
        stored = session.scalar(select(func.count()).select_from(Vote))
    engine.dispose()
    if stored != expected or sim.connect_started is None:
        raise RuntimeError(f"expected {expected} votes, {stored} stored; sim said: {' | '.join(sim.lines[-5:])}")
    confirmed = None if sim.confirmed_at is None else sim.confirmed_at - sim.connect_started
    return stored_at - sim.connect_started, confirmed


def main(quick: bool = False) -> None:
    kiosks, repeats = (300, 1) if quick else (3000, 3)
    databases = ("sqlite",) if quick else ("sqlite", "postgresql")
    tmp = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    print(f"recovery: {kiosks} kiosks x {BACKLOG} votes = {kiosks * BACKLOG:,} votes, batches of 100; "
          f"median of {repeats}; baseline one vote a message on {kiosks // 10} kiosks", flush=True)
    rows = []
    with start_postgres() as server:
        for db in databases:
            def fresh(db: str = db) -> str:
                return server.create_database() if db == "postgresql" else f"sqlite:///{tmp / uuid.uuid4().hex}.db"

            stored, confirmed = [], []
            for i in range(repeats):
                with start_mosquitto(tmp / f"mq-{db}-{i}") as broker:
                    s, c = recover(broker, fresh(), kiosks, 100, tmp)
                stored.append(s)
                if c is not None:
                    confirmed.append(c)
            with start_mosquitto(tmp / f"mq-{db}-base") as broker:
                base, _ = recover(broker, fresh(), kiosks // 10, 1, tmp)
            median = statistics.median(stored)
            rate = kiosks * BACKLOG / median
            base_rate = kiosks // 10 * BACKLOG / base
            rows.append((db, median, min(stored), max(stored), statistics.median(confirmed) if confirmed else None,
                         rate, base, base_rate))
    print(f"  {'database':<11} {'stored (s)':>10} {'min-max':>12} {'receipts (s)':>12} {'votes/s':>9}  "
          f"{'baseline 1 vote/msg':>24}  target < {TARGET_S:.0f} s", flush=True)
    for db, median, lo, hi, conf, rate, base, base_rate in rows:
        receipts = f"{conf:12.1f}" if conf is not None else f"{'-':>12}"
        verdict = ("met" if median < TARGET_S else "MISSED") if kiosks >= 3000 else "(quick size)"
        print(f"  {db:<11} {median:10.1f} {f'{lo:.1f}-{hi:.1f}':>12} {receipts} {rate:9,.0f}  "
              f"{base:7.1f} s, {base_rate:7,.0f} votes/s ({rate / base_rate:.1f}x)  {verdict}", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main(quick=True)
