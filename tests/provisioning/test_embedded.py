"""The same rules on the embedded broker (amqtt), enforced from the collector's accounts file."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from collector.broker import free_port
from collector.service import Collector
from kiosk.config import KioskConfig, SecretStr
from kiosk.simulator import SimulatedKiosk, simulated_config, wait_until
from protocol.codec import encode
from protocol.topics import TopicKind, kiosk_topic
from provisioning.client import CollectorClient
from tests.provisioning.conftest import admin_token, connect_reason, espaces
from tests.utils.builders import collector_settings, rejects, vote_counts, wire_batch

LANNION, PAIMPOL = "fs-22-001", "fs-22-002"


def _config(kiosk_id: str, credentials: dict[str, object], port: int, data_dir: Path) -> KioskConfig:
    cfg = simulated_config(kiosk_id, data_dir, "127.0.0.1", port)
    broker = dataclasses.replace(cfg.broker, username=str(credentials["mqtt_username"]),
                                 password=SecretStr(str(credentials["mqtt_password"])))
    return dataclasses.replace(cfg, broker=broker)


def _connected(username: str, password: object, port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{username}-{secrets.token_hex(3)}",
                         protocol=mqtt.MQTTv311)
    client.username_pw_set(username, str(password))
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert wait_until(client.is_connected, 10)
    return client


def test_embedded_broker_enforces_accounts(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    settings = collector_settings(sqlite_url, port, tmp_path / "collector", embedded_broker=True,
                                  mqtt_accounts="embedded", mqtt_protocol="3.1.1", mqtt_share_group="",
                                  api_port=free_port())
    collector = Collector(settings).start(api=True)
    try:
        assert collector.ingest is not None and collector.ingest.wait_connected(15), \
            "the collector could not connect to its own broker with its account"
        assert collector.engine is not None
        engine = collector.engine
        espaces(engine, {LANNION: "France services de Lannion", PAIMPOL: "France services de Paimpol"})
        assert connect_reason(port, None, None) != "Success", "anonymous clients must be refused"
        with CollectorClient(collector.api_url, admin_token(engine)) as api:
            a = api.register(LANNION, "k-a")
            b = api.register(PAIMPOL, "k-b")
            assert a["accounts"] == "embedded" and a["broker"]["port"] == port
            assert connect_reason(port, "k-a", "not-the-password") != "Success"

            with SimulatedKiosk(_config("k-a", a, port, tmp_path / "kiosks")) as kiosk:
                kiosk.press(4)
                assert wait_until(lambda: vote_counts(engine).get(LANNION) == 1, 20)
                assert wait_until(lambda: kiosk.kiosk.outbox.depth() == 0, 20), "no receipt reached the kiosk"

            # k-a's credentials cannot publish as k-b (dropped), nor subscribe to k-b's receipts (refused).
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rogue-{secrets.token_hex(3)}",
                                 protocol=mqtt.MQTTv311)
            client.username_pw_set("k-a", a["mqtt_password"])
            granted: list[object] = []
            client.on_subscribe = lambda c, u, mid, reasons, p: granted.extend(reasons)
            client.connect("127.0.0.1", port)
            client.loop_start()
            try:
                client.subscribe(kiosk_topic("k-b", TopicKind.RECEIPTS), 1)
                client.publish(kiosk_topic("k-b", TopicKind.VOTES), encode(wire_batch("k-b", [1, 1])),
                               qos=1).wait_for_publish(10)
                client.publish(kiosk_topic("k-a", TopicKind.VOTES), encode(wire_batch("k-a", [3], start_seq=50)),
                               qos=1).wait_for_publish(10)
                assert wait_until(lambda: vote_counts(engine).get(LANNION) == 2, 20)
                assert wait_until(lambda: bool(granted), 10)
            finally:
                client.disconnect()
                client.loop_stop()
            assert PAIMPOL not in vote_counts(engine)
            assert not [r for r in rejects(engine) if r.kiosk_id == "k-b"]
            assert [getattr(r, "is_failure", False) for r in granted] == [True]

            # rotate: the old password is refused, the new one works, and a session opened with the old one is
            # mute (amqtt cannot close it from a plugin): what it publishes is dropped.
            stale = _connected("k-a", a["mqtt_password"], port)
            rotated = api.rotate("k-a")
            assert connect_reason(port, "k-a", a["mqtt_password"]) != "Success"
            assert connect_reason(port, "k-a", rotated["mqtt_password"]) == "Success"
            try:
                stale.publish(kiosk_topic("k-a", TopicKind.VOTES), encode(wire_batch("k-a", [1], start_seq=60)),
                              qos=1).wait_for_publish(10)
            finally:
                stale.disconnect()
                stale.loop_stop()
            fresh = _connected("k-a", rotated["mqtt_password"], port)
            try:
                fresh.publish(kiosk_topic("k-a", TopicKind.VOTES), encode(wire_batch("k-a", [4], start_seq=70)),
                              qos=1).wait_for_publish(10)
            finally:
                fresh.disconnect()
                fresh.loop_stop()
            assert wait_until(lambda: vote_counts(engine).get(LANNION) == 3, 20)
            assert not [r for r in rejects(engine) if r.kiosk_id == "k-a"]

            # revoke: refused.
            assert connect_reason(port, "k-b", b["mqtt_password"]) == "Success"
            api.revoke("k-b")
            assert connect_reason(port, "k-b", b["mqtt_password"]) != "Success"
    finally:
        collector.close()

    # A restart rebuilds the accounts from the database: the file may be lost, the hashes are not.
    (tmp_path / "collector" / "broker-accounts.json").unlink()
    collector = Collector(settings).start(api=False)
    try:
        assert collector.ingest is not None and collector.ingest.wait_connected(15)
        assert connect_reason(port, "k-a", rotated["mqtt_password"]) == "Success"
        assert connect_reason(port, "k-b", b["mqtt_password"]) != "Success"
    finally:
        collector.close()
