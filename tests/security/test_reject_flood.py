"""A kiosk sending bad messages without end cannot make the collector keep without limit.

Each kiosk (and messages of no kiosk) has ``rejects_per_kiosk_per_minute`` rejects kept; beyond, a reject is
counted on ``/metrics`` (``borne_rejects_dropped_total``) and logged, not kept, and its votes are left out of
the receipt: the kiosk keeps them and sends them again later, so no vote is forgotten by both sides. Another
kiosk's rejects are kept as before.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from collector.ingest.store import Incoming, Store
from collector.metrics import Metrics
from devtools.builders import migrated_engine, register, rejects, wire_batch
from protocol.codec import encode
from protocol.topics import TopicKind, kiosk_topic


def _future_batch(kiosk_id: str) -> tuple[Incoming, str]:
    batch = wire_batch(kiosk_id, [4], ts=datetime.now(UTC) + timedelta(hours=1))
    return Incoming(kiosk_topic(kiosk_id, TopicKind.VOTES), encode(batch), datetime.now(UTC)), str(batch.votes[0].id)


def test_rejects_kept_per_kiosk_are_limited_and_the_rest_counted(database_url: str) -> None:
    engine = migrated_engine(database_url)
    register(engine, {"k-flood": ("fs-1", "22"), "k-calm": ("fs-2", "29")})
    metrics = Metrics()
    store = Store(engine, metrics, rejects_per_kiosk_per_minute=5)
    flood = [_future_batch("k-flood") for _ in range(12)]
    garbage = [Incoming("fs/v1/kiosks/k-flood/votes", b"not json", datetime.now(UTC)) for _ in range(3)]
    nowhere = [Incoming("elsewhere/x", b"{}", datetime.now(UTC)) for _ in range(7)]
    outcome = store.ingest([m for m, _ in flood[:6]] + garbage + nowhere)
    outcome2 = store.ingest([m for m, _ in flood[6:]] + [_future_batch("k-calm")[0]])
    kept = rejects(engine)
    by_kiosk = {k: sum(1 for r in kept if r.kiosk_id == k) for k in ("k-flood", "k-calm", None)}
    assert by_kiosk == {"k-flood": 5, "k-calm": 1, None: 5}
    assert outcome.rejected["vote-in-future"] + outcome2.rejected["vote-in-future"] == 13
    # Only the votes of rejects kept are in the receipt (the kiosk forgets them: the collector has them); the
    # others stay on the kiosk, sent again later. k-flood's first 2 vote batches were kept (after its 3 not-json).
    rejected_ids = [str(i) for o in (outcome, outcome2) for i in o.receipts.get("k-flood", ([], []))[1]]
    assert rejected_ids == [vote_id for _, vote_id in flood[:2]]
    assert metrics.rejects() == {"vote-in-future": 13, "not-json": 3, "bad-topic": 7}
    text = metrics.prometheus()
    # k-flood's first five rejects were kept (its 3 not-json, decoded first, and 2 vote-in-future): 10 were not.
    assert 'borne_rejects_dropped_total{reason="vote-in-future"} 10' in text
    assert 'borne_rejects_dropped_total{reason="not-json"}' not in text
    assert 'borne_rejects_dropped_total{reason="bad-topic"} 2' in text
    assert text.count("# TYPE borne_rejects_dropped_total counter") == 1
    assert json.dumps(metrics.snapshot())  # still serialisable
    engine.dispose()


def test_the_budget_refills(sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-flood": ("fs-1", "22")})
    store = Store(engine, rejects_per_kiosk_per_minute=2)
    now = [0.0]
    store.reject_budget.clock = lambda: now[0]
    store.ingest([_future_batch("k-flood")[0] for _ in range(3)])
    assert len(rejects(engine)) == 2
    now[0] = 30.0  # half a minute: one more
    store.ingest([_future_batch("k-flood")[0] for _ in range(3)])
    assert len(rejects(engine)) == 3
    engine.dispose()


def test_a_rejected_batch_whose_votes_the_kiosk_forgets_is_kept_whole(sqlite_url: str) -> None:
    """Its receipt makes the kiosk forget its votes: the collector keeps every byte of it (a 500-vote batch is
    well over the 64 KiB kept of a payload that holds no vote)."""
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22")})
    batch = wire_batch("k-unknown", [4] * 500)
    payload = encode(batch)
    assert len(payload) > 64 * 1024
    outcome = Store(engine).ingest([Incoming(kiosk_topic("k-unknown", TopicKind.VOTES), payload, datetime.now(UTC))])
    assert outcome.receipts["k-unknown"][1] == [v.id for v in batch.votes]
    (kept,) = rejects(engine)
    assert kept.reason == "unknown-kiosk" and kept.payload == payload
    engine.dispose()
