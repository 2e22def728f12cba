"""Garbage on the wire: the collector keeps running, keeps each reject with its reason, and counts it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

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


def _publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"evil-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_garbage_is_rejected_with_reasons_and_the_collector_goes_on(
    mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str
) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-good": ("fs-1", "13")})
    collector = start_collector(collector_settings(sqlite_url, mosquitto.port, tmp_path))
    client = _publisher(mosquitto.port)
    now = datetime.now(UTC).isoformat()
    wrong_schema = {"v": 1, "kiosk_id": "k-good", "sent_at": now, "votes": [{"answer": "very good"}]}
    bad = [
        ("fs/v1/kiosks/k-good/votes", b"this is not json"),
        ("fs/v1/kiosks/k-good/votes", json.dumps(wrong_schema).encode()),
        ("fs/v1/kiosks/k-good/votes", b"[" * 300_000),
        ("fs/v1/kiosks/k-ghost/votes", encode(wire_batch("k-ghost", [4, 4]))),
        ("fs/v1/kiosks/k-good/votes", encode(wire_batch("k-other", [4]))),
        ("fs/v1/kiosks/k-good/status", b'{"v": 1, "status": "dancing"}'),
    ]
    try:
        for topic, payload in bad:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
        client.publish("fs/v1/kiosks/k-good/votes", encode(wire_batch("k-good", [4, 3, 1])), qos=1)
        assert wait_until(lambda: vote_counts(engine).get("fs-1") == 3 and len(rejects(engine)) == len(bad), 20)
        reasons = sorted(r.reason for r in rejects(engine))
        assert reasons == sorted(
            ["not-json", "invalid", "too-large", "unknown-kiosk", "kiosk-mismatch", "invalid"]
        )
        kept = {r.reason: r for r in rejects(engine)}
        assert kept["unknown-kiosk"].kiosk_id == "k-ghost"
        assert kept["too-large"].payload_size == 300_000
        assert len(kept["too-large"].payload) <= 64 * 1024
        assert collector.metrics.rejects()["invalid"] == 2
        assert collector.ingest is not None and collector.ingest.connected
    finally:
        client.loop_stop()
        client.disconnect()
        collector.close()


def test_the_same_batch_twice_counts_once(mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "13")})
    collector = start_collector(collector_settings(sqlite_url, mosquitto.port, tmp_path))
    client = _publisher(mosquitto.port)
    payload = encode(wire_batch("k-1", [4, 2]))
    try:
        for _ in range(3):
            client.publish("fs/v1/kiosks/k-1/votes", payload, qos=1).wait_for_publish(5)
        assert wait_until(lambda: collector.metrics.get("votes_duplicate") == 4, 20)
        assert vote_counts(engine) == {"fs-1": 2}
    finally:
        client.loop_stop()
        client.disconnect()
        collector.close()
