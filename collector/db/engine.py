"""Engines and sessions, with the same behaviour on SQLite and PostgreSQL.

On PostgreSQL the URL may name several hosts, as libpq does (``postgresql+psycopg://u@h1:5432,h2:5432/borne?
target_session_attrs=read-write``, or SQLAlchemy's ``...@/borne?host=h1:5432&host=h2:5432&...``): a connection goes
to whichever is the primary, and after a failover the next connection finds the new one
(``docs/deployment.md``).

With a synchronous standby, a commit returns only once the standby holds it. If the wait is cancelled (an
operator's ``pg_cancel_backend``, a server shutting down), PostgreSQL still returns success, with a warning that
the transaction "has already committed locally, but might not have been replicated to the standby": the engine
notes that warning on the connection, and :func:`commit_unreplicated` tells the store, which then acknowledges
nothing (``collector/ingest/store.py``).
"""

from __future__ import annotations

import logging
import re
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


#: The connection's ``info`` key set when PostgreSQL warned that a commit's wait for the standby was cancelled.
_UNREPLICATED = "borne_commit_unreplicated"


def _watch_replication(dbapi_connection: Any, record: Any) -> None:
    info = record.info

    def on_notice(diagnostic: Any) -> None:
        message = diagnostic.message_primary or ""
        if "wait for synchronous replication" in message:
            info[_UNREPLICATED] = True
            _LOG.warning("PostgreSQL: %s (the transaction is committed on the primary only)", message)

    dbapi_connection.add_notice_handler(on_notice)


def forget_replication_warning(connection: Any) -> None:
    """Clear the note of an unreplicated commit on ``connection`` (a pooled DBAPI connection), before a commit."""
    connection.info.pop(_UNREPLICATED, None)


def commit_unreplicated(connection: Any) -> bool:
    """Whether the last commit on ``connection`` returned without its synchronous standby's confirmation
    (its wait cancelled): committed on the primary only, so not to be acknowledged to anyone. Clears the note."""
    return bool(connection.info.pop(_UNREPLICATED, False))


_LIBPQ_HOSTS = re.compile(r"^(?P<scheme>postgresql(?:\+\w+)?://)(?P<user>[^@/]*@)?(?P<hosts>[^/?@]*,[^/?@]*)"
                          r"(?P<rest>/.*)?$")


def multihost_url(url: str) -> str:
    """``url`` with libpq's several hosts (``u@h1:p1,h2:p2/db``) in SQLAlchemy's form (``u@/db?host=h1:p1&host=
    h2:p2``); any other URL unchanged."""
    match = _LIBPQ_HOSTS.match(url)
    if match is None:
        return url
    rest = match["rest"] or "/"
    path, _, query = rest.partition("?")
    hosts = "&".join(f"host={host.strip()}" for host in match["hosts"].split(",") if host.strip())
    return f"{match['scheme']}{match['user'] or ''}{path}?{hosts}{'&' + query if query else ''}"


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
    url = multihost_url(url)
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
        engine = create_engine(url, **kwargs)
        if parsed.get_driver_name() == "psycopg":
            event.listen(engine, "connect", _watch_replication)
        return engine
    return create_engine(url, **kwargs)


def engine_for(settings: Any, **kwargs: Any) -> Engine:
    """The engine a :class:`collector.config.Settings` asks for, with its timeouts."""
    return make_engine(settings.effective_database_url, connect_timeout_s=settings.database_connect_timeout_s,
                       statement_timeout_s=settings.database_statement_timeout_s, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def redact_url(url: str) -> str:
    """The URL as it may be logged: the password masked."""
    return make_url(multihost_url(url)).render_as_string(hide_password=True)
