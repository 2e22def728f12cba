"""Ingest workers: N processes of one collector, each an :class:`Ingestor` in the same shared subscription.

One ingest is one CPU-bound Python thread (decoding, building rows, the database driver), so a collector on a
machine with several cores runs ``ingest_workers`` processes, each with its own MQTT session in the share group
(client id ``<mqtt_client_id>-<i>``): the broker splits the kiosks' messages between them, as it does between
collectors on several machines, the embedded Mosquitto included. The API, the alerts and the embedded broker stay
in the main process. On the embedded broker each worker has an account of its own, bound to its client id
(``borne-collector-<i>``, :func:`worker_username`).

Nothing about the vote's path changes: each worker acknowledges a message only after its own commit, and ids
keep storing idempotent, so a worker killed at any point loses nothing (the broker redelivers what it had not
acknowledged). The main process restarts a worker that dies, backing off, and serves every worker's counters on
``/metrics``: each worker sends a snapshot of them every :data:`REPORT_S` seconds on a pipe of its own (no lock
shared between processes, which a killed worker could leave taken); a restarted worker's counters start again
from zero, so the last snapshot of the worker it replaces is kept as a base, and the sums never go down. To stop,
the main process sends each worker SIGTERM, on which it finishes the group under way, as under systemd.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess

from collector.config import Settings
from collector.metrics import Metrics

_LOG = logging.getLogger(__name__)

#: How often a worker reports its counters, connection and backlog to the main process.
REPORT_S = 1.0
#: A worker that ran this long before dying is restarted at once; sooner, after a growing delay.
STABLE_S = 60.0
MAX_BACKOFF_S = 30.0


class WorkersUnsupported(ValueError):
    """``ingest_workers`` > 1 needs a broker with shared subscriptions (MQTT 5 and a share group)."""


def check_workers(settings: Settings) -> None:
    """Refuse settings under which several workers would each receive every message."""
    if settings.ingest_workers <= 1:
        return
    if settings.mqtt_protocol != "5" or not settings.mqtt_share_group:
        raise WorkersUnsupported(
            f"ingest_workers = {settings.ingest_workers} needs an MQTT 5 broker with shared subscriptions "
            "(Mosquitto, embedded or not) and a share group (BORNE_MQTT_SHARE_GROUP)"
        )


def worker_client_id(settings: Settings, index: int) -> str:
    """Worker ``index``'s fixed client id, so that the broker keeps its session while it restarts."""
    suffix = f"-{index}"
    return settings.mqtt_client_id[: 64 - len(suffix)] + suffix


def worker_username(settings: Settings, index: int) -> str | None:
    """Worker ``index``'s MQTT user: on the embedded broker with accounts, an account of its own
    (``<user>-<index>``, made by :func:`collector.broker.accounts.accounts_for`); elsewhere the collector's."""
    if (settings.embedded_broker and settings.mqtt_accounts == "embedded") or settings.mqtt_worker_accounts:
        return f"{settings.mqtt_username or 'borne-collector'}-{index}"
    return settings.mqtt_username


@dataclass(frozen=True)
class _Report:
    index: int
    pid: int
    connected: bool
    backlog: int
    last_progress_s: float
    counts: dict[str, int]
    rejects: dict[str, int]


def _worker_main(settings: Settings, index: int, reports: Connection, log_level: int) -> None:
    """A worker process: one Ingestor until SIGTERM (or SIGINT), or until the main process is gone."""
    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s %(name)s[w{index}]: %(message)s")
    # SIGTERM from the main process, or Ctrl-C and systemd reaching the whole group: finish the group under way.
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    from collector.db.engine import engine_for
    from collector.ingest.brokers import ingest_for
    from collector.ingest.store import Store

    parent = os.getppid()
    settings = settings.model_copy(update={"mqtt_client_id": worker_client_id(settings, index),
                                           "mqtt_username": worker_username(settings, index)})
    engine = engine_for(settings)
    metrics = Metrics()
    store = Store(engine, metrics, rejects_per_kiosk_per_minute=settings.rejects_per_kiosk_per_minute)
    ingest = ingest_for(settings, store, metrics).start()
    _LOG.info("ingest worker %d started (pid %d, client id %s)", index, os.getpid(), settings.mqtt_client_id)
    try:
        while not (stopping.is_set() or os.getppid() != parent):
            counts, rejects = metrics.counts()
            reports.send(_Report(index, os.getpid(), ingest.connected, ingest.backlog, ingest.last_progress_s,
                                 counts, rejects))
            stopping.wait(REPORT_S)
    except OSError:  # the main process is gone
        pass
    finally:
        ingest.close()
        counts, rejects = metrics.counts()
        with contextlib.suppress(OSError):
            reports.send(_Report(index, os.getpid(), False, 0, 0.0, counts, rejects))
        engine.dispose()
        _LOG.info("ingest worker %d stopped", index)


@dataclass
class _Slot:
    """One worker's place: its process, its latest report, and what its earlier incarnations counted."""

    index: int
    process: SpawnProcess | None = None
    reports: Connection | None = None  # the main process' end of the worker's pipe
    started: float = 0.0
    restarts: int = 0
    backoff: float = 1.0
    report: _Report | None = None
    reported_at: float = 0.0  # time.monotonic() of ``report``
    base_counts: Counter[str] = field(default_factory=Counter)
    base_rejects: Counter[str] = field(default_factory=Counter)


