"""The same rules on the embedded broker: the Mosquitto the collector starts itself, its accounts made by the
collector through dynamic security (admin password in data_dir, 0600)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import stat
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from collector.broker import releases
from collector.broker.accounts import DynsecAccounts, _acls, kiosk_grants
from collector.broker.mosquitto import ADMIN_SECRET_FILE, PUBLISHER_SECRET_FILE, PUBLISHER_USER, free_port
from collector.db.engine import session_factory
from collector.db.models import Rollout
from collector.service import Collector
from devtools.builders import collector_settings, rejects, vote_counts, wire_batch
from devtools.kiosk_sim import SimulatedKiosk, simulated_config, wait_until
from kiosk.config import KioskConfig, SecretStr
from protocol.codec import encode
from protocol.models import DesiredRelease
from protocol.topics import TopicKind, kiosk_client_id, kiosk_topic
from provisioning.client import CollectorClient
from tests.provisioning.conftest import admin_token, connect_reason, espaces, invoke
from tests.utils.releases import new_key, signed_release

LANNION, PAIMPOL = "fs-22-001", "fs-22-002"


def _config(kiosk_id: str, credentials: dict[str, object], port: int, data_dir: Path) -> KioskConfig:
    cfg = simulated_config(kiosk_id, data_dir, "127.0.0.1", port)
    broker = dataclasses.replace(cfg.broker, username=str(credentials["mqtt_username"]),
                                 password=SecretStr(str(credentials["mqtt_password"])))
    return dataclasses.replace(cfg, broker=broker)


def _client(kiosk_id: str, password: object, port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=kiosk_client_id(kiosk_id), protocol=mqtt.MQTTv311)
    client.username_pw_set(f"kiosk:{kiosk_id}", str(password))
    return client


def test_embedded_broker_enforces_accounts(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "collector"
    settings = collector_settings(sqlite_url, port, data_dir, embedded_broker=True, mqtt_accounts="embedded",
                                  api_port=free_port())
    collector = Collector(settings).start(api=True)
    try:
        assert collector.ingest is not None and collector.ingest.wait_connected(15), \
            "the collector could not connect to its own broker with its account"
        assert collector.engine is not None
        engine = collector.engine
        admin_password = _private_secret(data_dir, ADMIN_SECRET_FILE)
        espaces(engine, {LANNION: "France services de Lannion", PAIMPOL: "France services de Paimpol"})
        assert connect_reason(port, None, None) != "Success", "anonymous clients must be refused"
        with CollectorClient(collector.api_url, admin_token(engine)) as api:
            a = api.register(LANNION, "k-a")
            b = api.register(PAIMPOL, "k-b")
            assert a["accounts"] == "embedded" and a["broker"]["port"] == port
            assert a["mqtt_username"] == "kiosk:k-a"
            assert connect_reason(port, "kiosk:k-a", "not-the-password", client_id="kiosk-k-a") != "Success"

            with SimulatedKiosk(_config("k-a", a, port, tmp_path / "kiosks")) as kiosk:
                kiosk.press(4)
                assert wait_until(lambda: vote_counts(engine).get(LANNION) == 1, 20)
                assert wait_until(lambda: kiosk.kiosk.outbox.depth() == 0, 20), "no receipt reached the kiosk"

            # k-a's credentials cannot publish as k-b (dropped), nor subscribe to k-b's receipts (refused).
            client = _client("k-a", a["mqtt_password"], port)
            granted: list[object] = []
            client.on_subscribe = lambda c, u, mid, reasons, p: granted.extend(reasons)
            client.connect("127.0.0.1", port)
            client.loop_start()
            try:
                assert wait_until(client.is_connected, 10)
                client.subscribe(kiosk_topic("k-b", TopicKind.RECEIPTS), 1)
                assert wait_until(lambda: bool(granted), 10)
                # A refused publication: Mosquitto drops it, and may close the connection.
                info = client.publish(kiosk_topic("k-b", TopicKind.VOTES), encode(wire_batch("k-b", [1, 1])), qos=1)
                with contextlib.suppress(RuntimeError):
                    info.wait_for_publish(5)
            finally:
                client.disconnect()
                client.loop_stop()
            marker = _client("k-a", a["mqtt_password"], port)
            marker.connect("127.0.0.1", port)
            marker.loop_start()
            try:
                marker.publish(kiosk_topic("k-a", TopicKind.VOTES), encode(wire_batch("k-a", [3], start_seq=50)),
                               qos=1).wait_for_publish(10)
                assert wait_until(lambda: vote_counts(engine).get(LANNION) == 2, 20)
            finally:
                marker.disconnect()
                marker.loop_stop()
            assert PAIMPOL not in vote_counts(engine)
            assert not [r for r in rejects(engine) if r.kiosk_id == "k-b"]
            assert [getattr(r, "is_failure", False) for r in granted] == [True]

            # rotate: the old password is refused, the new one works, and a session opened with the old one is
            # closed by the broker.
            stale = _client("k-a", a["mqtt_password"], port)
            stale.connect("127.0.0.1", port)
            stale.loop_start()
            try:
                assert wait_until(stale.is_connected, 10)
                rotated = api.rotate("k-a")
                assert wait_until(lambda: not stale.is_connected(), 10), "the old session outlived the rotation"
            finally:
                stale.disconnect()
                stale.loop_stop()
            assert connect_reason(port, "kiosk:k-a", a["mqtt_password"], client_id="kiosk-k-a") != "Success"
            assert connect_reason(port, "kiosk:k-a", rotated["mqtt_password"], client_id="kiosk-k-a") == "Success"

            # revoke: refused.
            assert connect_reason(port, "kiosk:k-b", b["mqtt_password"], client_id="kiosk-k-b") == "Success"
            api.revoke("k-b")
            assert connect_reason(port, "kiosk:k-b", b["mqtt_password"], client_id="kiosk-k-b") != "Success"
    finally:
        collector.close()

    # A restart keeps the accounts (the broker's dynamic-security.json in data_dir) and the collector's session;
    # the collector gets a new password, the admin keeps its own.
    collector = Collector(settings).start(api=False)
    try:
        assert collector.ingest is not None and collector.ingest.wait_connected(15)
        assert connect_reason(port, "kiosk:k-a", rotated["mqtt_password"], client_id="kiosk-k-a") == "Success"
        assert connect_reason(port, "kiosk:k-b", b["mqtt_password"], client_id="kiosk-k-b") != "Success"
        assert (data_dir / ADMIN_SECRET_FILE).read_text().strip() == admin_password
        users = {c["username"] for c in json.loads((data_dir / "broker" / "dynamic-security.json").read_text())
                 ["clients"]}
        assert users == {"borne-admin", "borne-collector", "borne-publisher", "kiosk:k-a"}
    finally:
        collector.close()


def test_kiosks_provisioned_before_a_new_topic_get_it_at_the_collectors_start(sqlite_url: str,
                                                                                 tmp_path: Path) -> None:
    """A kiosk whose role has the grants of an earlier version (no desired release) and one grant too many gets,
    when the collector starts again, exactly its current grants: it then receives its desired release."""
    port = free_port()
    settings = collector_settings(sqlite_url, port, tmp_path / "collector", embedded_broker=True,
                                  mqtt_accounts="embedded", api_port=free_port())
    desired = DesiredRelease(version="0.2.0", rollout="r-1")
    collector = Collector(settings).start(api=True)
    try:
        assert collector.engine is not None and isinstance(collector.accounts, DynsecAccounts)
        accounts, engine = collector.accounts, collector.engine
        espaces(engine, {LANNION: "France services de Lannion"})
        with CollectorClient(collector.api_url, admin_token(engine)) as api:
            a = api.register(LANNION, "k-a")
        # The role as it was made before the release topic, plus a grant no kiosk should have.
        accounts.execute([
            {"command": "removeRoleACL", "rolename": "kiosk-k-a", "acltype": "subscribePattern",
             "topic": kiosk_topic("k-a", TopicKind.RELEASE)},
            {"command": "addRoleACL", "rolename": "kiosk-k-a", "acltype": "publishClientSend",
             "topic": kiosk_topic("k-b", TopicKind.VOTES), "allow": True},
        ])
        # A role of the same shape that is no kiosk the database knows: left as it is.
        accounts.execute([{"command": "createRole", "rolename": "kiosk-monitor", "acls": [
            {"acltype": "subscribePattern", "topic": "fs/v1/kiosks/+/status", "allow": True}]}])
        releases.publish(settings, {"k-a": desired})  # as the embedded broker's publisher
        with SimulatedKiosk(_config("k-a", a, port, tmp_path / "kiosks")) as kiosk:
            kiosk.press(4)
            # The receipt comes after the retained release would have (one SUBSCRIBE for both topics).
            assert wait_until(lambda: kiosk.kiosk.outbox.depth() == 0, 20), "no receipt reached the kiosk"
            assert kiosk.kiosk.updates is not None and kiosk.kiosk.updates.desired is None
            collector.close()

            collector = Collector(settings).start(api=False)
            assert isinstance(collector.accounts, DynsecAccounts)
            role = collector.accounts.execute([{"command": "getRole", "rolename": "kiosk-k-a"}])[0]
            held = sorted((acl["acltype"], acl["topic"]) for acl in role["data"]["role"]["acls"])
            assert held == sorted((acl["acltype"], acl["topic"]) for acl in _acls(kiosk_grants("k-a")))
            assert collector.accounts.ensure_kiosk_grants({"k-a"}) == [], "a second pass must change nothing"
            monitor = collector.accounts.execute([{"command": "getRole", "rolename": "kiosk-monitor"}])[0]
            assert [a["topic"] for a in monitor["data"]["role"]["acls"]] == ["fs/v1/kiosks/+/status"]

            def received() -> bool:
                agent = kiosk.kiosk.updates
                return agent is not None and agent.desired is not None and \
                    (agent.desired.version, agent.desired.rollout) == (desired.version, desired.rollout)

            assert wait_until(received, 30), "no desired release reached the kiosk after the collector's start"

            # A broker that stays up (a national one): the kiosk, connected, is made to subscribe again.
            collector.accounts.execute([{"command": "removeRoleACL", "rolename": "kiosk-k-a",
                                         "acltype": "subscribePattern",
                                         "topic": kiosk_topic("k-a", TopicKind.RELEASE)}])
            assert kiosk.kiosk.updates is not None and kiosk.kiosk.uplink is not None
            kiosk.kiosk.updates.desired = None
            connects = kiosk.kiosk.uplink.stats.connects
            assert collector.accounts.ensure_kiosk_grants({"k-a"}) == ["k-a"]
            assert wait_until(received, 30), "the connected kiosk did not receive its desired release"
            assert kiosk.kiosk.uplink.stats.connects == connects + 1
    finally:
        collector.close()


def test_a_rollout_reaches_kiosks_on_the_embedded_broker(sqlite_url: str, tmp_path: Path) -> None:
    """The small deployment's default (the embedded broker, its accounts made by the collector): a rollout
    started from the command line reaches the kiosk, and the dashboard's buttons (the API) change it. Both publish
    with the embedded broker's publisher account (its password in data_dir, 0600), not the collector's accounts,
    which are bound to the ingest's client ids."""
    port = free_port()
    data_dir = tmp_path / "collector"
    settings = collector_settings(sqlite_url, port, data_dir, embedded_broker=True, mqtt_accounts="embedded",
                                  api_port=free_port())
    key, public = new_key()
    release = signed_release(tmp_path / "signed", "0.2.0", key)
    collector = Collector(settings).start(api=True)
    try:
        assert collector.engine is not None
        engine = collector.engine
        publisher_password = _private_secret(data_dir, PUBLISHER_SECRET_FILE)
        espaces(engine, {LANNION: "France services de Lannion"})
        with CollectorClient(collector.api_url, admin_token(engine)) as api:
            a = api.register(LANNION, "k-a")
        # What an operator types on the collector's host (its environment has no MQTT account).
        cli = ["--database-url", sqlite_url, "--data-dir", str(data_dir)]
        added = invoke(["collector", "fleet", "add", str(release), *cli], env={"BORNE_RELEASE_PUBLIC_KEY": public})
        assert added.exit_code == 0, added.output
        with SimulatedKiosk(_config("k-a", a, port, tmp_path / "kiosks")) as kiosk:
            assert wait_until(lambda: kiosk.kiosk.uplink is not None and kiosk.kiosk.uplink.connected, 20)
            updated = invoke(["collector", "fleet", "update", "0.2.0", "--kiosk", "k-a", "--mqtt-port", str(port),
                              *cli])
            assert updated.exit_code == 0, updated.output

            def desired() -> str | None:
                agent = kiosk.kiosk.updates
                return agent.desired.version if agent is not None and agent.desired is not None else None

            assert wait_until(lambda: desired() == "0.2.0", 20), "the rollout did not reach the kiosk"
            with session_factory(engine)() as session:
                rollout = session.scalars(select(Rollout)).one()
            # The dashboard's « Suspendre »: the API publishes with the same account, the kiosk is no longer asked.
            response = httpx.post(f"{collector.api_url}/api/v1/rollouts/{rollout.id}/pause", timeout=30,
                                  headers={"Authorization": f"Bearer {admin_token(engine, 'national')}"})
            assert response.status_code == 200, response.text
            assert wait_until(lambda: desired() is None, 20), "the pause did not reach the kiosk"
        # The publisher may write kiosks' configuration and release, nothing else: not a vote, not a receipt.
        assert connect_reason(port, PUBLISHER_USER, publisher_password) == "Success"
        refused = _publisher_client(port, publisher_password)
        try:
            info = refused.publish(kiosk_topic("k-a", TopicKind.VOTES), encode(wire_batch("k-a", [1])), qos=1)
            with contextlib.suppress(RuntimeError):
                info.wait_for_publish(5)
            time.sleep(0.5)
            assert vote_counts(engine) == {}
        finally:
            refused.disconnect()
            refused.loop_stop()
    finally:
        collector.close()


def _private_secret(data_dir: Path, name: str) -> str:
    """A password the collector keeps in data_dir: mode 0600, never in the broker's log or its accounts file."""
    path = data_dir / name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().strip()
    for written in ("mosquitto.log", "dynamic-security.json"):
        assert password not in (data_dir / "broker" / written).read_text(), written
    return password


def _publisher_client(port: int, password: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher", protocol=mqtt.MQTTv311)
    client.username_pw_set(PUBLISHER_USER, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert wait_until(client.is_connected, 10)
    return client
