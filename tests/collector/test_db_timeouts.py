"""A database that hangs becomes an error, not a thread stuck for ever: connect and statement timeouts."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from collector.config import Settings
from collector.db.engine import engine_for, make_engine


def test_a_statement_past_the_timeout_is_cancelled(postgres_url: str) -> None:
    engine = make_engine(postgres_url, statement_timeout_s=0.5)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "500ms"
            with pytest.raises(OperationalError, match="statement timeout"):
                conn.execute(text("SELECT pg_sleep(5)"))
    finally:
        engine.dispose()


def test_settings_reach_the_engine(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url, database_statement_timeout_s=2.5)
    engine = engine_for(settings)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "2500ms"
    finally:
        engine.dispose()


def test_a_server_that_never_answers_fails_the_connection() -> None:
    # A socket that listens and never speaks: the TCP handshake completes (the kernel's backlog), then nothing,
    # as with a PostgreSQL frozen by SIGSTOP.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        engine = make_engine(f"postgresql+psycopg://borne@127.0.0.1:{port}/borne", connect_timeout_s=2)
        started = time.monotonic()
        with pytest.raises(OperationalError):
            engine.connect()
        # Without a connect timeout, libpq waits for ever; bounded generously, this is not a speed test.
        assert time.monotonic() - started < 30
        engine.dispose()
