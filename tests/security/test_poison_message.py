"""One poisonous message: valid for the protocol, it raises in the store. It becomes one reject, never a stall.

The poisons are real ones the protocol lets through: a ``mono_ms`` beyond 64 bits (no database column holds it)
and, on PostgreSQL, a NUL character in a text field. A group holding one of them among good messages of other
kiosks is split until the message at fault is alone: the good ones are stored, the bad one is kept as a reject
with its reason and its payload, its votes are in its kiosk's receipt (so the kiosk stops resending them), and
the group is acknowledged.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from collector.api.app import create_app
from collector.ingest.store import Incoming, Store
from collector.ingest.subscriber import Ingestor
from collector.metrics import Metrics
from devtools.brokers import Mosquitto
from devtools.builders import (
    collector_settings,
    migrated_engine,
    register,
    rejects,
    start_collector,
    vote_counts,
    wire_batch,
)
from devtools.kiosk_sim import wait_until
from protocol.codec import encode
from protocol.models import Telemetry
from protocol.topics import TopicKind, kiosk_topic

FLEET = {"k-a": ("fs-a", "22"), "k-b": ("fs-b", "29"), "k-evil": ("fs-e", "35")}


def poisoned_batch(kiosk_id: str, **vote_fields: object) -> tuple[bytes, str]:
    """A vote batch the protocol accepts, with ``vote_fields`` changed in its one vote; and the vote's id."""
    body = json.loads(encode(wire_batch(kiosk_id, [4])))
    body["votes"][0].update(vote_fields)
    return json.dumps(body).encode(), body["votes"][0]["id"]


def _incoming(kiosk_id: str, kind: TopicKind, payload: bytes) -> Incoming:
    return Incoming(kiosk_topic(kiosk_id, kind), payload, datetime.now(UTC))


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_poisonous_vote_among_good_messages_is_one_reject(database_url: str, where: str) -> None:
    engine = migrated_engine(database_url)
    register(engine, FLEET)
    poison, poison_id = poisoned_batch("k-evil", mono_ms=2**64)
    good = [_incoming(k, TopicKind.VOTES, encode(wire_batch(k, [4, 3]))) for k in ("k-a", "k-b") for _ in range(5)]
    bad = _incoming("k-evil", TopicKind.VOTES, poison)
    at = {"first": 0, "middle": len(good) // 2, "last": len(good)}[where]
    metrics = Metrics()
    outcome = Store(engine, metrics).ingest([*good[:at], bad, *good[at:]])
    assert outcome.stored == 20
    assert dict(outcome.rejected) == {"store-failed": 1}
    assert outcome.receipts["k-evil"] == ([], [uuid.UUID(poison_id)])
    assert len(outcome.receipts["k-a"][0]) == len(outcome.receipts["k-b"][0]) == 10
    assert vote_counts(engine) == {"fs-a": 10, "fs-b": 10}
    (kept,) = rejects(engine)
    assert (kept.reason, kept.kiosk_id, kept.payload) == ("store-failed", "k-evil", poison)
    assert metrics.get("messages") == 11 and metrics.get("votes_stored") == 20
    assert metrics.rejects() == {"store-failed": 1}
    engine.dispose()


def test_poisonous_status_telemetry_and_text_are_rejects(database_url: str) -> None:
    engine = migrated_engine(database_url)
    register(engine, FLEET)
    now = datetime.now(UTC)
    telemetry = json.loads(encode(Telemetry(ts=now, uptime_s=1, version="1", outbox_depth=0)))
    poisons = [
        _incoming("k-evil", TopicKind.TELEMETRY, json.dumps({**telemetry, "outbox_depth": 2**64}).encode()),
        _incoming("k-evil", TopicKind.VOTES, poisoned_batch("k-evil", boot_id="nul\u0000")[0]),
        _incoming("k-evil", TopicKind.VOTES, poisoned_batch("k-evil", mono_ms=2**63)[0]),
    ]
    good = [_incoming("k-a", TopicKind.VOTES, encode(wire_batch("k-a", [1, 2, 3]))),
            _incoming("k-b", TopicKind.VOTES, encode(wire_batch("k-b", [4], ts=now - timedelta(days=3))))]
    outcome = Store(engine).ingest([good[0], *poisons, good[1]])
    nul_is_poison = engine.dialect.name == "postgresql"  # SQLite stores a NUL character as any other
    assert dict(outcome.rejected) == {"store-failed": 3 if nul_is_poison else 2}
    assert outcome.stored == 4 + (0 if nul_is_poison else 1)
    assert vote_counts(engine).get("fs-a") == 3 and vote_counts(engine).get("fs-b") == 1
    assert len(rejects(engine)) == sum(outcome.rejected.values())
    engine.dispose()


def test_a_poisonous_message_on_the_broker_does_not_stop_the_counting(
    mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str
) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, FLEET)
    collector = start_collector(collector_settings(sqlite_url, mosquitto.port, tmp_path), api=False)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"evil-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        poison, _ = poisoned_batch("k-evil", mono_ms=2**64)
        client.publish(kiosk_topic("k-evil", TopicKind.VOTES), poison, qos=1).wait_for_publish(5)
        for i in range(3):
            batch = wire_batch("k-a", [4, 2], start_seq=1 + 2 * i)
            client.publish(kiosk_topic("k-a", TopicKind.VOTES), encode(batch), qos=1).wait_for_publish(5)
        assert wait_until(lambda: vote_counts(engine).get("fs-a") == 6, 20), vote_counts(engine)
        assert [r.reason for r in rejects(engine)] == ["store-failed"]
        assert collector.ingest is not None
        assert wait_until(lambda: collector.ingest is not None and collector.ingest.backlog == 0, 10)
        with TestClient(create_app(engine, metrics=collector.metrics, ingest=collector.ingest)) as api:
            health = api.get("/healthz")
            assert health.status_code == 200, health.json()
            assert 'borne_rejects_by_reason_total{reason="store-failed"} 1' in api.get("/metrics").text
    finally:
        client.loop_stop()
        client.disconnect()
        collector.close()
        engine.dispose()


