"""Shared by the ``borne collector`` modules: the database options, settings and opening the database."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from borne.cli.errors import CliError, requires

_LOG = logging.getLogger(__name__)

def settings_from(**overrides: Any) -> Any:
    with requires("collector"):
        from collector.config import Settings
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def say_database(url: str) -> None:
    """Which database a command opens (on stderr, its password hidden): a wrong --data-dir shows at once."""
    from collector.db.engine import redact_url

    typer.echo(f"database: {redact_url(url)}", err=True)


def open_db(database_url: str | None, data_dir: Path | None) -> Any:
    """Settings and a sessionmaker on the configured database, its schema in place."""
    with requires("collector"):
        from collector.db.engine import engine_for, session_factory
        from collector.db.migrate import SchemaOutdated, ensure_current
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    say_database(settings.effective_database_url)
    engine = engine_for(settings)
    try:
        ensure_current(engine)
    except SchemaOutdated as exc:
        raise CliError(str(exc)) from None
    return session_factory(engine)


DatabaseOpt = typer.Option(None, "--database-url", envvar="BORNE_DATABASE_URL", help="SQLAlchemy URL.")
DataDirOpt = typer.Option(None, "--data-dir", envvar="BORNE_DATA_DIR", help="Folder of the SQLite file.")
