"""A receipt only for votes on two database hosts; the collector follows the primary after a promotion.

Real parts: a PostgreSQL primary and its synchronous standby (``devtools.databases.ReplicatedPostgres``), the
store reaching them through one multi-host URL (``target_session_attrs=read-write``).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import ProgrammingError

from collector.db.engine import make_engine, multihost_url
from collector.db.probe import DatabaseProbe
from collector.ingest.store import Incoming, Outcome, Store, StoreUnavailable
from devtools.builders import migrated_engine, register, wire_batch
from devtools.databases import ReplicatedPostgres
from devtools.kiosk_sim import wait_until
from protocol.codec import encode

FLEET = {"k-1": ("fs-1", "22")}


@pytest.mark.parametrize(("given", "expected"), [
    ("postgresql+psycopg://u:p@h1:5432,h2:5433/borne?target_session_attrs=read-write",
     "postgresql+psycopg://u:p@/borne?host=h1:5432&host=h2:5433&target_session_attrs=read-write"),
    ("postgresql+psycopg://h1,h2/borne", "postgresql+psycopg:///borne?host=h1&host=h2"),
    ("postgresql+psycopg://u@h1:5432/borne", "postgresql+psycopg://u@h1:5432/borne"),
    ("postgresql+psycopg://u@/borne?host=h1:1&host=h2:2", "postgresql+psycopg://u@/borne?host=h1:1&host=h2:2"),
    ("sqlite:///a,b.sqlite3", "sqlite:///a,b.sqlite3"),
])
def test_libpq_hosts_become_sqlalchemy_hosts(given: str, expected: str) -> None:
    assert multihost_url(given) == expected


def _message(n: int = 3) -> Incoming:
    batch = wire_batch("k-1", [4] * n)
    return Incoming("fs/v1/kiosks/k-1/votes", encode(batch), datetime.now(UTC))


def _ids(engine: Engine) -> set[uuid.UUID]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT id FROM votes")).scalars())


def _receipted(outcome: Outcome) -> set[uuid.UUID]:
    return set(outcome.receipts.get("k-1", ([], []))[0])


def _on_standby(pair: ReplicatedPostgres, ids: set[uuid.UUID]) -> bool:
    """Whether the standby has ``ids`` (flushed there at the commit, visible once applied: a moment later)."""
    standby = create_engine(pair.node_url(pair.standby))

    def applied() -> bool:
        try:
            return ids <= _ids(standby)
        except ProgrammingError:  # the standby has not replayed the migrations yet (flushed is not applied)
            return False

    try:
        return wait_until(applied, 10)
    finally:
        standby.dispose()


def test_a_receipt_waits_for_the_standby_and_a_cancelled_wait_acknowledges_nothing(
        replicated: ReplicatedPostgres) -> None:
    engine = migrated_engine(replicated.url)
    register(engine, FLEET)
    store = Store(engine)
    try:
        first = store.ingest([_message()])
        assert first.stored == 3
        assert _on_standby(replicated, _receipted(first))  # receipted: on the standby too

        replicated.standby.kill()
        message = _message()
        result: dict[str, object] = {}

        def ingest() -> None:
            try:
                result["outcome"] = store.ingest([message])
            except StoreUnavailable as exc:
                result["unavailable"] = exc

        worker = threading.Thread(target=ingest)
        worker.start()
        admin = create_engine(replicated.node_url(replicated.primary), isolation_level="AUTOCOMMIT")

        def cancelled() -> bool:  # the commit waits for the standby; an operator cancels the wait
            with admin.connect() as conn:
                return bool(conn.execute(text("SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity "
                                              "WHERE wait_event = 'SyncRep'")).scalar())

        probe = DatabaseProbe(engine, timeout=5)
        assert wait_until(lambda: probe.check().waiting_for_standby > 0, 30)  # what /healthz shows
        assert wait_until(cancelled, 30)
        worker.join(30)
        admin.dispose()
        # PostgreSQL kept the votes on the primary ("committed locally"), but nothing may be receipted.
        assert "unavailable" in result and "outcome" not in result
        assert store.metrics.get("store_unreplicated_commits") == 1

        # The kiosk sends them again: found stored, receipted only once the standby is back and has them.
        replicated.standby.restart()
        again = store.ingest([message])
        assert again.stored == 0 and again.duplicates == 3
        assert _on_standby(replicated, _receipted(again))
    finally:
        engine.dispose()


def test_the_store_follows_the_primary_after_a_promotion(replicated: ReplicatedPostgres) -> None:
    engine = make_engine(replicated.url, connect_timeout_s=2)
    migrated_engine(replicated.url).dispose()
    register(engine, FLEET)
    store = Store(engine)
    try:
        before = store.ingest([_message()])
        replicated.kill_primary()
        with pytest.raises(StoreUnavailable):
            store.ingest([_message()])  # the primary gone, the standby read-only: nothing stored, nothing acked
        replicated.promote()
        replicated.run_alone()  # no standby left: the degraded mode, until a standby rejoins
        after = store.ingest([_message()])
        assert after.stored == 3
        replicated.rejoin()
        assert store.ingest([_message()]).stored == 3
        # Every vote receipted before the loss is on the new primary.
        assert _receipted(before) | _receipted(after) <= _ids(engine)
        assert len(_ids(engine)) == 9
    finally:
        engine.dispose()
