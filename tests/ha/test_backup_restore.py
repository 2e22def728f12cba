"""The deployment's backup and restore scripts (deploy/postgresql/backup.sh, restore.sh), run for real.

A database with votes on a primary and its synchronous standby, backed up through the multi-host URI that the
national deployment uses, restored into an empty database: the same votes and rollups. A restore into a database
that has tables is refused.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import create_engine, text

from collector.ingest.store import Store
from devtools.builders import migrated_engine, register
from devtools.databases import DEPLOY_POSTGRESQL, ReplicatedPostgres
from tests.ha.test_sync_standby import FLEET, _message


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as libpq's URI (what the scripts take)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _counts(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            votes = conn.execute(text("SELECT count(*) FROM votes")).scalar_one()
            rolled = conn.execute(text("SELECT coalesce(sum(votes), 0) FROM rollup_daily")).scalar_one()
        return int(votes), int(rolled)
    finally:
        engine.dispose()


def test_a_backup_restores_every_vote(replicated: ReplicatedPostgres, tmp_path: Path) -> None:
    admin = create_engine(replicated.node_url(replicated.primary), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE borne"))
        conn.execute(text("CREATE DATABASE borne_restored"))
    admin.dispose()
    engine = migrated_engine(replicated.url_for("borne"))
    register(engine, FLEET)
    Store(engine).ingest([_message(5), _message(7)])
    engine.dispose()
    both_hosts = (f"postgresql://postgres@127.0.0.1:{replicated.nodes[0].port},127.0.0.1:{replicated.nodes[1].port}"
                  "/borne?target_session_attrs=read-write")

    backup = subprocess.run(["bash", str(DEPLOY_POSTGRESQL / "backup.sh"), both_hosts, str(tmp_path / "backups")],
                            check=True, capture_output=True, text=True)
    dump = Path(backup.stdout.strip())
    assert dump.is_file() and dump.stat().st_mode & 0o077 == 0  # private: it holds password hashes

    target = replicated.node_url(replicated.primary).rsplit("/", 1)[0] + "/borne_restored"
    restore = subprocess.run(["bash", str(DEPLOY_POSTGRESQL / "restore.sh"), str(dump), _libpq(target)],
                             check=True, capture_output=True, text=True)
    assert "12 votes" in restore.stdout
    assert _counts(target) == _counts(replicated.url_for("borne")) == (12, 12)

    again = subprocess.run(["bash", str(DEPLOY_POSTGRESQL / "restore.sh"), str(dump), _libpq(target)],
                           capture_output=True, text=True)
    assert again.returncode != 0 and "restore into an empty one" in again.stderr
