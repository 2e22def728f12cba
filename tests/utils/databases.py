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
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from collector.broker import free_port, wait_port


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
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True)

    def start(self) -> str:
        data = self.dir / "data"
        self._run(_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self._run(
            _pg_bin("pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-w", "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200 -c shared_buffers=128MB",
            "start",
        )
        if not wait_port("127.0.0.1", self.port, 30):
            raise RuntimeError("the throw-away PostgreSQL did not start")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

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
