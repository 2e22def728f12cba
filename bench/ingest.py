"""Ingest end to end: Mosquitto -> collector -> SQLite / PostgreSQL, against a naive baseline and paho's ceiling.

Each case first creates the consumer's persistent MQTT 5 session (subscribed, then gone), loads the broker with
the messages at QoS 1 while the consumer is away, then starts the consumer and times until every vote is
committed (and every message acknowledged, after its commit). The publisher is thus not what is measured.

Consumers, each on the same pre-loaded messages:

* the collector: the real :class:`collector.ingest.subscriber.Ingestor` + :class:`collector.ingest.store.Store`, in
  this process;
* the naive baseline: paho, one ORM session and one commit per message (same ``protocol`` decoding, votes only,
  no rollups: it does less than the collector);
* paho's raw consume rate, no database: a manual-ack subscriber acknowledging at once (the ceiling);
* one and two ``borne collector serve`` processes sharing a subscription (``$share``), as deployed: timed from
  the first vote stored (their start-up left out) to the last, by polling the database.

Every consumer uses a share group and client id of its own, and its session is removed afterwards: a persistent
session left in a shared group keeps receiving its share of the messages while it is away (Mosquitto queues for
it), which is what made an earlier draft of this benchmark wait for votes that had gone elsewhere.

The helpers (:func:`start_postgres`, :func:`start_mosquitto`, :func:`median_rate`) are used by the other
collector benchmarks too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from collector.broker.mosquitto import free_port
from collector.db.engine import session_factory
from collector.db.models import Vote
from collector.ingest.store import Store
from collector.ingest.subscriber import Ingestor
from collector.metrics import Metrics
from devtools.brokers import Mosquitto
from devtools.builders import collector_settings, migrated_engine, register, wire_batch
from devtools.databases import PostgresServer, postgres_server
from protocol.codec import decode, encode
from protocol.models import VoteBatch
from protocol.topics import TopicKind, kiosk_filter, kiosk_topic, shared

_LOG = logging.getLogger(__name__)

KIOSKS = 100
TIMEOUT_S = 300.0


# -- services shared by the collector benchmarks ----------------------------------------------------------------


#: ``BORNE_TEST_POSTGRES_URL``'s server, or a throw-away cluster (fsync off, as the tests run it).
start_postgres = postgres_server


@contextlib.contextmanager
def start_mosquitto(workdir: Path, extra_conf: str = "") -> Iterator[Mosquitto]:
    """A Mosquitto of our own on a free port, with unbounded queues (no QoS 1 message dropped)."""
    broker = Mosquitto(workdir, extra_conf=extra_conf)
    # Connection logging per message costs the broker time at these rates; keep errors and warnings only.
    broker.conf.write_text(broker.conf.read_text().replace("log_type notice\n", "").replace(
        "log_type information\n", "").replace("connection_messages true", "connection_messages false")
        .replace("max_queued_messages 1000000", "max_queued_messages 0"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def median_rate(count: int, seconds: list[float]) -> float:
    return count / statistics.median(seconds)


# -- the messages ------------------------------------------------------------------------------------------------


def kiosk_fleet(n: int = KIOSKS) -> dict[str, tuple[str, str]]:
    return {f"k-{i}": (f"fs-{i}", "22") for i in range(n)}


def payloads(messages: int, per_message: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(messages):
        kiosk = f"k-{i % KIOSKS}"
        out.append((kiosk_topic(kiosk, TopicKind.VOTES),
                    encode(wire_batch(kiosk, [1 + (j % 4) for j in range(per_message)], start_seq=1 + i * 1000))))
    return out


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 and wait for every PUBACK."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(t, p, qos=1) for t, p in messages]
        for info in infos:
            info.wait_for_publish(TIMEOUT_S)
    finally:
        client.disconnect()
        client.loop_stop()


def _connect_props(expiry: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry
    props.ReceiveMaximum = 1000
    return props


def _session(port: int, client_id: str, group: str) -> None:
    """Create a consumer's persistent session subscribed to the votes of ``group``, then leave."""
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", port, clean_start=False, properties=_connect_props(3600))
    client.loop_start()
    client.subscribe(shared(kiosk_filter(TopicKind.VOTES), group), qos=1)
    if not subscribed.wait(10):
        raise RuntimeError("the broker did not acknowledge the subscription")
    client.disconnect()
    client.loop_stop()


