"""``borne collector db``: the database's schema (Alembic): upgrade, current."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from borne.cli.collector._common import DatabaseOpt, DataDirOpt, say_database, settings_from
from borne.cli.errors import requires

_LOG = logging.getLogger(__name__)

db_app = typer.Typer(no_args_is_help=True, help="The database's schema (Alembic).")


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("head"), database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Migrate the database's schema to the latest revision (or to REVISION)."""
    with requires("collector"):
        from collector.db.engine import engine_for, redact_url
        from collector.db.migrate import current_revision, upgrade
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    engine = engine_for(settings)
    before = current_revision(engine)
    upgrade(engine, revision)
    typer.echo(f"{redact_url(settings.effective_database_url)}: {before or 'empty'} -> {current_revision(engine)}")


@db_app.command("current")
def db_current(database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Print the database's schema revision and the code's."""
    with requires("collector"):
        from collector.db.engine import engine_for
        from collector.db.migrate import current_revision, head_revision
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    say_database(settings.effective_database_url)
    engine = engine_for(settings)
    typer.echo(f"database: {current_revision(engine) or 'none'}\ncode:     {head_revision()}")
