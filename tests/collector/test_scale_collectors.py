"""Several collector processes on one Mosquitto and one PostgreSQL: shared subscription, SIGKILL, restart.

The collectors are real processes (``borne collector serve --broker external``), killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, func, select

from collector.db.engine import make_engine, session_factory
from collector.db.migrate import upgrade
from collector.db.models import (
    DailyRollup,
    DepartementHourlyRollup,
    DepartementMonthlyRollup,
    MonthlyRollup,
    NationalDailyRollup,
    NationalHourlyRollup,
    Vote,
)
from devtools import processes
from devtools.brokers import Mosquitto
from devtools.builders import migrated_engine, register, wire_batch
from devtools.kiosk_sim import wait_until
from protocol.codec import encode

BORNE = str(Path(sys.executable).parent / "borne")
KIOSKS = {f"k-{i}": (f"fs-{i}", "22") for i in range(10)}


class CollectorProcess:
    """``borne collector serve --broker external`` in a subprocess, with a fixed MQTT client id."""

    def __init__(self, url: str, port: int, client_id: str, workdir: Path) -> None:
        self.env = {**os.environ, "BORNE_DATABASE_URL": url, "BORNE_MQTT_PORT": str(port),
                    "BORNE_MQTT_CLIENT_ID": client_id, "BORNE_API_PORT": "0", "BORNE_DATA_DIR": str(workdir)}
        self.log = workdir / f"{client_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CollectorProcess:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([BORNE, "collector", "serve", "--broker",
                                          "external"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        processes.stop(self.proc)

    def connections(self) -> int:
        """How many times it connected to the broker, from its own log."""
        return self.log.read_text(errors="replace").count("collector.ingest.subscriber: connected to")


def _totals(engine: Engine) -> tuple[int, int, int]:
    with session_factory(engine)() as session:
        votes = session.scalar(select(func.count()).select_from(Vote)) or 0
        distinct = session.scalar(select(func.count(func.distinct(Vote.id)))) or 0
        rolled = session.scalar(select(func.coalesce(func.sum(DailyRollup.votes), 0))) or 0
    return int(votes), int(distinct), int(rolled)


def _rollup_totals(engine: Engine) -> list[int]:
    """The votes in each rollup bumped per vote (at the end of a run: read in one transaction, nothing coming)."""
    with session_factory(engine)() as session:
        return [int(session.scalar(select(func.coalesce(func.sum(m.votes), 0))) or 0)
                for m in (DailyRollup, MonthlyRollup, DepartementHourlyRollup, DepartementMonthlyRollup,
                          NationalDailyRollup, NationalHourlyRollup)]


class Publisher:
    """Kiosk traffic at a steady pace: ``messages`` batches of ``per_message`` votes, QoS 1."""

    def __init__(self, port: int, messages: int, per_message: int, pause: float) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
        self.client.max_inflight_messages_set(1000)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.payloads = [(f"fs/v1/kiosks/k-{i % 10}/votes", encode(wire_batch(f"k-{i % 10}", [1, 2, 3, 4] *
                                                                                   (per_message // 4))))
                         for i in range(messages)]
        self.pause = pause
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for topic, payload in self.payloads:
            self.infos.append(self.client.publish(topic, payload, qos=1))
            time.sleep(self.pause)  # pacing only: correctness never depends on it

    def all_acked(self) -> bool:
        return len(self.infos) == len(self.payloads) and all(i.is_published() for i in self.infos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.slow
def test_two_collectors_one_killed_mid_run_exact_totals(mosquitto: Mosquitto, postgres_url: str,
                                                        tmp_path: Path) -> None:
    engine = migrated_engine(postgres_url)
    register(engine, KIOSKS)
    a = CollectorProcess(postgres_url, mosquitto.port, "collector-a", tmp_path).start()
    b = CollectorProcess(postgres_url, mosquitto.port, "collector-b", tmp_path).start()
    publisher = None
    try:
        assert wait_until(lambda: a.connections() == 1 and b.connections() == 1, 60), "the collectors did not connect"
        time.sleep(1.0)  # let both subscribe before traffic starts (otherwise one only would share it)
        publisher = Publisher(mosquitto.port, messages=400, per_message=20, pause=0.01)
        publisher.thread.start()
        assert wait_until(lambda: _totals(engine)[0] >= 1500, 60)
        a.kill()  # mid-run: messages in flight to it stay in its session, unacknowledged
        publisher.thread.join(60)
        assert wait_until(publisher.all_acked, 60)
        # collector-a comes back with the same client id: the broker hands it what it held for it.
        a.start()
        assert wait_until(lambda: _totals(engine)[0] == 8000, 90), f"totals {_totals(engine)}"
        time.sleep(1.0)  # nothing more may arrive: redeliveries must not count twice
        assert _totals(engine) == (8000, 8000, 8000)
        assert _rollup_totals(engine) == [8000] * 6
    finally:
        if publisher is not None:
            publisher.close()
        a.stop()
        b.stop()
        engine.dispose()


@pytest.mark.slow
def test_a_restarted_collector_keeps_its_session(mosquitto: Mosquitto, postgres_url: str, tmp_path: Path) -> None:
    engine = migrated_engine(postgres_url)
    register(engine, KIOSKS)
    collector = CollectorProcess(postgres_url, mosquitto.port, "collector-solo", tmp_path).start()
    publisher = None
    try:
        assert wait_until(lambda: collector.connections() == 1, 60)
        time.sleep(1.0)  # subscribed
        collector.kill()
        # While it is down, the broker holds the votes for its session.
        publisher = Publisher(mosquitto.port, messages=50, per_message=8, pause=0.0)
        publisher.thread.start()
        publisher.thread.join(30)
        assert wait_until(publisher.all_acked, 30)
        assert _totals(engine)[0] == 0
        collector.start()
        assert wait_until(lambda: _totals(engine)[0] == 400, 60), f"totals {_totals(engine)}"
        assert _totals(engine) == (400, 400, 400)
    finally:
        if publisher is not None:
            publisher.close()
        collector.stop()
        engine.dispose()


def test_the_collector_refuses_an_outdated_schema(mosquitto: Mosquitto, database_url: str,
                                                  tmp_path: Path) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0001")
    engine.dispose()
    env = {**os.environ, "BORNE_DATABASE_URL": database_url, "BORNE_MQTT_PORT": str(mosquitto.port),
           "BORNE_API_PORT": "0", "BORNE_DATA_DIR": str(tmp_path)}
    done = subprocess.run([BORNE, "collector", "serve", "--broker", "external"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "borne: error:" in done.stderr
    assert "upgrade" in done.stderr  # it says what to do
