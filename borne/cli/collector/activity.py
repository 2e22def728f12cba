"""``borne collector activity``: acts carried out (participation's denominator)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from borne.cli.collector._common import DatabaseOpt, DataDirOpt, open_db
from borne.cli.errors import CliError

_LOG = logging.getLogger(__name__)

activity_app = typer.Typer(no_args_is_help=True, help="Acts carried out (participation's denominator).")


@activity_app.command("import")
def activity_import(
    source: str = typer.Argument(..., help="espace_id,month,actes CSV, or the barometer's IND-323 CSV."),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Import acts carried out per espace and month, or per département (IND-323)."""
    from collector.registry.activity import import_activity
    from collector.registry.espaces_import import ImportFailed

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            report = import_activity(session, source)
        except ImportFailed as exc:
            raise CliError(str(exc), 2) from None
    for bad in report.bad:
        typer.echo(f"line {bad.line}: {bad.reason}", err=True)
    typer.echo(report.summary())
