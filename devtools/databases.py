"""Real databases for the tests: SQLite files, and PostgreSQL.

PostgreSQL is the server named by ``BORNE_TEST_POSTGRES_URL`` when it is set (for example
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``); otherwise a throw-away cluster that these tests
start with ``initdb`` and ``pg_ctl`` in a temporary folder, on a free port, and stop at the end. Each test gets
a database of its own.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from collector.broker.mosquitto import free_port, wait_port

#: The database hosts' scripts (promotion, a new standby), which ReplicatedPostgres runs as an operator would.
DEPLOY_POSTGRESQL = Path(__file__).resolve().parents[1] / "deploy" / "postgresql"


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"PostgreSQL's {name} not found: install the postgresql package (make test does)")
    return candidates[-1]


class ThrowAwayPostgres:
    """A PostgreSQL cluster in a temporary folder; as root, it runs as the ``postgres`` user."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="borne-pg-"))
        self.port = free_port()
        self._as: list[str] = []
        self._fsync = False
        self._options = ""
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, env: dict[str, str] | None = None) -> None:
        try:
            subprocess.run([*self._as, *args], check=True, capture_output=True,
                           env={**os.environ, **env} if env else None)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"{' '.join(args)} failed: {exc.stderr.decode(errors='replace')[-2000:]}") from exc

    @property
    def log(self) -> Path:
        return self.dir / "log"

    def start(self, *, fsync: bool = False, options: str = "") -> str:
        """Create the cluster (the first time) and start it; ``fsync`` for a test that kills it and wants what
        was committed back, as on a real server; ``options``: more ``-c name=value`` for the server."""
        data = self.dir / "data"
        if not (data / "PG_VERSION").exists():
            self._run(_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E",
                      "UTF8")
        self._fsync = fsync
        self._options = options
        self._run(
            _pg_bin("pg_ctl"), "-D", str(data), "-l", str(self.log), "-w", "-t", "120", "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync={'on' if fsync else 'off'} "
            "-c max_connections=200 -c shared_buffers=128MB -c log_lock_waits=on -c deadlock_timeout=1s "
            + options,
            "start",
        )
        if not wait_port("127.0.0.1", self.port, 30):
            raise RuntimeError("the throw-away PostgreSQL did not start")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    # -- faults, for the chaos soak ----------------------------------------------------------------------------

    def _postmaster(self) -> int | None:
        try:
            return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _processes(self) -> list[int]:
        """The postmaster and its children (every backend and helper process)."""
        import psutil

        pid = self._postmaster()
        if pid is None:
            return []
        try:
            main = psutil.Process(pid)
            return [pid, *(child.pid for child in main.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """SIGKILL of the postmaster and every backend, as a power cut or the OOM killer would."""
        for pid in self._processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self._alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _alive(self) -> bool:
        pid = self._postmaster()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def restart(self) -> None:
        """Start again after :meth:`kill` (PostgreSQL recovers from its WAL)."""
        self.start(fsync=self._fsync, options=self._options)

    def freeze(self, frozen: bool) -> None:
        """SIGSTOP (or SIGCONT) every process of the cluster: connections stay open, nothing answers."""
        for pid in self._processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def deadlocks(self) -> int:
        """How many deadlocks the server's log reports."""
        try:
            return self.log.read_text(errors="replace").count("deadlock detected")
        except OSError:
            return 0

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


#: The settings of both nodes of :class:`ReplicatedPostgres`, as in ``deploy/postgresql/borne-ha.conf`` (PostgreSQL
#: 15's defaults already give ``wal_level=replica``, WAL senders and hot standby): every commit waits for the
#: standby's flush (any standby: the one that is not the primary). Set with ``ALTER SYSTEM``, so that an operator's
#: ``ALTER SYSTEM`` (the degraded mode) can change them, and copied to the standby by ``pg_basebackup``.
_REPLICATION_SETTINGS = {"synchronous_standby_names": "*", "synchronous_commit": "on", "wal_keep_size": "256MB"}


class ReplicatedPostgres:
    """A primary and a synchronous standby on this machine, as the national deployment's two database hosts.

    Both run with ``fsync`` on and ``synchronous_standby_names='*'``: a commit returns once the standby has
    flushed its WAL. :attr:`url` names both hosts with ``target_session_attrs=read-write``, so that a client
    reaches whichever is the primary. :meth:`kill_primary` is the primary's host dying; :meth:`promote` the
    operator's promotion of the standby (``deploy/postgresql/promote.sh``); :meth:`rejoin` rebuilds the lost
    node as the new primary's standby (``deploy/postgresql/standby.sh``), as a replaced host would be.
    """

    def __init__(self) -> None:
        self.nodes = [ThrowAwayPostgres(), ThrowAwayPostgres()]
        self.primary_index = 0

    @property
    def primary(self) -> ThrowAwayPostgres:
        return self.nodes[self.primary_index]

    @property
    def standby(self) -> ThrowAwayPostgres:
        return self.nodes[1 - self.primary_index]

    @property
    def url(self) -> str:
        """Both hosts, the primary found by libpq (``target_session_attrs=read-write``)."""
        hosts = "&".join(f"host=127.0.0.1:{node.port}" for node in self.nodes)
        return f"postgresql+psycopg://postgres@/postgres?{hosts}&target_session_attrs=read-write"

    def url_for(self, database: str) -> str:
        """:attr:`url` for another database of the pair."""
        return self.url.replace("@/postgres?", f"@/{database}?")

    def node_url(self, node: ThrowAwayPostgres) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{node.port}/postgres"

    def start(self) -> str:
        """Start the primary, clone it into the standby, start the standby, wait until it is synchronous."""
        self.primary.start(fsync=True)
        self._set_on_primary(_REPLICATION_SETTINGS)
        self._clone_into(self.standby)
        self.wait_synchronous()
        return self.url

    def _clone_into(self, node: ThrowAwayPostgres) -> None:
        data = node.dir / "data"
        shutil.rmtree(data, ignore_errors=True)
        name = f"node{self.nodes.index(node)}"
        node._run("bash", str(DEPLOY_POSTGRESQL / "standby.sh"), "127.0.0.1", str(data), str(self.primary.port),
                  env={"REPLICATION_USER": "postgres", "PGSSLMODE": "disable"})
        node.start(fsync=True, options=f"-c cluster_name={name}")

    def _set_on_primary(self, settings: dict[str, str]) -> None:
        engine = create_engine(self.node_url(self.primary), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for name, value in settings.items():
                    conn.execute(text(f"ALTER SYSTEM SET {name} = '{value}'"))
                conn.execute(text("SELECT pg_reload_conf()"))
        finally:
            engine.dispose()

    def run_alone(self) -> None:
        """The documented degraded mode: the primary stops waiting for a standby (commits on one host only)."""
        self._set_on_primary({"synchronous_standby_names": ""})

    def wait_synchronous(self, timeout: float = 60) -> None:
        """Wait until the primary reports a synchronous standby streaming."""
        engine = create_engine(self.node_url(self.primary), isolation_level="AUTOCOMMIT")
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    state = conn.execute(text("SELECT count(*) FROM pg_stat_replication "
                                              "WHERE sync_state = 'sync' AND state = 'streaming'")).scalar()
                if state:
                    return
                time.sleep(0.1)
        finally:
            engine.dispose()
        raise RuntimeError("the standby did not become synchronous")

    def kill_primary(self) -> None:
        """SIGKILL of the primary and all its processes: its host is lost."""
        self.primary.kill()

    def promote(self, timeout: float = 60) -> None:
        """Promote the standby (``pg_ctl promote``, waiting until it accepts writes): it is the primary now."""
        node = self.standby
        node._run("bash", str(DEPLOY_POSTGRESQL / "promote.sh"), str(node.dir / "data"),
                  env={"PG_BIN": str(Path(_pg_bin("pg_ctl")).parent), "PROMOTE_TIMEOUT_S": str(int(timeout))})
        self.primary_index = 1 - self.primary_index

    def rejoin(self) -> None:
        """Rebuild the lost node as the standby of the current primary (a replaced host), back to synchronous
        replication; wait until it is."""
        node = self.standby
        node.kill()
        self._clone_into(node)
        self._set_on_primary(_REPLICATION_SETTINGS)
        self.wait_synchronous()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class PostgresServer:
    """Hands out fresh databases on one server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def create_database(self) -> str:
        name = f"borne_test_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self._admin.dispose()


@contextlib.contextmanager
def postgres_server(url: str | None = None) -> Iterator[PostgresServer]:
    """The server at ``url`` (default ``BORNE_TEST_POSTGRES_URL``), or a throw-away cluster (fsync off), removed
    afterwards."""
    url = url or os.environ.get("BORNE_TEST_POSTGRES_URL")
    cluster = None if url else ThrowAwayPostgres()
    server = PostgresServer(url or cluster.start())  # type: ignore[union-attr]
    try:
        yield server
    finally:
        server.close()
        if cluster is not None:
            cluster.stop()
