"""The chaos soak: a fleet, two collectors, Mosquitto and PostgreSQL, and faults at random for a while.

    python -m tests.soak.chaos --seconds 120 --kiosks 50 [--postgres-url URL | --ha] [--json out.json]

Faults, drawn at random every few seconds: SIGKILL or SIGTERM of the broker (Mosquitto with persistence, saving
every second: restarted a moment later with what it had saved), SIGKILL of a collector (restarted), SIGKILL of a
kiosk process (restarted on the same outboxes), network cuts, black holes and delays through a
:class:`~devtools.faultproxy.FaultProxy` between each kiosk process and the broker, clock jumps inside the
kiosks, and, when the soak runs its own PostgreSQL: the database SIGKILLed and restarted, frozen (SIGSTOP) and
thawed, and its backends terminated. After each database fault, the time until votes are stored again is measured.

With ``--ha``, the national deployment's topology (``docs/deployment.md``): two brokers (the kiosks fail over from
the first to the second), both collectors on both, and a PostgreSQL primary with a synchronous standby reached
through one multi-host URL; one more fault, ``host-dies``: the first broker, the first collector and the database
primary SIGKILLed together, the standby promoted a second later (the operator's ``deploy/postgresql/promote.sh``)
and the lost node rebuilt as its standby; the broker and the collector come back later (a replaced host). The time
from the loss until votes are stored again is measured.
Then the faults stop, the kiosks stop pressing, everything drains, and the books are checked for every kiosk:

- every press whose feedback fired is stored;
- what is stored is exactly what the kiosks recorded on their disks: nothing lost, nothing invented;
- no vote is stored twice (neither by id nor by kiosk and sequence number).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from collector.broker.mosquitto import free_port
from collector.db.engine import make_engine, session_factory
from collector.db.models import Vote
from devtools import processes
from devtools.brokers import Mosquitto
from devtools.builders import migrated_engine, register
from devtools.databases import ReplicatedPostgres, ThrowAwayPostgres
from devtools.faultproxy import FaultProxy

_LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
KIOSKS_PER_PROCESS = 10


@dataclass
class Report:
    seconds: float = 0.0
    kiosks: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0
    recorded: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    invented: int = 0
    drain_seconds: float = 0.0
    #: fault -> seconds from the end of each database fault until a vote was stored again.
    recovery: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    deadlocks: int = 0

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.invented == 0 and self.stored == self.recorded

    def lines(self) -> list[str]:
        faults = ", ".join(f"{n} {k}" for k, n in sorted(self.faults.items()))
        return [
            f"chaos soak: {self.kiosks} kiosks, {self.seconds:.0f} s of faults, drained in {self.drain_seconds:.1f} s",
            f"  faults injected: {sum(self.faults.values())} ({faults})",
            f"  presses acknowledged: {self.acknowledged}",
            f"  votes recorded on kiosks: {self.recorded}",
            f"  votes stored: {self.stored}",
            f"  lost: {self.lost}   duplicated: {self.duplicated}   stored but never recorded: {self.invented}",
            f"  deadlocks in PostgreSQL's log: {self.deadlocks}",
            *(f"  back to storing after {kind}: median {statistics.median(times):.1f} s, max {max(times):.1f} s "
              f"({len(times)} measured)" for kind, times in sorted(self.recovery.items()) if times),
            f"  verdict: {'OK' if self.ok else 'FAILED'}",
        ]


class _Proc:
    """A child process that can be SIGKILLed and started again with the same command."""

    def __init__(self, name: str, command: list[str], log: Path, env: dict[str, str] | None = None,
                 on_line: Any = None) -> None:
        self.name, self.command, self.log, self.env, self.on_line = name, command, log, env, on_line
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        stderr = self.log.open("a")
        self.proc = subprocess.Popen(
            self.command, cwd=ROOT, env={**os.environ, **(self.env or {})}, text=True,
            stdout=subprocess.PIPE if self.on_line else subprocess.DEVNULL, stderr=stderr,
        )
        if self.on_line:
            threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.on_line(line)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        processes.stop(self.proc, 15)


FAULTS = {  # fault -> weight
    "broker": 1, "broker-term": 1, "collector": 2, "kiosk": 2, "cut": 3, "blackhole": 1, "delay": 1, "refuse": 1,
}
DATABASE_FAULTS = {"pg-kill": 1, "pg-freeze": 1, "pg-terminate": 1}
#: With a replicated database and two brokers (--ha): a whole host lost.
HA_FAULTS = {"host-dies": 1}
#: After host-dies: seconds before the standby is promoted (the operator's decision), before the lost host's
#: broker and collector come back (a replaced host).
PROMOTE_AFTER_S = 1.0
HOST_BACK_AFTER_S = 15.0


class Soak:
    def __init__(self, workdir: Path, postgres_url: str, kiosks: int, seed: int,
                 cluster: ThrowAwayPostgres | None = None, replicated: ReplicatedPostgres | None = None) -> None:
        self.workdir = workdir
        self.url = postgres_url
        self.cluster = cluster
        self.replicated = replicated
        self.rng = random.Random(seed)
        self.kiosk_ids = [f"soak-{i:03d}" for i in range(kiosks)]
        self.acknowledged: dict[str, set[str]] = defaultdict(set)
        self._ack_lock = threading.Lock()
        self.report = Report(kiosks=kiosks)
        self.broker = Mosquitto(workdir / "mosquitto", persistence=True)
        #: The other broker of --ha (the kiosks fail over to it; the collectors ingest from both).
        self.second_broker = Mosquitto(workdir / "mosquitto-b", persistence=True) if replicated else None
        self.engine: Engine | None = None
        self.collectors: list[_Proc] = []
        self.fleets: list[tuple[_Proc, FaultProxy]] = []
        self._timers: list[threading.Timer] = []
        self._database_down = 0  # database faults under way
        #: Presses acknowledged since the last host-dies: the first of them stored ends its recovery.
        self._pressed_since_loss: list[str] | None = None
        self._down_lock = threading.Lock()

    # -- set-up ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.engine = migrated_engine(self.url)
        deps = ["22", "2A", "59", "75", "971", "13", "31", "67", "87", "974"]
        register(self.engine, {k: (f"fs-soak-{i % 25}", deps[i % len(deps)]) for i, k in enumerate(self.kiosk_ids)})
        self.broker.start()
        more_brokers = {}
        if self.second_broker is not None:
            self.second_broker.start()
            more_brokers = {"BORNE_MQTT_MORE_BROKERS": f"127.0.0.1:{self.second_broker.port}",
                            "BORNE_DATABASE_CONNECT_TIMEOUT_S": "2"}
        for i in range(2):
            proc = _Proc(
                f"collector-{i}",
                [sys.executable, "-m", "borne", "collector", "serve", "--broker", "external",
                 "--mqtt-port", str(self.broker.port), "--database-url", self.url,
                 "--data-dir", str(self.workdir / f"collector-{i}"), "--api-port", str(free_port())],
                self.workdir / f"collector-{i}.log",
                env={"BORNE_MQTT_CLIENT_ID": f"soak-collector-{i}", **more_brokers},
            )
            proc.start()
            self.collectors.append(proc)
        for n, start in enumerate(range(0, len(self.kiosk_ids), KIOSKS_PER_PROCESS)):
            ids = self.kiosk_ids[start:start + KIOSKS_PER_PROCESS]
            proxy = FaultProxy("127.0.0.1", self.broker.port, seed=n).start()
            ports = str(proxy.port)
            if self.second_broker is not None:
                ports += f",{self.second_broker.port}"
            proc = _Proc(
                f"kiosks-{n}",
                [sys.executable, "-m", "tests.soak.kiosk_fleet", str(self.workdir / "kiosks"), ports,
                 str(self.rng.randrange(1 << 30)), *ids],
                self.workdir / f"kiosks-{n}.log",
                on_line=self._on_kiosk_line,
            )
            proc.start()
            self.fleets.append((proc, proxy))

    def collectors_ready(self, timeout: float = 60.0) -> bool:
        """Wait until every collector is subscribed on every broker (from their logs)."""
        brokers = 1 if self.second_broker is None else 2
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(proc.log.exists() and proc.log.read_text(errors="replace").count(
                    "collector.ingest.subscriber: connected to") >= brokers for proc in self.collectors):
                return True
            time.sleep(0.2)
        return False

    def _on_kiosk_line(self, line: str) -> None:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "FEEDBACK":
            with self._ack_lock:
                self.acknowledged[parts[1]].add(parts[2])
                if self._pressed_since_loss is not None:
                    self._pressed_since_loss.append(parts[2])

    # -- faults ----------------------------------------------------------------------------------------------

    def _later(self, delay: float, action: Any) -> None:
        timer = threading.Timer(delay, action)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def inject(self, fault: str | None = None) -> None:
        """Inject ``fault``, or one drawn at random."""
        if fault is None:
            faults = {**FAULTS, **(DATABASE_FAULTS if self.cluster is not None else {}),
                      **(HA_FAULTS if self.replicated is not None else {})}
            fault = self.rng.choices(list(faults), weights=list(faults.values()))[0]
            if (fault.startswith("pg-") or fault == "host-dies") and self._database_down:
                fault = "cut"  # one database fault at a time: the recovery measured is that fault's
        self.report.faults[fault] += 1
        if fault == "host-dies":
            self._host_dies()
        elif fault in ("broker", "broker-term"):
            if fault == "broker":
                self.broker.kill()
            else:
                self.broker.stop()
            self._later(self.rng.uniform(0.5, 3), self.broker.start)
        elif fault == "collector":
            victim = self.rng.choice(self.collectors)
            victim.kill()
            self._later(self.rng.uniform(0.5, 3), victim.start)
        elif fault == "kiosk":
            proc, _proxy = self.rng.choice(self.fleets)
            proc.kill()
            self._later(self.rng.uniform(0.5, 2), proc.start)
        elif fault.startswith("pg-"):
            self._database_fault(fault)
        else:
            _proc, proxy = self.rng.choice(self.fleets)
            if fault == "cut":
                proxy.cut()
            elif fault == "blackhole":
                proxy.blackhole(True)
                def back(proxy: FaultProxy = proxy) -> None:
                    proxy.blackhole(False)
                    proxy.cut()

                self._later(self.rng.uniform(1, 8), back)
            elif fault == "delay":
                proxy.set_delay(self.rng.uniform(0.05, 0.5))
                self._later(self.rng.uniform(2, 6), lambda: proxy.set_delay(0))
            elif fault == "refuse":
                proxy.refuse(True)
                proxy.cut()
                self._later(self.rng.uniform(1, 5), lambda: proxy.refuse(False))

    def _host_dies(self) -> None:
        """The first broker, the first collector and the database primary SIGKILLed together; the standby
        promoted, the lost node rebuilt as the new standby; the broker and the collector back later."""
        replicated = self.replicated
        assert replicated is not None
        with self._down_lock:
            self._database_down += 1
        lost_at = time.monotonic()
        self.broker.kill()
        self.collectors[0].kill()
        replicated.kill_primary()
        with self._ack_lock:
            self._pressed_since_loss = []
        threading.Thread(target=self._measure_host_recovery, daemon=True).start()

        def promote() -> None:
            replicated.promote()
            self.report.recovery["host-dies: standby promoted"].append(time.monotonic() - lost_at)
            replicated.rejoin()  # until then, the new primary's commits wait for a standby
            self.report.recovery["host-dies: new standby synchronous"].append(time.monotonic() - lost_at)

        def host_back() -> None:
            self.broker.start()
            self.collectors[0].start()

        self._later(PROMOTE_AFTER_S, promote)
        self._later(HOST_BACK_AFTER_S, host_back)

    def _measure_host_recovery(self) -> None:
        """Seconds from a host's loss until a vote pressed after it is stored: the kiosks failed over, the
        standby promoted, the collectors on the new primary."""
        started = time.monotonic()
        engine = make_engine(self.url, connect_timeout_s=2)
        try:
            while time.monotonic() - started < 120:
                with self._ack_lock:
                    pressed = [uuid.UUID(i) for i in self._pressed_since_loss or []]
                if pressed:
                    try:
                        with engine.connect() as conn:
                            found = conn.execute(select(func.count()).select_from(Vote)
                                                 .where(Vote.id.in_(pressed))).scalar_one()
                    except Exception:  # the database still recovering: try again
                        found = 0
                    if found:
                        self.report.recovery["host-dies"].append(time.monotonic() - started)
                        return
                time.sleep(0.2)
            _LOG.error("no vote pressed after the host's loss stored within 120 s")
        finally:
            engine.dispose()
            with self._ack_lock:
                self._pressed_since_loss = None
            with self._down_lock:
                self._database_down -= 1

    def _database_fault(self, fault: str) -> None:
        cluster = self.cluster
        assert cluster is not None
        with self._down_lock:
            self._database_down += 1

        def ended() -> None:
            threading.Thread(target=self._measure_recovery, args=(fault,), daemon=True).start()

        if fault == "pg-kill":
            cluster.kill()

            def restart() -> None:
                cluster.restart()
                ended()

            self._later(self.rng.uniform(0.5, 5), restart)
        elif fault == "pg-freeze":
            cluster.freeze(True)

            def thaw() -> None:
                cluster.freeze(False)
                ended()

            self._later(self.rng.uniform(5, 20), thaw)
        else:  # pg-terminate: every backend of the collectors' database ended, the server stays up
            admin = make_engine(self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.exec_driver_sql(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (self.url.rsplit("/", 1)[1],))
            finally:
                admin.dispose()
            ended()

    def _measure_recovery(self, fault: str) -> None:
        """Seconds from the database being back (or, for host-dies, from the loss) until the collectors store a
        vote again."""
        started = time.monotonic()
        engine = make_engine(self.url, connect_timeout_s=2)
        try:
            before = None
            while time.monotonic() - started < 120:
                try:
                    with engine.connect() as conn:
                        count = conn.exec_driver_sql("SELECT COUNT(*) FROM votes").scalar_one()
                except Exception:  # still recovering: try again
                    time.sleep(0.2)
                    continue
                if before is None:
                    before = count
                elif count > before:
                    self.report.recovery[fault].append(time.monotonic() - started)
                    return
                time.sleep(0.2)
            _LOG.error("no vote stored within 120 s of the end of %s", fault)
        finally:
            engine.dispose()
            with self._down_lock:
                self._database_down -= 1

    def heal(self) -> None:
        for timer in self._timers:
            timer.join()  # every restart scheduled has happened
        if self.cluster is not None:
            self.cluster.freeze(False)
        if not self.broker.running:
            self.broker.start()
        if self.second_broker is not None and not self.second_broker.running:
            self.second_broker.start()
        for proc in self.collectors:
            if proc.proc is None or proc.proc.poll() is not None:
                proc.start()
        for proc, proxy in self.fleets:
            proxy.heal()
            if proc.proc is None or proc.proc.poll() is not None:
                proc.start()

    # -- the books -------------------------------------------------------------------------------------------

    def _outbox(self, kiosk_id: str) -> tuple[set[str], int]:
        """Votes recorded on a kiosk's disk, and how many are not yet confirmed."""
        import sqlite3

        path = self.workdir / "kiosks" / kiosk_id / "outbox.sqlite3"
        if not path.exists():
            return set(), 0
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            ids = {row[0] for row in db.execute("SELECT id FROM votes")}
            (pending,) = db.execute("SELECT COUNT(*) FROM votes WHERE confirmed_at IS NULL").fetchone()
        finally:
            db.close()
        return ids, int(pending)

    def _stored(self) -> tuple[dict[str, list[str]], int]:
        assert self.engine is not None
        stored: dict[str, list[str]] = defaultdict(list)
        with session_factory(self.engine)() as session:
            for kiosk_id, vote_id in session.execute(select(Vote.kiosk_id, Vote.id)):
                stored[kiosk_id].append(str(vote_id))
            dup_seq = session.execute(
                select(func.count()).select_from(
                    select(Vote.kiosk_id, Vote.seq).group_by(Vote.kiosk_id, Vote.seq)
                    .having(func.count() > 1).subquery()
                )
            ).scalar_one()
        return stored, int(dup_seq)

    def drain(self, timeout: float) -> bool:
        (self.workdir / "kiosks" / "stop-pressing").touch()
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            pending = sum(self._outbox(k)[1] for k in self.kiosk_ids)
            if pending == 0:
                self.report.drain_seconds = time.monotonic() - started
                return True
            time.sleep(1)
        self.report.drain_seconds = time.monotonic() - started
        return False

    def account(self) -> Report:
        stored, dup_seq = self._stored()
        report = self.report
        for kiosk_id in self.kiosk_ids:
            recorded, _pending = self._outbox(kiosk_id)
            mine = stored.get(kiosk_id, [])
            acked = self.acknowledged.get(kiosk_id, set())
            report.acknowledged += len(acked)
            report.recorded += len(recorded)
            report.stored += len(set(mine))
            report.duplicated += len(mine) - len(set(mine))
            report.lost += len((acked | recorded) - set(mine))
            report.invented += len(set(mine) - recorded)
        report.duplicated += dup_seq
        if self.cluster is not None:
            report.deadlocks = self.cluster.deadlocks()
        return report

    def close(self) -> None:
        for proc, proxy in self.fleets:
            proc.stop()
            proxy.stop()
        for proc in self.collectors:
            proc.stop()
        self.broker.stop()
        if self.second_broker is not None:
            self.second_broker.stop()
        if self.engine is not None:
            self.engine.dispose()


