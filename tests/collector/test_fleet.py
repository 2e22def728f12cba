"""Releases and rollouts on the collector: the store, the stages, pause/resume/rollback, the stalled alert, and
the commands (``borne release``, ``borne collector fleet``). The kiosks' side is in tests/field/test_updates.py."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from collector import fleet
from collector.alerts import ROLLOUT_STALLED, evaluate
from collector.broker import releases
from collector.broker.publisher import PublishFailed
from collector.config import Settings
from collector.db.engine import session_factory
from collector.db.models import Alert, Kiosk, Rollout
from devtools.brokers import Mosquitto
from devtools.builders import migrated_engine, register
from protocol.codec import encode
from protocol.models import DesiredRelease
from protocol.topics import TopicKind, kiosk_topic
from tests.provisioning.conftest import invoke
from tests.utils.releases import new_key, signed_release

FLEET = {"k-1": ("fs-1", "22"), "k-2": ("fs-1", "22"), "k-3": ("fs-2", "35"), "k-4": ("fs-3", "29")}


@pytest.fixture
def stored(sqlite_url: str, tmp_path: Path) -> tuple[Settings, object]:
    engine = migrated_engine(sqlite_url)
    register(engine, FLEET)
    settings = Settings(database_url=sqlite_url, data_dir=tmp_path / "collector")
    key, public = new_key()
    for version in ("0.2.0", "0.3.0"):
        fleet.add_release(settings, signed_release(tmp_path / "signed", version, key), public)
    return settings, engine


def _telemetry(engine: object, kiosk_id: str, **values: str) -> None:
    with session_factory(engine)() as session, session.begin():  # type: ignore[arg-type]
        kiosk = session.get(Kiosk, kiosk_id)
        assert kiosk is not None
        kiosk.telemetry = {**(kiosk.telemetry or {}), **values}


@pytest.mark.parametrize(("stage", "target", "expected"), [
    ("kiosk", "k-3", ["k-3"]),
    ("espace", "fs-1", ["k-1", "k-2"]),
    ("departement", "29", ["k-4"]),
    ("all", None, ["k-1", "k-2", "k-3", "k-4"]),
    ("percent", "100", ["k-1", "k-2", "k-3", "k-4"]),
])
def test_a_stage_names_its_kiosks(stored: tuple[Settings, object], stage: str, target: str | None,
                                  expected: list[str]) -> None:
    _, engine = stored
    with session_factory(engine)() as session:  # type: ignore[arg-type]
        assert fleet.stage_kiosks(session, stage, target) == expected


def test_a_percentage_takes_the_same_kiosks_first() -> None:
    ids = [f"k-{i}" for i in range(2000)]
    five = {k for k in ids if fleet.in_percent(k, 5)}
    ten = {k for k in ids if fleet.in_percent(k, 10)}
    assert five < ten
    assert 50 <= len(five) <= 150 and 150 <= len(ten) <= 250


def test_a_release_not_stored_or_a_stage_without_kiosk_is_refused(stored: tuple[Settings, object]) -> None:
    settings, engine = stored
    with session_factory(engine)() as session:  # type: ignore[arg-type]
        with pytest.raises(fleet.FleetError, match="not stored"):
            fleet.plan(session, settings, "9.9.9", "all", None)
        with pytest.raises(fleet.FleetError, match="no kiosk"):
            fleet.plan(session, settings, "0.2.0", "espace", "fs-404")


def test_a_release_is_stored_only_whole_and_signed_by_the_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "collector")
    key, public = new_key()
    _, other = new_key()
    source = signed_release(tmp_path / "signed", "0.2.0", key)
    with pytest.raises(fleet.FleetError, match="bad signature"):
        fleet.add_release(settings, source, other)
    wheel = next(source.glob("*.whl"))
    wheel.write_bytes(wheel.read_bytes() + b"x")
    with pytest.raises(fleet.FleetError, match="not the file the release signed"):
        fleet.add_release(settings, source, public)
    assert fleet.stored_releases(settings) == []


def test_progress_pause_resume_rollback_and_the_stalled_alert(stored: tuple[Settings, object]) -> None:
    settings, engine = stored
    _telemetry(engine, "k-1", release="0.2.0")
    _telemetry(engine, "k-2", release="0.2.0")
    sessions = session_factory(engine)  # type: ignore[arg-type]
    with sessions() as session, session.begin():
        rollout, desired = fleet.plan(session, settings, "0.3.0", "espace", "fs-1", user="admin")
        assert sorted(desired) == ["k-1", "k-2"] and desired["k-1"] is not None
        assert desired["k-1"].version == "0.3.0"
        rollout_id = rollout.id
    _telemetry(engine, "k-1", release="0.3.0", update_result="installed 0.3.0")
    with sessions() as session, session.begin():
        rollout = fleet.get(session, None)
        assert rollout.id == rollout_id and rollout.kiosks == {"k-1": "0.2.0", "k-2": "0.2.0"}
        assert fleet.summary(session, rollout) == {"kiosks": 2, "updated": 1, "failed": 0, "waiting": 1}
        assert fleet.pause(session, rollout) == {"k-2": None}
        with pytest.raises(fleet.FleetError, match="not active"):
            fleet.pause(session, rollout)
        resumed = fleet.resume(session, rollout)
        assert list(resumed) == ["k-2"] and resumed["k-2"] is not None
        assert resumed["k-2"].rollout == rollout_id
        # Two hours later, k-2 has not moved: the rollout is stalled.
        later = datetime.now(UTC) + timedelta(hours=3)
        raised = evaluate(session, now=later).raised
        assert [(a.rule, a.subject) for a in raised] == [(ROLLOUT_STALLED, f"rollout:{rollout_id}")]
    _telemetry(engine, "k-2", update_result="rolled_back 0.3.0: the kiosk exited with 3 before it confirmed")
    with sessions() as session, session.begin():
        rollout = fleet.get(session, rollout_id)
        assert fleet.summary(session, rollout)["failed"] == 1
        back = fleet.rollback(session, settings, rollout)
        assert {k: d.version if d else None for k, d in back.items()} == {"k-1": "0.2.0", "k-2": "0.2.0"}
        # Rolled back: no longer active, the alert clears.
        cleared = evaluate(session, now=datetime.now(UTC) + timedelta(hours=3)).cleared
        assert [a.subject for a in cleared] == [f"rollout:{rollout_id}"]
        assert session.scalars(select(Alert).where(Alert.cleared_at.is_(None))).all() == []
        assert session.get(Rollout, rollout_id) is not None


def test_the_commands_sign_store_and_show(sqlite_url: str, tmp_path: Path) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22")})
    key_path = tmp_path / "release-key.pem"
    made = invoke(["release", "keygen", "--key", str(key_path)])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    public = (tmp_path / "release-key.pub").read_text().strip()  # beside the private key, for the bundles
    assert public in made.output
    assert "never overwritten" in str(invoke(["release", "keygen", "--key", str(key_path)]).exception)
    from tests.utils.releases import source_wheel

    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    source_wheel(wheelhouse, "0.2.0")
    signed = invoke(["release", "sign", str(wheelhouse), "--version", "0.2.0", "--key", str(key_path)])
    assert signed.exit_code == 0, signed.output
    db = ["--database-url", sqlite_url, "--data-dir", str(tmp_path / "collector")]
    added = invoke(["collector", "fleet", "add", str(wheelhouse), *db], env={"BORNE_RELEASE_PUBLIC_KEY": public})
    assert added.exit_code == 0 and "release 0.2.0 stored" in added.output, added.output
    nothing = invoke(["collector", "fleet", "status", *db])
    assert "no rollout yet" in str(nothing.exception)
    two = invoke(["collector", "fleet", "update", "0.2.0", "--kiosk", "k-1", "--all", *db])
    assert "name one stage" in str(two.exception)
    _telemetry(engine, "k-1", release="0.2.0", release_desired="0.2.0", update_result="installed 0.2.0")
    listed = invoke(["collector", "kiosks", "list", *db])
    assert "release 0.2.0\tasked 0.2.0\tinstalled 0.2.0" in listed.output, listed.output

    # A release that withdraws 0.2.0 (a flaw): signed with --revoke; 0.2.0 can no longer be rolled out.
    newer = tmp_path / "wheelhouse-0.3.0"
    newer.mkdir()
    source_wheel(newer, "0.3.0")
    itself = invoke(["release", "sign", str(newer), "--version", "0.3.0", "--revoke", "0.3.0", "--key", str(key_path)])
    assert "cannot revoke itself" in str(itself.exception), itself.output
    signed = invoke(["release", "sign", str(newer), "--version", "0.3.0", "--revoke", "0.2.0", "--key",
                     str(key_path)])
    assert signed.exit_code == 0, signed.output
    assert json.loads((newer / "release.json").read_text())["manifest"]["revokes"] == ["0.2.0"]
    added = invoke(["collector", "fleet", "add", str(newer), *db], env={"BORNE_RELEASE_PUBLIC_KEY": public})
    assert added.exit_code == 0, added.output
    refused = invoke(["collector", "fleet", "update", "0.2.0", "--kiosk", "k-1", *db])
    assert "release 0.2.0 is revoked by release 0.3.0" in str(refused.exception), refused.output


def test_a_desired_release_is_retained_on_every_broker(tmp_path: Path) -> None:
    """Active-active brokers each keep their own retained messages: a kiosk that failed over must find its desired
    release there too. A broker down fails the publication, naming it, after the others took it."""
    with Mosquitto(tmp_path / "a") as a, Mosquitto(tmp_path / "b") as b:
        settings = Settings(data_dir=tmp_path / "collector", mqtt_port=a.port, mqtt_more_brokers=f"127.0.0.1:{b.port}")
        desired = DesiredRelease(version="0.2.0", rollout="r-1")
        releases.publish(settings, {"k-1": desired, "k-2": desired})
        topic = kiosk_topic("k-2", TopicKind.RELEASE)
        assert _retained(a.port, topic) == _retained(b.port, topic) == encode(desired)
        b.kill()
        with pytest.raises(PublishFailed, match=rf"1 of 2 brokers: broker 127.0.0.1:{b.port} unreachable"):
            releases.publish(settings, {"k-2": None})
        assert _retained(a.port, topic) is None


def _retained(port: int, topic: str) -> bytes | None:
    """The message ``topic`` holds retained on the broker at ``port`` (None: none)."""
    got: list[bytes] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv311)
    client.on_message = lambda c, u, message: got.append(bytes(message.payload))
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_connect = lambda c, *_args: c.subscribe(topic, 1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        time.sleep(0.3)  # a retained message follows the SUBACK
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0] if got else None
