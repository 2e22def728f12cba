"""The broker's trust boundary, attacked from outside by someone holding one kiosk's credentials.

On both brokers the collector supports (a national-style Mosquitto with dynamic security, and the embedded one
the collector starts itself), with accounts made by the collector's own code: a kiosk's credentials cannot take
another client id (another kiosk's, the collector's), publish where only the collector should, retain junk,
send a Last Will to another kiosk's topics, subscribe beyond its receipts and configuration, or make the broker
take an oversized message. ``docs/reliability.md`` ("Trust boundary: the broker") lists the attacks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.broker.accounts import AccountsError
from collector.broker.mosquitto import LIMITS
from devtools.dynsec import dynsec_available
from devtools.kiosk_sim import wait_until
from protocol.topics import TopicKind, kiosk_topic
from tests.security.brokers import Account, Boundary, Probe, boundary, connect_with_will_then_drop

pytestmark = pytest.mark.skipif(not dynsec_available(), reason="Mosquitto's dynamic security plugin is missing")

SETTLE_S = 1.0  # how long a message that was going to be delivered is given to arrive


@pytest.fixture(params=["national", "embedded"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Boundary]:
    with boundary(request.param, tmp_path) as b:
        yield b


def _watcher(b: Boundary) -> Probe:
    """The collector's view: everything under fs/v1/kiosks/."""
    probe = Probe(b.port, b.collector).start()
    assert probe.subscribe("fs/v1/kiosks/#") == [True]
    return probe


def test_a_kiosk_cannot_take_another_client_id(broker: Boundary) -> None:
    a, b = broker.kiosk("k-a"), broker.kiosk("k-b")
    honest = Probe(broker.port, b).start()
    collector = Probe(broker.port, broker.collector, v5=True, clean=False).start()
    try:
        assert honest.connected and collector.connected
        for client_id in (b.client_id, broker.collector.client_id, "borne-accounts-x", "anything-else"):
            thief = Probe(broker.port, a, client_id=client_id).start()
            assert not thief.connected and thief.connack == "Not authorized", (client_id, thief.connack)
            thief.stop()
        # A wrong password with the collector's client id touches nothing either.
        wrong = Probe(broker.port, Account(broker.collector.username, "wrong", broker.collector.client_id)).start()
        assert not wrong.connected
        wrong.stop()
        time.sleep(SETTLE_S)
        assert honest.connected and honest.disconnects == 0, "a kiosk was knocked off"
        assert collector.connected and collector.disconnects == 0, "the collector was knocked off"
    finally:
        honest.stop()
        collector.stop()


def test_the_collectors_queued_votes_stay_its_own(broker: Boundary) -> None:
    a, b = broker.kiosk("k-a"), broker.kiosk("k-b")
    collector = Probe(broker.port, broker.collector, v5=True, clean=False).start()
    assert collector.subscribe("fs/v1/kiosks/+/votes") == [True]
    collector.stop()  # away: its session holds what arrives meanwhile
    sender = Probe(broker.port, b).start()
    for i in range(5):
        sender.publish(kiosk_topic("k-b", TopicKind.VOTES), f"vote {i}".encode())
    sender.stop()
    thief = Probe(broker.port, a, client_id=broker.collector.client_id, v5=True, clean=False).start()
    assert not thief.connected and thief.received == []
    thief.stop()
    back = Probe(broker.port, broker.collector, v5=True, clean=False).start()
    try:
        assert wait_until(lambda: len(back.received) == 5, 10), back.received
        assert [p for _, p, _ in back.received] == [f"vote {i}".encode() for i in range(5)]
    finally:
        back.stop()


