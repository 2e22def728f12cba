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
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True)

    @property
    def log(self) -> Path:
        return self.dir / "log"

    def start(self, *, fsync: bool = False) -> str:
        """Create the cluster (the first time) and start it; ``fsync`` for a test that kills it and wants what
        was committed back, as on a real server."""
        data = self.dir / "data"
        if not (data / "PG_VERSION").exists():
            self._run(_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E",
                      "UTF8")
        self._fsync = fsync
        self._run(
            _pg_bin("pg_ctl"), "-D", str(data), "-l", str(self.log), "-w", "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync={'on' if fsync else 'off'} "
            "-c max_connections=200 -c shared_buffers=128MB -c log_lock_waits=on -c deadlock_timeout=1s",
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
        self.start(fsync=self._fsync)

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
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


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
