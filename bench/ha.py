"""High availability's costs: ingest with and without a synchronous standby; the time from a host's loss to votes
counted again.

Ingest: the same pre-loaded messages (``bench/ingest.py``: the consumer's session loaded at QoS 1 while it is
away, then the real :class:`~collector.ingest.subscriber.Ingestor` and :class:`~collector.ingest.store.Store` timed
until every vote is committed) into one PostgreSQL, and into a primary whose every commit waits for its
synchronous standby (``devtools.databases.ReplicatedPostgres``, ``synchronous_commit=on``). Both clusters run with
fsync on, on this machine: the standby's round trip is a loopback one, a real network adds its latency per commit
(a commit per group of up to ``ingest_max_messages`` messages, so per vote it stays small).

A host's loss: the ``host-dies`` fault of the chaos soak's --ha topology (``tests/soak/chaos.py``; 20 kiosks
pressing through the first of two brokers, two collectors on both, a primary and its synchronous standby): the
first broker, the first collector and the primary SIGKILLed together, the standby promoted 1 s later (standing
for the operator's decision), the lost node rebuilt as its standby; timed from the loss until a vote pressed after
it is stored. ``--quick``: fewer messages, one loss.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import create_engine

from bench.ingest import Consumer, collector_consume, drain, kiosk_fleet, median_rate, payloads, start_mosquitto
from devtools.builders import migrated_engine, register
from devtools.databases import ReplicatedPostgres, ThrowAwayPostgres
from devtools.kiosk_sim import wait_until

_LOG = logging.getLogger(__name__)


@contextlib.contextmanager
def single_postgres() -> Iterator[Callable[[str], str]]:
    """One cluster (fsync on); yields a function making a database of it."""
    cluster = ThrowAwayPostgres()
    try:
        admin = cluster.start(fsync=True)
        yield lambda name: _database(admin, admin.rsplit("/", 1)[0] + f"/{name}", name)
    finally:
        cluster.stop()


@contextlib.contextmanager
def replicated_postgres() -> Iterator[Callable[[str], str]]:
    """A primary and its synchronous standby; yields a function making a database (the multi-host URL)."""
    pair = ReplicatedPostgres()
    try:
        pair.start()
        yield lambda name: _database(pair.node_url(pair.primary), pair.url_for(name), name)
    finally:
        pair.stop()


def _database(admin_url: str, url: str, name: str) -> str:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    engine = migrated_engine(url)
    register(engine, kiosk_fleet())
    engine.dispose()
    return url


def ingest_times(new_database: Callable[[str], str], msgs: list[tuple[str, bytes]], votes: int, repeats: int,
                 workdir: Path) -> list[float]:
    with start_mosquitto(workdir / f"mosquitto-{time.monotonic_ns()}") as broker:
        out = []
        for i in range(repeats):
            url = new_database(f"bench_{i}_{time.monotonic_ns()}")

            def consume(c: Consumer, u: str = url, port: int = broker.port) -> float:
                return collector_consume(port, c, u, votes, workdir)

            out.append(drain(broker, msgs, consume))
        return out


def host_loss(workdir: Path) -> tuple[float, float]:
    """One host-dies of the --ha soak: seconds from the loss until a vote pressed after it is stored, and until
    the rebuilt standby was synchronous (the new primary's commits wait for it)."""
    from tests.soak.chaos import Soak

    pair = ReplicatedPostgres()
    try:
        pair.start()
        url = _database(pair.node_url(pair.primary), pair.url_for("borne_ha"), "borne_ha")
        soak = Soak(workdir, url, 20, seed=11, replicated=pair)
        try:
            soak.start()
            if not soak.collectors_ready():
                raise RuntimeError("the collectors did not subscribe on both brokers")
            if not wait_until(lambda: sum(map(len, soak.acknowledged.values())) >= 20, 60):
                raise RuntimeError("no press acknowledged")
            time.sleep(2)
            soak.inject("host-dies")
            if not wait_until(lambda: bool(soak.report.recovery["host-dies"]), 120):
                raise RuntimeError("votes were not counted again")
            soak.heal()
            soak.drain(timeout=90)
            report = soak.account()
            if not report.ok:
                raise RuntimeError("\n".join(report.lines()))
            return (soak.report.recovery["host-dies"][0],
                    soak.report.recovery["host-dies: new standby synchronous"][0])
        finally:
            soak.close()
    finally:
        pair.stop()


def main(quick: bool = False) -> None:
    n_batches, n_singles, repeats, losses = (100, 2000, 1, 1) if quick else (1000, 10000, 3, 5)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ha-"))
    batch_msgs, single_msgs = payloads(n_batches, 100), payloads(n_singles, 1)
    print(f"ha: {n_batches} messages of 100 votes; {n_singles} one-vote messages; median of {repeats}; fsync on",
          flush=True)
    # Both set-ups up at once and taken in turn, repeat after repeat: a machine shared with other work drifts,
    # and alternating spreads the drift over both instead of favouring the one measured in a quieter minute.
    setups = {"one PostgreSQL": single_postgres, "primary + synchronous standby": replicated_postgres}
    batch_times: dict[str, list[float]] = {name: [] for name in setups}
    single_times: dict[str, list[float]] = {name: [] for name in setups}
    with contextlib.ExitStack() as stack:
        databases = {name: stack.enter_context(setup()) for name, setup in setups.items()}
        for _ in range(repeats):
            for name, new_database in databases.items():
                batch_times[name] += ingest_times(new_database, batch_msgs, n_batches * 100, 1, tmp)
                single_times[name] += ingest_times(new_database, single_msgs, n_singles, 1, tmp)
    rates = {name: (median_rate(n_batches * 100, batch_times[name]), median_rate(n_singles, single_times[name]))
             for name in setups}
    for name, (batches, singles) in rates.items():
        print(f"  {name:<32} {batches:>10,.0f} votes/s (100-vote batches)  {singles:>8,.0f} votes/s (one-vote "
              "messages)", flush=True)
    (b1, s1), (b2, s2) = rates.values()
    print(f"  synchronous standby / one PostgreSQL: batches x{b2 / b1:.2f}, one-vote messages x{s2 / s1:.2f}",
          flush=True)
    results = [host_loss(tmp / f"loss-{i}") for i in range(losses)]
    times, standby = [r[0] for r in results], [r[1] for r in results]
    print(f"  a host lost (broker + collector + primary): votes counted again after median "
          f"{statistics.median(times):.1f} s (max {max(times):.1f} s, {len(times)} losses: "
          f"{', '.join(f'{t:.1f}' for t in times)}); promotion 1 s after the loss, kiosks' failover_after_s 3 s",
          flush=True)
    print(f"    of which the new standby rebuilt and synchronous (commits wait for it): median "
          f"{statistics.median(standby):.1f} s after the loss ({', '.join(f'{t:.1f}' for t in standby)})",
          flush=True)