def test_a_kiosk_publishes_exactly_its_own_four_topics(broker: Boundary) -> None:
    a, b = broker.kiosk("k-a"), broker.kiosk("k-b")
    watcher = _watcher(broker)
    victim = Probe(broker.port, b).start()
    assert victim.subscribe(kiosk_topic("k-b", TopicKind.RECEIPTS), kiosk_topic("k-b", TopicKind.CONFIG)) \
        == [True, True]
    refused = [
        (kiosk_topic("k-a", TopicKind.RECEIPTS), False), (kiosk_topic("k-a", TopicKind.CONFIG), True),
        ("fs/v1/kiosks/k-a/junk", True), ("fs/v1/kiosks/k-a/votes/deeper", True), ("fs/v1/kiosks/k-a", True),
        (kiosk_topic("k-b", TopicKind.RECEIPTS), False), (kiosk_topic("k-b", TopicKind.CONFIG), True),
        (kiosk_topic("k-b", TopicKind.VOTES), False), (kiosk_topic("k-b", TopicKind.STATUS), True),
        ("fs/v1/other", True), ("$CONTROL/dynamic-security/v1", False), ("$SYS/broker/junk", True),
    ]
    attacker = Probe(broker.port, a)
    try:
        for topic, retain in refused:
            # Mosquitto acknowledges a refused QoS 1 publish and drops it, or, when it is retained, closes the
            # connection: one connection an attempt.
            attacker = Probe(broker.port, a).start()
            attacker.publish(topic, b"forged", retain=retain)
            attacker.stop()
        # Its own four topics do go through (the control that the refusals above are the ACL's).
        attacker = Probe(broker.port, a).start()
        for kind in (TopicKind.VOTES, TopicKind.STATUS, TopicKind.TELEMETRY, TopicKind.SELFTEST):
            attacker.publish(kiosk_topic("k-a", kind), b"own")
        assert wait_until(lambda: len(watcher.received) == 4, 10), watcher.received
        time.sleep(SETTLE_S)
        assert sorted(t for t, _, _ in watcher.received) == sorted(
            kiosk_topic("k-a", k) for k in (TopicKind.VOTES, TopicKind.STATUS, TopicKind.TELEMETRY,
                                            TopicKind.SELFTEST))
        assert victim.received == [], "a forged message reached an honest kiosk"
    finally:
        attacker.stop()
        victim.stop()
        watcher.stop()
    # Nothing of it was retained: a new subscriber to everything gets nothing.
    late = _watcher(broker)
    try:
        time.sleep(SETTLE_S)
        assert late.received == [], late.received
    finally:
        late.stop()


def test_a_kiosk_subscribes_only_to_its_receipts_and_config(broker: Boundary) -> None:
    a = broker.kiosk("k-a")
    broker.kiosk("k-b")
    attacker = Probe(broker.port, a).start()
    try:
        assert attacker.subscribe(kiosk_topic("k-a", TopicKind.RECEIPTS), kiosk_topic("k-a", TopicKind.CONFIG)) \
            == [True, True]
        for filter_ in ("#", "fs/v1/kiosks/#", "fs/v1/kiosks/+/receipts", kiosk_topic("k-b", TopicKind.RECEIPTS),
                        kiosk_topic("k-b", TopicKind.CONFIG), kiosk_topic("k-a", TopicKind.VOTES),
                        "fs/v1/kiosks/k-a/#", "$share/g/fs/v1/kiosks/#",
                        f"$share/g/{kiosk_topic('k-b', TopicKind.RECEIPTS)}", "$SYS/#",
                        "$CONTROL/dynamic-security/v1/response"):
            assert attacker.subscribe(filter_) == [False], filter_
    finally:
        attacker.stop()


@pytest.mark.parametrize("kind", [TopicKind.RECEIPTS, TopicKind.CONFIG, TopicKind.VOTES, TopicKind.STATUS])
def test_a_last_will_on_another_kiosks_topic_is_never_delivered(broker: Boundary, kind: TopicKind) -> None:
    a, b = broker.kiosk("k-a"), broker.kiosk("k-b")
    watcher = _watcher(broker)
    victim = Probe(broker.port, b).start()
    assert victim.subscribe(kiosk_topic("k-b", TopicKind.RECEIPTS), kiosk_topic("k-b", TopicKind.CONFIG)) \
        == [True, True]
    try:
        code = connect_with_will_then_drop(broker.port, a, kiosk_topic("k-b", kind), b"forged will", retain=True)
        # The control: a Will on its own status is delivered, so the forged one had its chance.
        assert connect_with_will_then_drop(broker.port, a, kiosk_topic("k-a", TopicKind.STATUS), b"offline") == 0
        assert wait_until(lambda: any(p == b"offline" for _, p, _ in watcher.received), 10), watcher.received
        time.sleep(SETTLE_S)
        assert [p for _, p, _ in watcher.received] == [b"offline"], (code, watcher.received)
        assert victim.received == []
    finally:
        victim.stop()
        watcher.stop()
    late = _watcher(broker)
    try:
        time.sleep(SETTLE_S)
        assert late.received == [], "the forged Will was retained"
    finally:
        late.stop()