def _forget_session(port: int, client_id: str) -> None:
    """Remove a consumer's session (clean start, expiry 0), so that its share group holds no messages."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port, clean_start=True, properties=_connect_props(0))
    client.loop(1.0)
    client.disconnect()


def sqlite_alone(url: str, votes: int) -> float:
    """SQLite's own rate on the collector's ``votes`` table (its indexes, foreign keys and pragmas): ready
    tuples inserted with ``executemany``, 10,000 a transaction. No MQTT, no decoding: the most one writer does."""
    engine = migrated_engine(url)
    now = datetime.now(UTC).isoformat(" ", "microseconds")[:26]
    rows = [(uuid.uuid4().hex, f"k-{i % KIOSKS}", f"fs-{i % KIOSKS}", i, 1 + i % 4, 4, True, "fs-satisfaction-1",
             now, True, False, None, None, None, now) for i in range(votes)]
    marks = ",".join("?" * len(rows[0]))
    sql = f"INSERT INTO votes VALUES ({marks}) ON CONFLICT (kiosk_id, id) DO NOTHING"  # noqa: S608 - only ?s
    try:
        with engine.connect() as conn:
            dbapi = conn.connection.driver_connection
            cursor = dbapi.cursor()  # type: ignore[union-attr]
            t0 = time.perf_counter()
            for start in range(0, votes, 10_000):
                cursor.executemany(sql, rows[start:start + 10_000])
                dbapi.commit()  # type: ignore[union-attr]
            elapsed = time.perf_counter() - t0
            stored = cursor.execute("SELECT count(*) FROM votes").fetchone()[0]
        if stored != votes:
            raise RuntimeError(f"sqlite alone: {stored} of {votes} votes stored")
        return elapsed
    finally:
        engine.dispose()


# -- consumers: each returns the seconds from its connection to the last message stored -----------------------


@dataclass
class Consumer:
    client_id: str
    group: str


def _paho_consumer(port: int, c: Consumer, on_message: Callable[[mqtt.Client, mqtt.MQTTMessage], None],
                   done: threading.Event) -> float:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=c.client_id, protocol=mqtt.MQTTv5, manual_ack=True)
    client.on_message = lambda cl, _u, m: on_message(cl, m)
    t0 = time.perf_counter()
    client.connect("127.0.0.1", port, clean_start=False, properties=_connect_props(3600))
    client.loop_start()
    finished = done.wait(TIMEOUT_S)
    elapsed = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    if not finished:
        raise RuntimeError(f"{c.client_id}: not every message arrived within {TIMEOUT_S:.0f} s")
    return elapsed


def raw_consume(port: int, c: Consumer, expected: int) -> float:
    """paho alone: acknowledge every message as it arrives, no database."""
    done = threading.Event()
    count = 0

    def on_message(client: mqtt.Client, message: mqtt.MQTTMessage) -> None:
        nonlocal count
        client.ack(message.mid, message.qos)
        count += 1
        if count >= expected:
            done.set()

    return _paho_consumer(port, c, on_message, done)


def naive_consume(port: int, c: Consumer, url: str, expected: int) -> float:
    """One ORM session and commit per message, acknowledged after the commit."""
    engine = migrated_engine(url)
    sessions = session_factory(engine)
    done = threading.Event()
    count = 0

    def on_message(client: mqtt.Client, message: mqtt.MQTTMessage) -> None:
        nonlocal count
        batch = decode(VoteBatch, bytes(message.payload))
        espace = f"fs-{batch.kiosk_id[2:]}"
        with sessions() as session, session.begin():
            for v in batch.votes:
                session.add(Vote(id=v.id, kiosk_id=batch.kiosk_id, espace_id=espace, seq=v.seq, answer=v.answer,
                                 scale=v.scale, satisfied=v.answer > 2, question=v.question, ts=v.ts,
                                 clock_synced=v.clock_synced, misuse=v.misuse, received_at=v.ts))
        client.ack(message.mid, message.qos)
        count += 1
        if count >= expected:
            done.set()

    try:
        return _paho_consumer(port, c, on_message, done)
    finally:
        engine.dispose()


def collector_consume(port: int, c: Consumer, url: str, votes: int, workdir: Path) -> float:
    """The real Ingestor + Store, until ``votes`` votes are stored; checks the count in the database."""
    engine = migrated_engine(url)
    metrics = Metrics()
    settings = collector_settings(url, port, workdir, mqtt_client_id=c.client_id, mqtt_share_group=c.group)
    ingest = Ingestor(settings, Store(engine, metrics), metrics)
    t0 = time.perf_counter()
    ingest.start()
    try:
        while metrics.get("votes_stored") < votes and time.perf_counter() - t0 < TIMEOUT_S:
            time.sleep(0.005)
        elapsed = time.perf_counter() - t0
    finally:
        ingest.close()
    with session_factory(engine)() as session:
        stored = session.scalar(select(func.count()).select_from(Vote))
    engine.dispose()
    if stored != votes or metrics.get("rejects"):
        raise RuntimeError(f"expected {votes} votes, {stored} stored, rejects {metrics.rejects()}")
    return elapsed


def processes_consume(port: int, group: str, client_ids: list[str], url: str, votes: int, workdir: Path,
                      workers: int = 1) -> float:
    """``borne collector serve`` processes sharing ``group``, each with ``workers`` ingest processes: seconds from
    the first vote stored to the last (their start-up, a few seconds of imports, is left out: the first vote
    stored marks the start)."""
    engine = migrated_engine(url)
    env = {**os.environ, "BORNE_MQTT_SHARE_GROUP": group, "BORNE_DATA_DIR": str(workdir),
           "BORNE_ALERTS_INTERVAL_S": "0", "BORNE_INGEST_WORKERS": str(workers)}
    procs = [subprocess.Popen([sys.executable, "-m", "borne", "collector", "serve", "--broker", "external",
                               "--mqtt-port", str(port), "--api-port", str(free_port()), "--database-url", url],
                              env={**env, "BORNE_MQTT_CLIENT_ID": cid},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for cid in client_ids]
    first: tuple[float, int] | None = None
    try:
        deadline = time.perf_counter() + TIMEOUT_S
        with engine.connect() as conn:
            while time.perf_counter() < deadline:
                stored = conn.execute(select(func.count()).select_from(Vote)).scalar_one()
                conn.commit()
                now = time.perf_counter()
                if stored and first is None:
                    first = (now, stored)
                if stored >= votes:
                    break
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError("a collector process ended")
                time.sleep(0.05)
            else:
                raise RuntimeError(f"not every vote was stored within {TIMEOUT_S:.0f} s")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        engine.dispose()
    if first is None or first[1] >= votes:
        raise RuntimeError("every vote was stored before the first look: too few messages to time")
    return (now - first[0]) * votes / (votes - first[1])


def drain_shared(broker: Mosquitto, messages: list[tuple[str, bytes]], n: int, url: str, votes: int,
                 workdir: Path, workers: int = 1) -> float:
    """Load ``messages`` for the sessions of ``n`` collectors of ``workers`` ingest processes each, in one share
    group (the broker splits them), then time the ``n`` collector processes."""
    group = f"g{uuid.uuid4().hex[:8]}"
    client_ids = [f"bench-{i}-{uuid.uuid4().hex[:8]}" for i in range(n)]
    # A collector of several workers connects as <client id>-<worker> (collector/ingest/workers.py).
    sessions = client_ids if workers == 1 else [f"{cid}-{w}" for cid in client_ids for w in range(workers)]
    for cid in sessions:
        _session(broker.port, cid, group)
    publish_all(broker.port, messages)
    try:
        return processes_consume(broker.port, group, client_ids, url, votes, workdir, workers)
    finally:
        for cid in sessions:
            _forget_session(broker.port, cid)


def drain(broker: Mosquitto, messages: list[tuple[str, bytes]], consume: Callable[[Consumer], float]) -> float:
    """Load ``messages`` for a fresh consumer's session, then time ``consume``."""
    c = Consumer(f"bench-{uuid.uuid4().hex[:8]}", f"g{uuid.uuid4().hex[:8]}")
    _session(broker.port, c.client_id, c.group)
    publish_all(broker.port, messages)
    try:
        return consume(c)
    finally:
        _forget_session(broker.port, c.client_id)