def run(seconds: float, kiosks: int, postgres_url: str, workdir: Path, seed: int = 1,
        mean_fault_interval: float = 4.0, cluster: ThrowAwayPostgres | None = None,
        replicated: ReplicatedPostgres | None = None) -> Report:
    """The soak; with ``cluster`` (the PostgreSQL that ``postgres_url`` is on), database faults too; with
    ``replicated`` (a primary and its standby, ``postgres_url`` naming both), the --ha topology and host-dies."""
    soak = Soak(workdir, postgres_url, kiosks, seed, cluster, replicated)
    try:
        soak.start()
        soak.collectors_ready()
        started = time.monotonic()
        time.sleep(3)  # let everyone connect before the first blow
        while time.monotonic() - started < seconds:
            time.sleep(soak.rng.expovariate(1 / mean_fault_interval))
            soak.inject()
        soak.report.seconds = time.monotonic() - started
        soak.heal()
        drained = soak.drain(timeout=max(120.0, seconds))
        report = soak.account()
        if not drained:
            _LOG.error("the fleet did not drain in time")
        return report
    finally:
        soak.close()


def run_with_own_database(seconds: float, kiosks: int, seed: int, workdir: Path | None = None) -> Report:
    """The soak on a PostgreSQL cluster of its own, which it kills, freezes and cuts off as well."""
    cluster = ThrowAwayPostgres()
    try:
        admin_url = cluster.start()
        url = admin_url.rsplit("/", 1)[0] + "/borne_soak"
        admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE borne_soak")
        admin.dispose()
        if workdir is not None:
            return run(seconds, kiosks, url, workdir, seed=seed, cluster=cluster)
        with tempfile.TemporaryDirectory(prefix="borne-soak-") as tmp:
            return run(seconds, kiosks, url, Path(tmp), seed=seed, cluster=cluster)
    finally:
        cluster.freeze(False)
        cluster.stop()