def test_an_oversized_message_is_refused(broker: Boundary) -> None:
    a = broker.kiosk("k-a")
    watcher = _watcher(broker)
    attacker = Probe(broker.port, a).start()
    try:
        limit = int(LIMITS["max_packet_size"])
        attacker.publish(kiosk_topic("k-a", TopicKind.VOTES), b"x" * (limit + 1))
        assert wait_until(lambda: not attacker.connected, 10), "the broker kept the oversized sender"
        time.sleep(SETTLE_S)
        assert watcher.received == []
        # The protocol's largest payload (256 KiB) still goes through.
        honest = Probe(broker.port, a).start()
        honest.publish(kiosk_topic("k-a", TopicKind.VOTES), b"y" * 256 * 1024)
        assert wait_until(lambda: len(watcher.received) == 1, 10)
        honest.stop()
    finally:
        attacker.stop()
        watcher.stop()


def test_provisioning_touches_only_the_accounts_it_made(broker: Boundary) -> None:
    accounts = broker.accounts
    broker.kiosk("k-a")
    # A service account named like a kiosk id, and one in the kiosks' namespace that provisioning did not make.
    accounts.execute([
        {"command": "createRole", "rolename": "ops"},
        {"command": "createClient", "username": "fs-ops", "password": "an operator's", "roles": [{"rolename": "ops"}]},
        {"command": "createClient", "username": "kiosk:fs-ops", "password": "by hand", "roles": [{"rolename": "ops"}]},
    ])
    with pytest.raises(AccountsError, match="not made by provisioning"):
        accounts.remove("fs-ops")
    with pytest.raises(AccountsError, match="not made by provisioning"):
        accounts.create("fs-ops", "new", "")
    with pytest.raises(AccountsError, match="not made by provisioning"):
        accounts.set_secret("fs-ops", "new", "")
    for name in ("borne-collector", "admin", accounts.admin_user):
        with pytest.raises(ValueError, match="reserved"):
            accounts.create(name, "new", "")
        with pytest.raises(ValueError, match="reserved"):
            accounts.remove(name)
    clients = accounts.execute([{"command": "listClients"}])[0]["data"]["clients"]
    assert {"fs-ops", "kiosk:fs-ops", "borne-collector", accounts.admin_user, "kiosk:k-a"} <= set(clients)
    # Still working: the collector's and the admin's accounts.
    assert Probe(broker.port, broker.collector).start().connected
    accounts.remove("k-a")
    assert "kiosk:k-a" not in accounts.execute([{"command": "listClients"}])[0]["data"]["clients"]


def test_an_account_from_before_the_namespace_is_moved_by_rotate(broker: Boundary) -> None:
    """Accounts made before (user name = kiosk id, unbound, ``fs/v1/kiosks/<id>/#``) keep working until rotated;
    ``rotate`` replaces them with a bound account in the namespace, and closes the old session."""
    accounts = broker.accounts
    accounts.execute([
        {"command": "createRole", "rolename": "kiosk-k-old", "acls": [
            {"acltype": "publishClientSend", "topic": "fs/v1/kiosks/k-old/#", "allow": True}]},
        {"command": "createClient", "username": "k-old", "password": "old secret",
         "roles": [{"rolename": "kiosk-k-old"}]},
    ])
    old = Probe(broker.port, Account("k-old", "old secret", "kiosk-k-old")).start()
    assert old.connected
    accounts.set_secret("k-old", "new secret", "")
    assert wait_until(lambda: not old.connected, 10), "the old session outlived the move"
    old.stop()
    clients = accounts.execute([{"command": "listClients"}])[0]["data"]["clients"]
    assert "k-old" not in clients and "kiosk:k-old" in clients
    assert Probe(broker.port, Account("kiosk:k-old", "new secret", "kiosk-k-old")).start().connected
    assert not Probe(broker.port, Account("kiosk:k-old", "new secret", "kiosk-k-older")).start().connected


def test_the_embedded_broker_has_the_national_limits() -> None:
    """deploy/mosquitto/borne.conf and the embedded broker's LIMITS say the same."""
    conf = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "borne.conf"
    national = dict(line.split(None, 1) for line in conf.read_text().splitlines()
                    if line.strip() and not line.startswith("#") and len(line.split(None, 1)) == 2)
    assert {key: national.get(key) for key in LIMITS} == LIMITS
