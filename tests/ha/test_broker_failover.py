"""Two brokers, active-active: a kiosk fails over to the second and comes back; the collector ingests from both.

Real parts: two Mosquitto brokers, the collector (in this process) subscribed on both, the real kiosk code on
gpiozero's mock pins. The books must balance exactly: every press acknowledged to a visitor stored once, every
outbox empty (each vote receipted on the broker it went through).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from collector.db.engine import session_factory
from collector.db.models import Vote
from devtools.brokers import Mosquitto
from devtools.builders import collector_settings, migrated_engine, register, start_collector
from devtools.kiosk_sim import SimulatedKiosk, wait_until
from kiosk.config import KioskConfig


def _stored(engine: Engine) -> tuple[int, int]:
    with session_factory(engine)() as session:
        votes = session.scalar(select(func.count()).select_from(Vote)) or 0
        distinct = session.scalar(select(func.count(func.distinct(Vote.id)))) or 0
    return int(votes), int(distinct)


def test_a_kiosk_fails_over_to_the_other_broker_and_comes_back(tmp_path: Path, sqlite_url: str) -> None:
    first = Mosquitto(tmp_path / "broker-a").start()
    second = Mosquitto(tmp_path / "broker-b").start()
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22")})
    settings = collector_settings(sqlite_url, first.port, tmp_path / "collector",
                                  mqtt_more_brokers=f"127.0.0.1:{second.port}")
    collector = start_collector(settings)
    config = KioskConfig.of(
        kiosk_id="k-1", data_dir=tmp_path / "k-1",
        broker={"host": "127.0.0.1", "port": first.port, "others": [f"127.0.0.1:{second.port}"],
                "reconnect_min_s": 0.2, "reconnect_max_s": 1, "failover_after_s": 1, "prefer_first_after_s": 3},
        voting={"followup": False}, uplink={"heartbeat_s": 10, "confirm_timeout_s": 5},
    )
    acked: list[str] = []
    kiosk = SimulatedKiosk(config, on_feedback=lambda vote: acked.append(str(vote.id)))
    uplink = kiosk.kiosk.uplink
    assert uplink is not None
    try:
        def books_balance(n: int) -> bool:
            return len(acked) == n and _stored(engine) == (n, n) and kiosk.kiosk.outbox.depth() == 0

        for answer in (1, 2, 3, 4):
            kiosk.press(answer)
        assert wait_until(lambda: books_balance(4), 20)
        assert uplink.stats.broker == f"127.0.0.1:{first.port}"

        first.kill()  # the first broker's host is lost
        for answer in (4, 4, 3):
            kiosk.press(answer)
        assert wait_until(lambda: books_balance(7), 30), (_stored(engine), kiosk.kiosk.outbox.depth())
        assert uplink.stats.broker == f"127.0.0.1:{second.port}"

        first.start()  # back: the kiosk returns to it after prefer_first_after_s
        assert wait_until(lambda: uplink.stats.broker == f"127.0.0.1:{first.port}" and uplink.connected, 30)
        for answer in (2, 4):
            kiosk.press(answer)
        assert wait_until(lambda: books_balance(9), 20), (_stored(engine), kiosk.kiosk.outbox.depth())
        assert uplink.stats.broker_changes == 2
        assert collector.ingest is not None and collector.ingest.connected
    finally:
        kiosk.close()
        collector.close()
        engine.dispose()
        first.stop()
        second.stop()


def test_the_collector_receipts_on_the_broker_the_votes_came_from(tmp_path: Path, sqlite_url: str) -> None:
    """A kiosk on each broker: each gets its receipts, through its own broker only."""
    first = Mosquitto(tmp_path / "broker-a").start()
    second = Mosquitto(tmp_path / "broker-b").start()
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22"), "k-2": ("fs-1", "22")})
    settings = collector_settings(sqlite_url, first.port, tmp_path / "collector",
                                  mqtt_more_brokers=f"127.0.0.1:{second.port}")
    collector = start_collector(settings)
    kiosks = [SimulatedKiosk(KioskConfig.of(kiosk_id=f"k-{i}", data_dir=tmp_path / f"k-{i}",
                                            broker={"host": "127.0.0.1", "port": broker.port},
                                            voting={"followup": False}))
              for i, broker in ((1, first), (2, second))]
    try:
        for kiosk in kiosks:
            kiosk.press(4)
            kiosk.press(1)
        assert wait_until(lambda: all(k.kiosk.outbox.depth() == 0 for k in kiosks), 20)
        assert _stored(engine) == (4, 4)
    finally:
        for kiosk in kiosks:
            kiosk.close()
        collector.close()
        engine.dispose()
        first.stop()
        second.stop()


def _connects(port: int, username: str, password: str, client_id: str) -> bool:
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    answered, result = threading.Event(), {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(username, password)

    def on_connect(c: object, userdata: object, flags: object, reason: object, props: object) -> None:
        result["ok"] = not getattr(reason, "is_failure", True)
        answered.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return answered.wait(10) and bool(result["ok"])
    finally:
        client.disconnect()
        client.loop_stop()


def test_provisioning_makes_the_kiosk_account_on_every_broker(tmp_path: Path) -> None:
    from collector.broker.accounts import DynsecAccounts, OnEveryBroker, accounts_for, hash_secret, new_secret
    from collector.config import Settings
    from devtools.dynsec import DynsecMosquitto
    from protocol.topics import kiosk_client_id

    settings = Settings(mqtt_accounts="dynsec", mqtt_admin_username="admin", mqtt_admin_password="x" * 20,
                        mqtt_port=1883, mqtt_more_brokers="b2:1884, b3")
    accounts = accounts_for(settings)
    assert isinstance(accounts, OnEveryBroker)
    assert [(b.host, b.port) for b in accounts.brokers] == [("127.0.0.1", 1883), ("b2", 1884), ("b3", 1883)]

    brokers = [DynsecMosquitto(tmp_path / name) for name in ("a", "b")]
    for broker in brokers:
        broker.start()
    try:
        every = OnEveryBroker([DynsecAccounts("127.0.0.1", b.port, b.admin_user, b.admin_password)
                               for b in brokers])
        secret = new_secret()
        every.create("k-1", secret, hash_secret(secret))
        for broker in brokers:
            assert _connects(broker.port, every.username("k-1"), secret, kiosk_client_id("k-1"))
        every.remove("k-1")
        for broker in brokers:
            assert not _connects(broker.port, every.username("k-1"), secret, kiosk_client_id("k-1"))
    finally:
        for broker in brokers:
            broker.stop()


def test_the_bundle_lists_every_broker(tmp_path: Path) -> None:
    from kiosk.config import load_config
    from provisioning.bundle import BundleOptions, kiosk_toml

    credentials = {"kiosk_id": "k-1", "espace_id": "fs-1", "espace_name": "France services", "mqtt_username":
                   "kiosk:k-1", "mqtt_password": "secret",
                   "broker": {"host": "mqtt-a.example.fr", "port": 8883, "tls": False,
                              "others": ["mqtt-b.example.fr:8883"]}}
    path = tmp_path / "kiosk.toml"
    path.write_text(kiosk_toml(credentials, BundleOptions()))
    config = load_config(path)
    assert config.broker.addresses() == [("mqtt-a.example.fr", 8883), ("mqtt-b.example.fr", 8883)]


def test_the_self_test_passes_through_the_other_broker(tmp_path: Path) -> None:
    """The first broker down at installation: the kiosk works through the second, and its self-test says so."""
    from collector.broker.mosquitto import free_port
    from kiosk.clock import ManualClock
    from kiosk.selftest import SelfTest, SelfTestOptions
    from protocol.wire import CheckOutcome

    second = Mosquitto(tmp_path / "broker-b").start()
    down = free_port()
    config = KioskConfig.of(kiosk_id="k-1", data_dir=tmp_path / "k-1",
                            broker={"host": "127.0.0.1", "port": down, "others": [f"127.0.0.1:{second.port}"]})
    try:
        selftest = SelfTest(config, None, ManualClock(), SelfTestOptions(broker_timeout_s=5))  # type: ignore[arg-type]
        check = selftest.check_broker()
        assert check.outcome is CheckOutcome.PASSED
        assert f"connected to 127.0.0.1:{second.port}" in check.detail and f"127.0.0.1:{down}" in check.detail
        selftest._disconnect()
    finally:
        second.stop()


def test_the_collector_reads_its_brokers() -> None:
    import pytest
    from pydantic import ValidationError

    from collector.config import Settings

    assert Settings(mqtt_host="a", mqtt_port=1884).mqtt_brokers == [("a", 1884)]
    assert Settings(mqtt_host="a", mqtt_more_brokers=" b:1885 , c,a:1883").mqtt_brokers == [
        ("a", 1883), ("b", 1885), ("c", 1883)]
    with pytest.raises(ValidationError, match="not a broker address"):
        Settings(mqtt_more_brokers="b:1885,bad host")