def run_replicated(seconds: float, kiosks: int, seed: int, workdir: Path | None = None,
                   mean_fault_interval: float = 4.0) -> Report:
    """The --ha soak, on a primary and a synchronous standby of its own."""
    replicated = ReplicatedPostgres()
    try:
        replicated.start()
        admin = make_engine(replicated.node_url(replicated.primary), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE borne_soak")
        admin.dispose()
        url = replicated.url_for("borne_soak")
        if workdir is not None:
            return run(seconds, kiosks, url, workdir, seed=seed, replicated=replicated,
                       mean_fault_interval=mean_fault_interval)
        with tempfile.TemporaryDirectory(prefix="borne-soak-") as tmp:
            return run(seconds, kiosks, url, Path(tmp), seed=seed, replicated=replicated,
                       mean_fault_interval=mean_fault_interval)
    finally:
        replicated.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.soak.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--kiosks", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-url", default=os.environ.get("BORNE_TEST_POSTGRES_URL"))
    parser.add_argument("--ha", action="store_true", help="two brokers and a primary with a synchronous standby "
                                                           "of its own; the host-dies fault")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from devtools.databases import postgres_server

    if args.ha:
        report = run_replicated(args.seconds, args.kiosks, args.seed)
    elif args.postgres_url:  # a server of someone else's: no database faults
        with postgres_server(args.postgres_url) as server:
            url = server.create_database()
            try:
                with tempfile.TemporaryDirectory(prefix="borne-soak-") as tmp:
                    report = run(args.seconds, args.kiosks, url, Path(tmp), seed=args.seed)
            finally:
                server.drop_database(url)
    else:
        report = run_with_own_database(args.seconds, args.kiosks, args.seed)
    print("\n".join(report.lines()))
    if args.json:
        data = {k: v for k, v in report.__dict__.items() if k not in ("faults", "recovery")}
        args.json.write_text(json.dumps({**data, "faults": dict(report.faults), "recovery": dict(report.recovery),
                                         "ok": report.ok}, indent=2))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
