"""A randomized run: honest kiosks (real kiosk code) voting beside hostile clients, each holding one real kiosk
account and trying, in a random order, every attack of ``test_broker_boundary.py``.

At the end: no client received anything from another kiosk's topics, no forged message was routed to an honest
kiosk's receipts or configuration, and every honest vote was counted exactly once (the database), on a national
Mosquitto and on the embedded broker the collector starts itself.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from collector.broker.accounts import COLLECTOR_ROLE, BrokerAccounts, DynsecAccounts, hash_secret, new_secret
from collector.broker.mosquitto import LIMITS, free_port
from collector.service import Collector
from devtools.builders import collector_settings, migrated_engine, register, start_collector, vote_counts, wire_batch
from devtools.dynsec import DynsecMosquitto, dynsec_available
from devtools.kiosk_sim import SimulatedKiosk, simulated_config, wait_until
from kiosk.config import SecretStr
from protocol.codec import encode
from protocol.topics import TopicKind, kiosk_client_id, kiosk_topic
from tests.security.brokers import Account, Probe, connect_with_will_then_drop

pytestmark = pytest.mark.skipif(not dynsec_available(), reason="Mosquitto's dynamic security plugin is missing")

HONEST = ("h-1", "h-2", "h-3")
HOSTILE = ("x-1", "x-2")
ATTACK_S = 10.0
FORGED = b"FORGED"


@contextmanager
def _collector(kind: str, url: str, tmp_path: Path) -> Iterator[tuple[Collector, BrokerAccounts, int, Account]]:
    """A running collector with its broker: (collector, the kiosks' accounts, port, the collector's account)."""
    if kind == "national":
        broker = DynsecMosquitto(tmp_path / "national")
        broker.start()
        accounts = DynsecAccounts("127.0.0.1", broker.port, broker.admin_user, broker.admin_password)
        password = new_secret()
        accounts.ensure_collector("borne-collector", password)
        collector = start_collector(collector_settings(url, broker.port, tmp_path / "collector",
                                                       mqtt_username="borne-collector", mqtt_password=password))
        try:
            yield collector, accounts, broker.port, Account("borne-collector", password, "watcher")
        finally:
            collector.close()
            broker.stop()
    else:
        port = free_port()
        settings = collector_settings(url, port, tmp_path / "collector", embedded_broker=True,
                                      mqtt_accounts="embedded")
        collector = start_collector(settings)
        try:
            embedded = collector.accounts
            assert isinstance(embedded, DynsecAccounts)
            # The watcher has an account of its own with the collector's rights, as a second collector would.
            watcher_password = new_secret()
            embedded.execute([{"command": "createClient", "username": "watcher", "password": watcher_password,
                               "clientid": "watcher", "roles": [{"rolename": COLLECTOR_ROLE}]}])
            yield collector, embedded, port, Account("watcher", watcher_password, "watcher")
        finally:
            collector.close()


def _attack(rng: random.Random, port: int, me: str, account: Account, stop: threading.Event,
            probes: list[Probe], tried: dict[str, int]) -> None:
    victim_topics = [kiosk_topic(h, k) for h in HONEST for k in TopicKind]
    while not stop.is_set():
        victim = rng.choice(HONEST)
        attack = rng.choice(["client-id", "publish", "retain", "will", "subscribe", "oversize", "lying-payload"])
        tried[attack] = tried.get(attack, 0) + 1
        if attack == "client-id":
            thief = Probe(port, account, client_id=rng.choice([kiosk_client_id(victim), "borne-collector",
                                                                "watcher", f"kiosk-{me}-2"])).start()
            probes.append(thief)
        elif attack == "will":
            connect_with_will_then_drop(port, account, rng.choice(victim_topics), FORGED, retain=rng.random() < .5)
        else:
            probe = Probe(port, account).start()
            probes.append(probe)
            if attack == "publish":
                topic = rng.choice(victim_topics)
                payload = encode(wire_batch(victim, [1], start_seq=rng.randrange(10**6, 10**7))) \
                    if topic.endswith("/votes") else FORGED
                probe.publish(topic, payload, timeout=1)
            elif attack == "retain":
                probe.publish(rng.choice([*victim_topics, f"fs/v1/kiosks/{me}/junk",
                                          kiosk_topic(me, TopicKind.RECEIPTS), kiosk_topic(me, TopicKind.CONFIG)]),
                              FORGED, retain=True, timeout=1)
            elif attack == "subscribe":
                probe.subscribe(rng.choice(["#", "fs/v1/kiosks/#", "fs/v1/kiosks/+/receipts",
                                            kiosk_topic(victim, TopicKind.RECEIPTS), "$share/g/fs/v1/kiosks/#"]))
            elif attack == "oversize":
                probe.publish(kiosk_topic(me, TopicKind.VOTES), b"x" * (int(LIMITS["max_packet_size"]) + 1), timeout=1)
            elif attack == "lying-payload":  # its own topic, another kiosk's id in the payload: a reject
                probe.publish(kiosk_topic(me, TopicKind.VOTES),
                              encode(wire_batch(victim, [1], start_seq=rng.randrange(10**6, 10**7))), timeout=1)
            time.sleep(rng.random() * 0.05)
            probe.client.disconnect()
        time.sleep(rng.random() * 0.05)


@pytest.mark.parametrize("kind", ["national", "embedded"])
@pytest.mark.timeout(240)
def test_honest_kiosks_beside_hostile_ones(kind: str, sqlite_url: str, tmp_path: Path) -> None:
    engine: Engine = migrated_engine(sqlite_url)
    register(engine, {k: (f"fs-{k}", "22") for k in (*HONEST, *HOSTILE)})
    rng = random.Random(f"{kind}-melee")
    with _collector(kind, sqlite_url, tmp_path) as (collector, accounts, port, watcher_account):
        secrets_ = {k: new_secret() for k in (*HONEST, *HOSTILE)}
        for kiosk_id, secret in secrets_.items():
            accounts.create(kiosk_id, secret, hash_secret(secret))
        watcher = Probe(port, watcher_account).start()
        assert watcher.subscribe("fs/v1/kiosks/#") == [True]
        honest: list[SimulatedKiosk] = []
        for kiosk_id in HONEST:
            config = simulated_config(kiosk_id, tmp_path / "kiosks", "127.0.0.1", port)
            config = dataclasses.replace(config, broker=dataclasses.replace(
                config.broker, username=accounts.username(kiosk_id), password=SecretStr(secrets_[kiosk_id])))
            honest.append(SimulatedKiosk(config).__enter__())
        stop = threading.Event()
        probes: list[Probe] = []
        tried: dict[str, int] = {}
        attackers = [threading.Thread(target=_attack, args=(random.Random(rng.random()), port, x,
                                                            Account(accounts.username(x), secrets_[x],
                                                                    kiosk_client_id(x)), stop, probes, tried))
                     for x in HOSTILE]
        pressed = dict.fromkeys(HONEST, 0)
        try:
            for thread in attackers:
                thread.start()
            deadline = time.monotonic() + ATTACK_S
            while time.monotonic() < deadline:
                sim = rng.choice(honest)
                sim.press(rng.randint(1, 4))
                pressed[sim.config.kiosk_id] += 1
                time.sleep(rng.random() * 0.2)
            stop.set()
            for thread in attackers:
                thread.join(30)
            assert wait_until(lambda: vote_counts(engine) == {f"fs-{k}": n for k, n in pressed.items() if n}, 60), \
                (vote_counts(engine), pressed)
            assert wait_until(lambda: all(s.kiosk.outbox.depth() == 0 for s in honest), 30), "receipts missing"
        finally:
            stop.set()
            for sim in honest:
                sim.close()
            for probe in probes:
                probe.stop()
            watcher.stop()
        assert sum(tried.values()) >= 20 and len(tried) == 7, tried
        # Nothing reached a hostile client from another kiosk's topics (a refused subscription gets nothing).
        for probe in probes:
            foreign = [t for t, _, _ in probe.received if not t.startswith(tuple(f"fs/v1/kiosks/{x}/"
                                                                                for x in HOSTILE))]
            assert foreign == [], foreign
        # Nothing forged was routed to an honest kiosk's receipts or configuration, nor anywhere at all.
        assert [t for t, p, _ in watcher.received if p == FORGED] == []
        honest_in = {t for t, _, _ in watcher.received if t.split("/")[3] in HONEST and
                     t.rsplit("/", 1)[1] in ("receipts", "config")}
        assert all(t.endswith("/receipts") for t in honest_in)  # the collector's receipts only
        # Every honest vote once (checked above: exact counts); the hostile ones' lying payloads were rejects.
        assert not {f"fs-{x}" for x in HOSTILE} & set(vote_counts(engine))
        assert set(collector.metrics.rejects()) <= {"kiosk-mismatch"}, collector.metrics.rejects()
    engine.dispose()