def _table(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    for name, rate, note in rows:
        print(f"  {name:<{width}}  {rate:>16}  {note}", flush=True)


@dataclass
class _Run:
    server: PostgresServer
    broker: Mosquitto
    workdir: Path
    repeats: int

    def database(self, db: str) -> str:
        """A fresh, migrated database with the kiosks registered."""
        sqlite = f"sqlite:///{self.workdir / uuid.uuid4().hex}.db"
        url = self.server.create_database() if db == "postgresql" else sqlite
        engine = migrated_engine(url)
        register(engine, kiosk_fleet())
        engine.dispose()
        return url

    def times(self, db: str, msgs: list[tuple[str, bytes]], naive: bool) -> list[float]:
        port, tmp = self.broker.port, self.workdir
        votes = sum(len(decode(VoteBatch, p).votes) for _, p in msgs[:1]) * len(msgs)
        out = []
        for _ in range(self.repeats):
            url = self.database(db)

            def consume(c: Consumer, u: str = url) -> float:
                if naive:
                    return naive_consume(port, c, u, len(msgs))
                return collector_consume(port, c, u, votes, tmp)

            out.append(drain(self.broker, msgs, consume))
            if db == "postgresql":
                self.server.drop_database(url)
        return out

    def processes(self, db: str, msgs: list[tuple[str, bytes]], n: int, workers: int = 1) -> list[float]:
        per_message = len(decode(VoteBatch, msgs[0][1]).votes)
        out = []
        for _ in range(self.repeats):
            url = self.database(db)
            out.append(drain_shared(self.broker, msgs, n, url, len(msgs) * per_message, self.workdir, workers))
            if db == "postgresql":
                self.server.drop_database(url)
        return out


def main(quick: bool = False) -> None:
    n_batches, n_singles, n_naive, repeats = (100, 2000, 300, 1) if quick else (1000, 20000, 2000, 3)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    batch_msgs = payloads(n_batches, 100)
    single_msgs = payloads(n_singles, 1)
    naive_single = single_msgs[:n_naive]
    naive_batch = batch_msgs[: max(10, n_batches // 10)]
    many = batch_msgs + payloads(n_batches * 2, 100)  # enough for a second or two of two processes
    print(f"ingest: {n_batches} messages of 100 votes; {n_singles} one-vote messages; {KIOSKS} kiosks; "
          f"median of {repeats}", flush=True)
    with start_postgres() as server, start_mosquitto(tmp / "mosquitto") as broker:
        port = broker.port
        raw_single = [drain(broker, single_msgs, lambda c: raw_consume(port, c, n_singles)) for _ in range(repeats)]
        raw_batch = [drain(broker, batch_msgs, lambda c: raw_consume(port, c, n_batches)) for _ in range(repeats)]
        raw_rate = median_rate(n_singles, raw_single)
        rows = [("paho raw, one-vote messages (ceiling)", f"{raw_rate:,.0f} msg/s", ""),
                ("paho raw, 100-vote batches (ceiling)", f"{median_rate(n_batches * 100, raw_batch):,.0f} votes/s",
                 f"{median_rate(n_batches, raw_batch):,.0f} msg/s")]
        run = _Run(server, broker, tmp, repeats)
        floor = median_rate(n_batches * 100, [sqlite_alone(run.database("sqlite"), n_batches * 100)
                                              for _ in range(repeats)])
        rows.append(("sqlite3 alone: the votes, no MQTT, no Python work", f"{floor:,.0f} votes/s",
                     "ready tuples, executemany, 10,000 a transaction (the most one SQLite writer does here)"))
        for db in ("sqlite", "postgresql"):
            target = 100_000 if db == "sqlite" else 50_000
            batches = median_rate(n_batches * 100, run.times(db, batch_msgs, naive=False))
            naive_b = median_rate(len(naive_batch) * 100, run.times(db, naive_batch, naive=True))
            singles = median_rate(n_singles, run.times(db, single_msgs, naive=False))
            naive_s = median_rate(n_naive, run.times(db, naive_single, naive=True))
            # The way out of one Python thread's limits: ingest processes sharing the subscription, as deployed
            # (``ingest_workers``, one per core), then whole collectors.
            one = median_rate(len(many) * 100, run.processes(db, many, 1))
            workers = median_rate(len(many) * 100, run.processes(db, many, 1, workers=2))
            workers_s = median_rate(n_singles, run.processes(db, single_msgs, 1, workers=2))
            two = median_rate(len(many) * 100, run.processes(db, many, 2))

            def verdict(rate: float, goal: float) -> str:
                return f"{'met' if rate >= goal else 'MISSED'} ({rate / goal:.2f})"

            rows += [
                (f"{db}: collector, one ingest thread, 100-vote batches", f"{batches:,.0f} votes/s",
                 f"target {target:,}: {verdict(batches, target)}; {batches / naive_b:.1f}x naive"),
                (f"{db}: naive, 100-vote batches", f"{naive_b:,.0f} votes/s", f"{len(naive_batch)} messages"),
                (f"{db}: collector, one ingest thread, one-vote messages", f"{singles:,.0f} msg/s",
                 f"{singles / raw_rate:.2f} of paho raw (target 0.50: {verdict(singles / raw_rate, 0.5)})"
                 f"; {singles / naive_s:.1f}x naive"),
                (f"{db}: naive, one-vote messages", f"{naive_s:,.0f} msg/s", f"{n_naive} messages"),
                (f"{db}: borne collector serve, 100-vote batches", f"{one:,.0f} votes/s",
                 f"one ingest worker; {len(many)} messages, from the first vote stored"),
                (f"{db}: serve --ingest-workers 2, 100-vote batches", f"{workers:,.0f} votes/s",
                 f"{workers / one:.2f}x one worker; target {target:,}: {verdict(workers, target)}"),
                (f"{db}: serve --ingest-workers 2, one-vote messages", f"{workers_s:,.0f} msg/s",
                 f"{workers_s / raw_rate:.2f} of paho raw (target 0.50: {verdict(workers_s / raw_rate, 0.5)})"),
                (f"{db}: 2 serve processes, 100-vote batches", f"{two:,.0f} votes/s",
                 f"one worker each, one $share group; {two / one:.2f}x one"),
            ]
    _table(rows)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main(quick=True)
