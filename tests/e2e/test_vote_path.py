"""The whole path of a vote, for real: mock pins, outbox, Mosquitto, collector, database, API.

Faults are real too: the broker and the collector are SIGKILLed and restarted mid-run, and so is a kiosk
process. Each test ends on exact counts: every acknowledged press stored once, nothing more.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine

from collector.broker.mosquitto import free_port
from devtools.brokers import Mosquitto
from devtools.builders import (
    api_satisfaction,
    collector_settings,
    migrated_engine,
    register,
    start_collector,
    stored_ids,
    vote_counts,
)
from devtools.kiosk_sim import SimulatedKiosk, simulated_config, wait_until
from kiosk.clock import ManualClock
from protocol.scales import scale_for

FLEET = {"k-a": ("fs-100", "22"), "k-b": ("fs-200", "2A"), "k-c": ("fs-300", "971")}
ROOT = Path(__file__).resolve().parents[2]


class Presser:
    """Presses a kiosk's buttons: mostly one visitor every 4 s (kiosk time), every 7th press an immediate repeat."""

    def __init__(self, kiosk: SimulatedKiosk, clock: ManualClock) -> None:
        self.kiosk, self.clock = kiosk, clock
        self.votes: list = []
        kiosk.kiosk.on_feedback = self.votes.append

    def press(self, i: int) -> None:
        if i % 7 != 6:
            self.clock.advance(4.0)
        self.kiosk.press(1 + (i * 3) % 4)

    def expected(self) -> tuple[int, int, int]:
        counted = [v for v in self.votes if not v.misuse]
        satisfied = sum(scale_for(4).is_satisfied(v.answer) for v in counted)
        return len(counted), satisfied, len(self.votes) - len(counted)


def _kiosks(tmp_path: Path, port: int, **uplink: float) -> list[tuple[SimulatedKiosk, Presser]]:
    out = []
    for kiosk_id in FLEET:
        clock = ManualClock()
        config = simulated_config(kiosk_id, tmp_path / "kiosks", "127.0.0.1", port)
        config.uplink.confirm_timeout_s = uplink.get("confirm_timeout_s", 3.0)
        kiosk = SimulatedKiosk(config, clock=clock)
        out.append((kiosk, Presser(kiosk, clock)))
    return out


def _press_all(kiosks: list[tuple[SimulatedKiosk, Presser]], presses: int, fault_at: int = -1,
               fault: object = None) -> None:
    for i in range(presses):
        if i == fault_at and callable(fault):
            fault()
        for _kiosk, presser in kiosks:
            presser.press(i)
        time.sleep(0.005)


def _check_exact(engine: Engine, kiosks: list[tuple[SimulatedKiosk, Presser]], timeout: float = 90) -> None:
    total = sum(len(p.votes) for _k, p in kiosks)
    assert wait_until(lambda: len(stored_ids(engine)) >= total and all(
        k.kiosk.outbox.depth() == 0 for k, _p in kiosks), timeout, 0.25), (
        f"stored {len(stored_ids(engine))} of {total}; outboxes {[k.kiosk.outbox.depth() for k, _ in kiosks]}")
    ids = stored_ids(engine)
    assert len(ids) == len(set(ids)) == total
    assert set(ids) == {str(v.id) for _k, p in kiosks for v in p.votes}
    for kiosk, presser in kiosks:
        espace = FLEET[kiosk.config.kiosk_id][0]
        counted, satisfied, misuse = presser.expected()
        result = api_satisfaction(engine, espace)
        assert (result["votes"], result["satisfied"], result["misuse_excluded"]) == (counted, satisfied, misuse)
        assert misuse > 0
        with_misuse = api_satisfaction(engine, espace, include_misuse="true")
        assert with_misuse["votes"] == counted + misuse


def test_three_kiosks_300_presses_exact_counts(mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, FLEET)
    collector = start_collector(collector_settings(sqlite_url, mosquitto.port, tmp_path))
    kiosks = _kiosks(tmp_path, mosquitto.port)
    try:
        _press_all(kiosks, 100)
        _check_exact(engine, kiosks)
        assert collector.metrics.get("rejects") == 0
    finally:
        for kiosk, _ in kiosks:
            kiosk.close()
        collector.close()


