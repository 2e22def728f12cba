"""A connected fleet: 3,000 and then 30,000 simulated kiosks at once, with 60 s heartbeats.

Processes of their own, measured with psutil: a Mosquitto (unbounded queues, open-file limit raised), the real
collector (``borne collector serve --broker external``: ingest, API, alert rules every minute) on SQLite, and
``borne sim`` holding every kiosk's connection (retained ``online`` status with a Last Will, a heartbeat every
60 s, spread over the minute, votes at a realistic pace of 3 an hour). Once every kiosk is connected, each
process's CPU (user + system seconds per minute of wall time) is measured over a window, and its RSS at the end.

Baseline, in the same run: the same collector and broker with no kiosk connected, over the same window.

Where the open-file limit cannot be raised enough (30,000 connections need 30,000 descriptors in Mosquitto),
kiosks share connections (``borne sim --per-connection``), and the table says how many connections there were.

The open-file limit is raised (``resource.setrlimit``) in this process, whose children inherit it; the simulator
raises its own, and spreads connections over several loopback source addresses (one address has ~28,000
ephemeral ports here).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.ingest import start_mosquitto
from collector.broker.mosquitto import free_port
from devtools import processes
from devtools.brokers import Mosquitto
from devtools.builders import migrated_engine
from devtools.sim.fleet import raise_open_files

_LOG = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 300.0


@dataclass
class Usage:
    cpu_s_per_min: float
    rss_mb: float


def _usage(procs: dict[str, psutil.Process], window: float) -> dict[str, Usage]:
    def cpu(p: psutil.Process) -> float:
        times = p.cpu_times()
        return times.user + times.system

    before = {name: cpu(p) for name, p in procs.items()}
    started = time.perf_counter()
    time.sleep(window)
    elapsed = time.perf_counter() - started
    return {name: Usage((cpu(p) - before[name]) * 60 / elapsed, p.memory_info().rss / 2**20)
            for name, p in procs.items()}


class _Child:
    """A child process whose output is kept (and scanned for a line)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.name = " ".join(args[2:5])
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **env, "PYTHONUNBUFFERED": "1"})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if text in line:
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not say {text!r}: {' | '.join(self.lines[-5:])}")

    def stop(self) -> None:
        processes.stop(self.proc, 60)
        self._reader.join(5)


def _collector(broker: Mosquitto, url: str, workdir: Path) -> _Child:
    child = _Child([sys.executable, "-m", "borne", "collector", "serve", "--broker", "external",
                    "--mqtt-port", str(broker.port), "--api-port", str(free_port()), "--database-url", url],
                   {"BORNE_DATA_DIR": str(workdir), "BORNE_MQTT_CLIENT_ID": f"bench-fleet-{os.getpid()}"})
    child.wait_for("collector: API on", 60)
    return child


def run(kiosks: int, window: float, workdir: Path, *, idle_too: bool,
        per_connection: int = 1) -> tuple[dict[str, Usage], dict[str, Usage], str]:
    """(usage with no kiosk if ``idle_too``, usage with ``kiosks`` connected, the simulator's connection line)."""
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'fleet.db'}"
    migrated_engine(url).dispose()
    with start_mosquitto(workdir / "mosquitto") as broker:
        collector = _collector(broker, url, workdir)
        sim = None
        try:
            procs = {"collector": psutil.Process(collector.proc.pid), "mosquitto": psutil.Process(broker._proc.pid)}  # type: ignore[union-attr]
            idle = _usage(procs, window) if idle_too else {}
            sim = _Child([sys.executable, "-m", "borne", "sim", "--kiosks", str(kiosks), "--port", str(broker.port),
                          "--heartbeat", "60", "--votes-per-hour", "3", "--register", url,
                          "--per-connection", str(per_connection)], {})
            line = sim.wait_for(" connected, ", CONNECT_TIMEOUT_S)
            procs["borne sim"] = psutil.Process(sim.proc.pid)
            time.sleep(min(10.0, window / 3))  # the retained statuses of the connection burst are stored
            busy = _usage(procs, window)
            if sim.proc.poll() is not None or collector.proc.poll() is not None:
                raise RuntimeError("a process ended during the measurement")
        finally:
            if sim is not None:
                sim.stop()
            collector.stop()
    return idle, busy, line.split("sim: ", 1)[-1]


def main(quick: bool = False) -> None:
    sizes, window = ((300, 3000), 20.0) if quick else ((3000, 30000), 60.0)
    limit = raise_open_files(max(sizes) * 2 + 4096)
    print(f"fleet: heartbeat 60 s, 3 votes/h a kiosk; CPU over {window:.0f} s once all are connected; "
          f"open-file limit {limit}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    results = []
    idle: dict[str, Usage] = {}
    for n in sizes:
        # One descriptor a connection in Mosquitto (and in the simulator), plus room for the rest. Past the limit,
        # kiosks share connections: the collector gets every kiosk's messages all the same (it holds one
        # connection); the broker holds fewer connections than kiosks, so its figures are not a 30,000's.
        per = 1
        while -(-n // per) + 1024 > limit:
            per += 1
        connections = -(-n // per)
        if per > 1:
            print(f"  {n:,} kiosks cannot each have a connection here: Mosquitto needs one file descriptor a "
                  f"connection, and the hard open-file limit is {limit:,} (raising it takes CAP_SYS_RESOURCE); "
                  f"running them {per} to a connection ({connections:,} connections)", flush=True)
        try:
            first_idle, busy, line = run(n, window, tmp / str(n), idle_too=not idle, per_connection=per)
            idle = idle or first_idle
        except Exception as exc:  # report the largest that ran, and why the next did not
            print(f"  {n:,} kiosks did not run: {type(exc).__name__}: {exc}", flush=True)
            break
        print(f"  {n:,} kiosks: sim {line}", flush=True)
        results.append((n, connections, idle, busy))
    print(f"  {'kiosks':>7} {'conns':>7} {'process':<10} {'CPU s/min':>10} {'(no kiosk)':>11} {'RSS MB':>8} "
          f"{'(no kiosk)':>11}")
    for n, connections, base_usage, busy in results:
        for name, usage in busy.items():
            base = base_usage.get(name)
            print(f"  {n:7,} {connections:7,} {name:<10} {usage.cpu_s_per_min:10.2f} "
                  f"{(f'{base.cpu_s_per_min:.2f}' if base else '-'):>11} {usage.rss_mb:8.0f} "
                  f"{(f'{base.rss_mb:.0f}' if base else '-'):>11}", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main(quick=True)