class IngestWorkers:
    """``settings.ingest_workers`` ingest processes, watched and restarted; reads like an :class:`Ingestor`."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        check_workers(settings)
        self.settings = settings
        self.metrics = metrics
        self._ctx = multiprocessing.get_context("spawn")
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._slots = [_Slot(i) for i in range(settings.ingest_workers)]
        self._watcher: threading.Thread | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> IngestWorkers:
        for slot in self._slots:
            self._spawn(slot)
        self._reader = threading.Thread(target=self._read_reports, name="ingest-reports", daemon=True)
        self._reader.start()
        self._watcher = threading.Thread(target=self._watch, name="ingest-watch", daemon=True)
        self._watcher.start()
        return self

    def _spawn(self, slot: _Slot) -> None:
        reader, writer = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_worker_main, name=f"borne-ingest-{slot.index}",
            args=(self.settings, slot.index, writer, logging.getLogger().getEffectiveLevel()),
        )
        process.start()
        writer.close()  # the worker's end: once it exits, our end reads EOF
        with self._lock:
            slot.process, slot.reports, slot.started = process, reader, time.monotonic()

    # -- the main process' threads --------------------------------------------------------------------------

    def _read_reports(self) -> None:
        while True:
            with self._lock:
                readers = {slot.reports: slot for slot in self._slots if slot.reports is not None}
            if not readers:
                if self._closing.is_set():
                    return
                time.sleep(0.2)
                continue
            for ready in wait(list(readers), timeout=0.2):
                assert isinstance(ready, Connection)  # noqa: S101 - wait() returns what it was given
                try:
                    report: _Report = ready.recv()
                except (EOFError, OSError):  # the worker exited (or was killed): its pipe is done
                    with self._lock:
                        slot = readers[ready]
                        if slot.reports is ready:
                            slot.reports = None
                    ready.close()
                    continue
                self._absorb(report)

    def _absorb(self, report: _Report) -> None:
        with self._lock:
            slot = self._slots[report.index]
            if slot.report is not None and slot.report.pid != report.pid:
                # A new incarnation counts from zero: keep what the previous one counted.
                slot.base_counts.update(slot.report.counts)
                slot.base_rejects.update(slot.report.rejects)
            slot.report, slot.reported_at = report, time.monotonic()
            self.metrics.absorb(f"worker-{report.index}", slot.base_counts + Counter(report.counts),
                                slot.base_rejects + Counter(report.rejects))

    def _watch(self) -> None:
        while not self._closing.wait(0.5):
            for slot in self._slots:
                process = slot.process
                if process is None or process.is_alive():
                    continue
                if time.monotonic() - slot.started >= STABLE_S:
                    slot.backoff = 1.0
                _LOG.error("ingest worker %d (pid %s) ended with exit code %s; restarting it in %.0f s",
                           slot.index, process.pid, process.exitcode, slot.backoff)
                self.metrics.inc("ingest_worker_restarts")
                slot.process = None
                if self._closing.wait(slot.backoff):
                    return
                slot.backoff = min(slot.backoff * 2, MAX_BACKOFF_S)
                slot.restarts += 1
                self._spawn(slot)

    # -- what the API reads ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Every worker alive and connected to the broker."""
        with self._lock:
            return all(s.process is not None and s.process.is_alive() and s.report is not None
                       and s.report.connected for s in self._slots)

    @property
    def backlog(self) -> int:
        with self._lock:
            return sum(s.report.backlog for s in self._slots if s.report is not None)

    @property
    def last_progress_s(self) -> float:
        """The longest any worker with messages waiting has gone without storing a group (0 if none waits)."""
        now = time.monotonic()
        with self._lock:
            return max((s.report.last_progress_s + now - s.reported_at for s in self._slots
                        if s.report is not None and s.report.backlog > 0), default=0.0)

    @property
    def stalled(self) -> bool:
        """Some worker has messages waiting and stored nothing for ``ingest_stall_after_s`` seconds."""
        return self.last_progress_s > self.settings.ingest_stall_after_s

    @property
    def pids(self) -> list[int | None]:
        return [s.process.pid if s.process is not None else None for s in self._slots]

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected:
                return True
            time.sleep(0.05)
        return self.connected

    def close(self, timeout: float = 10.0) -> None:
        """Ask every worker to finish the group under way and stop (SIGTERM); wait for them. Safe twice."""
        if self._closing.is_set():
            return
        self._closing.set()
        if self._watcher is not None:
            self._watcher.join(timeout)
        for slot in self._slots:
            if slot.process is not None and slot.process.is_alive():
                slot.process.terminate()
        deadline = time.monotonic() + timeout
        for slot in self._slots:
            if slot.process is None:
                continue
            slot.process.join(max(0.1, deadline - time.monotonic()))
            if slot.process.is_alive():
                _LOG.warning("ingest worker %d did not stop in time; killing it", slot.index)
                slot.process.kill()
                slot.process.join(5)
        if self._reader is not None:
            self._reader.join(timeout)

    def __enter__(self) -> IngestWorkers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
