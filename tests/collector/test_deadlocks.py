"""Two collectors writing the same kiosk rows: a deadlock is retried at once, not taken for an outage."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import select, text

from collector.db.engine import make_engine, session_factory
from collector.db.models import Kiosk
from collector.ingest.store import Incoming, Outcome, Store
from collector.metrics import Metrics
from devtools.builders import migrated_engine, register
from protocol.codec import encode
from protocol.models import Status, StatusMessage
from protocol.topics import TopicKind, kiosk_topic


def _status(kiosk_id: str) -> Incoming:
    message = StatusMessage(status=Status.ONLINE, ts=datetime.now(UTC), version="9.9")
    return Incoming(kiosk_topic(kiosk_id, TopicKind.STATUS), encode(message), datetime.now(UTC))


def _waiting_on_a_lock(engine_url: str, timeout: float = 10) -> bool:
    probe = make_engine(engine_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with probe.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                                ).scalar_one():
                    return True
            time.sleep(0.05)
        return False
    finally:
        probe.dispose()


def test_a_deadlock_on_kiosk_rows_is_applied_again_at_once(postgres_url: str) -> None:
    engine = migrated_engine(postgres_url)
    register(engine, {"k-1": ("fs-1", "22"), "k-2": ("fs-1", "22")})
    metrics = Metrics()
    store = Store(engine, metrics)
    other = make_engine(postgres_url)  # another collector's transaction
    outcome: list[Outcome] = []
    errors: list[BaseException] = []
    try:
        with other.connect() as conn:
            conn.execute(text("SET deadlock_timeout = '30s'"))  # the store's backend is the one to find it
            conn.execute(text("UPDATE kiosks SET last_seen = now() WHERE id = 'k-2'"))

            def ingest() -> None:
                try:
                    outcome.append(store.ingest([_status("k-2"), _status("k-1")]))
                except BaseException as exc:
                    errors.append(exc)

            worker = threading.Thread(target=ingest)
            worker.start()
            assert _waiting_on_a_lock(postgres_url), "the store never waited for k-2"
            # The store holds k-1 (kiosk rows are written in the order of their ids) and waits for k-2: taking
            # k-1 now closes the cycle, and PostgreSQL rolls the store's transaction back.
            conn.execute(text("UPDATE kiosks SET last_seen = now() WHERE id = 'k-1'"))
            conn.commit()
            worker.join(30)
        assert not errors, errors
        assert outcome and not outcome[0].rejected
        assert metrics.get("store_deadlocks") == 1, metrics.snapshot()
        assert metrics.get("store_unavailable") == 0
        with session_factory(engine)() as session:
            versions = dict(session.execute(select(Kiosk.id, Kiosk.version)).all())
        assert versions == {"k-1": "9.9", "k-2": "9.9"}
    finally:
        other.dispose()
        engine.dispose()