def test_broker_killed_and_restarted_mid_run(mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str) -> None:
    """SIGKILL the broker (no persistence: whatever it held is gone) while votes flow, then restart it."""
    engine = migrated_engine(sqlite_url)
    register(engine, FLEET)
    collector = start_collector(collector_settings(sqlite_url, mosquitto.port, tmp_path))
    kiosks = _kiosks(tmp_path, mosquitto.port)

    def kill_and_restart() -> None:
        mosquitto.kill()
        threading.Timer(1.5, mosquitto.start).start()

    try:
        _press_all(kiosks, 100, fault_at=40, fault=kill_and_restart)
        _check_exact(engine, kiosks)
    finally:
        for kiosk, _ in kiosks:
            kiosk.close()
        collector.close()


def _collector_process(url: str, port: int, data: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BORNE_MQTT_CLIENT_ID": "e2e-collector", "BORNE_API_PORT": str(free_port())}
    return subprocess.Popen(
        [sys.executable, "-m", "borne", "collector", "serve", "--broker", "external",
         "--mqtt-port", str(port), "--database-url", url, "--data-dir", str(data)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(data / "collector.log").open("ab"),
    )


def test_collector_killed_mid_run(mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str) -> None:
    """SIGKILL the collector while it ingests: what it had not committed comes back; nothing is counted twice."""
    engine = migrated_engine(sqlite_url)
    register(engine, FLEET)
    proc = _collector_process(sqlite_url, mosquitto.port, tmp_path)
    kiosks = _kiosks(tmp_path, mosquitto.port, confirm_timeout_s=30.0)
    holder = {"proc": proc}

    def kill_and_restart() -> None:
        holder["proc"].send_signal(signal.SIGKILL)
        holder["proc"].wait()
        time.sleep(1.0)  # votes keep coming meanwhile: the broker holds them in the collector's session
        holder["proc"] = _collector_process(sqlite_url, mosquitto.port, tmp_path)

    try:
        log = tmp_path / "collector.log"
        assert wait_until(lambda: "connected to" in log.read_text(), 30), "collector never connected"
        _press_all(kiosks, 100, fault_at=50, fault=kill_and_restart)
        _check_exact(engine, kiosks)
    finally:
        for kiosk, _ in kiosks:
            kiosk.close()
        holder["proc"].terminate()
        holder["proc"].wait(10)


def test_kiosk_killed_while_pressing(mosquitto: Mosquitto, tmp_path: Path, sqlite_url: str) -> None:
    """Every press whose feedback fired before a SIGKILL is delivered once the kiosk restarts."""
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-kill": ("fs-900", "75")})
    collector = start_collector(collector_settings(sqlite_url, mosquitto.port, tmp_path))
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'kiosk_id = "k-kill"\ndata_dir = "{tmp_path / "kiosk"}"\n'
        f"[broker]\nport = {mosquitto.port}\nreconnect_min_s = 0.2\n[uplink]\nconfirm_timeout_s = 3\n"
    )
    command = [sys.executable, "-m", "tests.utils.press_kiosk", str(config)]
    acknowledged: list[str] = []
    try:
        for round_ in range(3):
            proc = subprocess.Popen([*command, "400", "0.002"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("FEEDBACK "):
                    acknowledged.append(line.split()[1])
                    if len(acknowledged) >= 60 * (round_ + 1):
                        proc.send_signal(signal.SIGKILL)
                        break
            proc.wait()
            # Whatever the pipe still held was acknowledged too.
            acknowledged.extend(
                ln.split()[1] for ln in proc.stdout.read().splitlines() if ln.startswith("FEEDBACK")
            )
        drain = subprocess.run([*command, "0", "0"], cwd=ROOT, capture_output=True, text=True, timeout=90)
        assert "DRAINED" in drain.stdout
        assert wait_until(lambda: set(acknowledged) <= set(stored_ids(engine)), 30)
        ids = stored_ids(engine)
        assert len(ids) == len(set(ids))
        # A press may be on disk without its feedback having fired (killed in between): stored, not lost.
        assert len(ids) >= len(set(acknowledged)) >= 180
        assert Counter(vote_counts(engine)) == Counter({"fs-900": len(ids)})
    finally:
        collector.close()
