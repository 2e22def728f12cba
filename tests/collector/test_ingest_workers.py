"""One collector, several ingest processes (``ingest_workers``): shared subscription, SIGKILL, exact totals.

The workers are real processes started by the collector; one is killed with SIGKILL mid-run, and the collector
restarts it. Votes are counted once, none lost, and ``/metrics`` adds up every worker's counters.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest

from collector.broker.accounts import hash_secret, new_secret
from collector.broker.mosquitto import free_port
from collector.config import Settings
from collector.ingest.workers import IngestWorkers, WorkersUnsupported, _Report, check_workers, worker_client_id
from collector.metrics import Metrics
from collector.service import Collector
from devtools.brokers import Mosquitto
from devtools.builders import collector_settings, migrated_engine, register, vote_counts
from devtools.kiosk_sim import SimulatedKiosk, simulated_config, wait_until
from kiosk.config import SecretStr
from tests.collector.test_scale_collectors import KIOSKS, CollectorProcess, Publisher, _totals
from tests.provisioning.conftest import connect_reason


def test_metrics_absorb_other_processes_counters() -> None:
    metrics = Metrics()
    metrics.inc("votes_stored", 3)
    metrics.absorb("worker-0", Counter(votes_stored=10), Counter())
    metrics.absorb("worker-1", Counter(votes_stored=5, rejects=1), Counter({"not-json": 1}))
    metrics.absorb("worker-0", Counter(votes_stored=12), Counter())  # replaces its previous totals
    metrics.inc("votes_stored")
    assert metrics.get("votes_stored") == 3 + 12 + 5 + 1
    assert metrics.rejects() == {"not-json": 1}
    assert "borne_votes_stored_total 21" in metrics.prometheus()
    assert metrics.counts() == ({"votes_stored": 4}, {})


def test_a_stalled_worker_shows_in_the_collectors_view(tmp_path: Path) -> None:
    """The main process reads each worker's backlog and progress from its reports: one stalled worker is enough
    for ``/healthz`` to say stalled; its labelled counters (rejects not kept) add up on ``/metrics``."""
    settings = Settings(data_dir=tmp_path, ingest_workers=2, ingest_stall_after_s=5)
    metrics = Metrics()
    workers = IngestWorkers(settings, metrics)
    dropped = Counter({"rejects_dropped|reason|not-json": 2})
    workers._absorb(_Report(0, 100, True, 0, 120.0, dict(dropped), {}))  # idle for long: not stalled
    workers._absorb(_Report(1, 101, True, 3, 1.0, dict(dropped), {}))
    assert (workers.backlog, workers.stalled) == (3, False)
    assert workers.last_progress_s < 5
    workers._absorb(_Report(1, 101, True, 3, 6.0, dict(dropped), {}))
    assert workers.stalled and workers.last_progress_s >= 6
    assert 'borne_rejects_dropped_total{reason="not-json"} 4' in metrics.prometheus()
    workers._absorb(_Report(1, 101, True, 0, 0.0, dict(dropped), {}))
    assert not workers.stalled


def test_workers_need_shared_subscriptions(tmp_path: Path) -> None:
    check_workers(Settings(data_dir=tmp_path, ingest_workers=1, embedded_broker=True, mqtt_share_group=""))
    check_workers(Settings(data_dir=tmp_path, ingest_workers=2, embedded_broker=True))  # Mosquitto, MQTT 5
    cases: list[dict[str, Any]] = [{"mqtt_share_group": ""}, {"mqtt_protocol": "3.1.1"}]
    for bad in cases:
        with pytest.raises(WorkersUnsupported, match="shared subscriptions"):
            check_workers(Settings(data_dir=tmp_path, ingest_workers=2, **bad))
    settings = Settings(data_dir=tmp_path, mqtt_client_id="x" * 64)
    assert worker_client_id(settings, 12) == "x" * 61 + "-12"


def test_workers_on_the_embedded_broker_each_with_its_own_bound_account(sqlite_url: str, tmp_path: Path) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22")})
    settings = collector_settings(sqlite_url, free_port(), tmp_path / "collector", embedded_broker=True,
                                  mqtt_accounts="embedded", mqtt_client_id="collector-e", ingest_workers=2,
                                  alerts_interval_s=0)
    collector = Collector(settings).start(api=False)
    try:
        assert collector.ingest is not None and collector.ingest.wait_connected(60), "the workers did not connect"
        assert collector.accounts is not None
        secret = new_secret()
        collector.accounts.create("k-1", secret, hash_secret(secret))
        kiosk = simulated_config("k-1", tmp_path / "kiosks", "127.0.0.1", settings.mqtt_port)
        kiosk = dataclasses.replace(kiosk, broker=dataclasses.replace(
            kiosk.broker, username="kiosk:k-1", password=SecretStr(secret)))
        with SimulatedKiosk(kiosk) as sim:
            for answer in (1, 2, 3, 4, 1, 2):
                sim.press(answer)
            assert wait_until(lambda: vote_counts(engine).get("fs-1") == 6, 30)
            assert wait_until(lambda: sim.kiosk.outbox.depth() == 0, 30), "no receipt reached the kiosk"
        log = (settings.data_dir / "broker" / "mosquitto.log").read_text()
        for i in (0, 1):
            assert re.search(rf"as collector-e-{i} \(p5, c0, k\d+, u'borne-collector-{i}'\)", log), log[-2000:]
        # A worker's account is bound to its client id: another worker's id, or the collector's, is refused.
        assert settings.mqtt_password is not None
        password = settings.mqtt_password.get_secret_value()
        assert connect_reason(settings.mqtt_port, "borne-collector-0", password, client_id="collector-e-1") \
            == "Not authorized"
        assert connect_reason(settings.mqtt_port, "borne-collector-0", password, client_id="collector-e-0") \
            == "Success"
    finally:
        collector.close()
        engine.dispose()


@pytest.mark.slow
def test_two_workers_one_killed_mid_run_exact_totals(mosquitto: Mosquitto, database_url: str,
                                                     tmp_path: Path) -> None:
    engine = migrated_engine(database_url)
    register(engine, KIOSKS)
    settings = collector_settings(database_url, mosquitto.port, tmp_path, mqtt_client_id="collector-w",
                                  mqtt_share_group="borne", ingest_workers=2, alerts_interval_s=0)
    collector = Collector(settings).start(api=False)
    workers = collector.ingest
    publisher = None
    try:
        assert workers is not None and workers.wait_connected(60), "the workers did not connect"
        publisher = Publisher(mosquitto.port, messages=300, per_message=20, pause=0.005)
        publisher.thread.start()
        assert wait_until(lambda: _totals(engine)[0] >= 1500, 60)
        first = workers.pids[0]  # type: ignore[union-attr]
        assert first is not None
        os.kill(first, signal.SIGKILL)  # mid-run: what it had not acknowledged stays in its session
        publisher.thread.join(60)
        assert wait_until(publisher.all_acked, 60)
        # The collector restarts it with the same client id: the broker hands it what it held.
        assert wait_until(lambda: workers.pids[0] not in (None, first), 30)  # type: ignore[union-attr]
        assert wait_until(lambda: _totals(engine)[0] == 6000, 90), f"totals {_totals(engine)}"
        assert _totals(engine) == (6000, 6000, 6000)
        assert collector.metrics.get("ingest_worker_restarts") == 1
        assert collector.metrics.get("rejects") == 0
        # /metrics adds up the workers, the killed incarnation included, up to its last report (what it stored
        # after that report is not counted again: redelivered, it counts as duplicates, never as new).
        assert wait_until(lambda: collector.metrics.get("votes_stored") > 3000, 10)
        assert collector.metrics.get("votes_stored") <= 6000
    finally:
        if publisher is not None:
            publisher.close()
        collector.close()
        engine.dispose()


def test_serve_with_workers_stops_them_all_on_sigterm(mosquitto: Mosquitto, sqlite_url: str, tmp_path: Path) -> None:
    migrated_engine(sqlite_url).dispose()
    collector = CollectorProcess(sqlite_url, mosquitto.port, "collector-stop", tmp_path)
    collector.env["BORNE_INGEST_WORKERS"] = "2"
    collector.start()
    assert collector.proc is not None
    try:
        assert wait_until(lambda: collector.log.read_text().count("]: connected to") == 2, 60)
        children = psutil.Process(collector.proc.pid).children(recursive=True)
        assert len([c for c in children if "spawn_main" in " ".join(c.cmdline())]) == 2
        collector.proc.send_signal(signal.SIGTERM)
        assert collector.proc.wait(30) == 0
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []
        log = collector.log.read_text()
        assert "ingest worker 0 stopped" in log and "ingest worker 1 stopped" in log
    finally:
        collector.stop()
