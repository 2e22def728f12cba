"""Engines and sessions, with the same behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_LOG = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a message is acknowledged to the broker only after its commit is on disk.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


#: How long opening a connection to PostgreSQL may take before it fails (a host gone, a frozen server).
CONNECT_TIMEOUT_S = 5.0
#: How long one statement may run on PostgreSQL; the server cancels it beyond. 0: no limit (migrations).
STATEMENT_TIMEOUT_S = 60.0


def make_engine(url: str, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                statement_timeout_s: float = STATEMENT_TIMEOUT_S, **kwargs: Any) -> Engine:
    """An engine for ``url``; an SQLite file's folder is created, and WAL and foreign keys switched on.

    On PostgreSQL, a connection that cannot be opened within ``connect_timeout_s`` fails instead of hanging, and
    a statement running longer than ``statement_timeout_s`` is cancelled by the server: a database that hangs
    becomes an error the collector reports and retries, not a thread stuck for ever.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if parsed.get_backend_name() == "postgresql":
        connect_args = dict(kwargs.pop("connect_args", {}))
        # libpq takes whole seconds, and treats 1 as 2.
        connect_args.setdefault("connect_timeout", max(2, round(connect_timeout_s)))
        if statement_timeout_s > 0:
            connect_args.setdefault("options", f"-c statement_timeout={int(statement_timeout_s * 1000)}")
        kwargs["connect_args"] = connect_args
    return create_engine(url, **kwargs)


def engine_for(settings: Any, **kwargs: Any) -> Engine:
    """The engine a :class:`collector.config.Settings` asks for, with its timeouts."""
    return make_engine(settings.effective_database_url, connect_timeout_s=settings.database_connect_timeout_s,
                       statement_timeout_s=settings.database_statement_timeout_s, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def redact_url(url: str) -> str:
    """The URL as it may be logged: the password masked."""
    return make_url(url).render_as_string(hide_password=True)