def test_an_ingestor_with_a_stalled_store_says_so(mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str) -> None:
    """The database locked by someone else: nothing is acknowledged, and /healthz and /metrics show the stall."""
    engine = migrated_engine(sqlite_url)
    register(engine, FLEET)
    settings = collector_settings(sqlite_url, mosquitto.port, tmp_path, ingest_stall_after_s=1.0)
    store_engine = migrated_engine(sqlite_url)
    ingest = Ingestor(settings, Store(store_engine)).start()
    assert ingest.wait_connected(10)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"k-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    locker = engine.raw_connection()
    try:
        with TestClient(create_app(engine, metrics=ingest.metrics, ingest=ingest)) as api:
            assert api.get("/healthz").json()["status"] == "ok"
            locker.execute("PRAGMA busy_timeout=0")
            locker.execute("BEGIN EXCLUSIVE")
            client.publish(kiosk_topic("k-a", TopicKind.VOTES), encode(wire_batch("k-a", [4])), qos=1)
            assert wait_until(lambda: api.get("/healthz").status_code == 503, 40)
            health = api.get("/healthz").json()
            assert health["status"] == "stalled" and health["ingest"]["backlog"] >= 1, health
            text = api.get("/metrics").text
            assert "# TYPE borne_ingest_backlog gauge" in text and "borne_ingest_backlog 1" in text
            assert "borne_ingest_last_progress_seconds" in text
            locker.rollback()
            assert wait_until(lambda: vote_counts(engine).get("fs-a") == 1, 60)
            assert wait_until(lambda: api.get("/healthz").status_code == 200, 20), api.get("/healthz").json()
    finally:
        locker.close()
        client.loop_stop()
        client.disconnect()
        ingest.close()
        store_engine.dispose()
        engine.dispose()
