"""``borne collector espaces``: espaces: add, import, list."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from borne.cli.collector._common import DatabaseOpt, DataDirOpt, open_db
from borne.cli.errors import CliError

_LOG = logging.getLogger(__name__)

espaces_app = typer.Typer(no_args_is_help=True, help="Espaces: add, import, list.")


@espaces_app.command("add")
def espaces_add(
    espace_id: str, name: str, departement: str,
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Add (or rename) one espace."""
    from collector.registry.espaces import add_espace
    from collector.registry.geography import UnknownDepartement

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            espace = add_espace(session, espace_id, name, departement)
        except UnknownDepartement as exc:
            raise CliError(str(exc), 2) from None
        typer.echo(f"espace {espace.id}: {espace.name} ({espace.departement}, région {espace.region})")

@espaces_app.command("import")
def espaces_import(
    source: str = typer.Argument(..., help="The ANCT list (liste-fs-*.csv): a path or an http(s) URL."),
    close_missing: bool = typer.Option(True, "--close-missing/--no-close",
                                       help="Close the espaces the list no longer holds."),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Import (upsert) the ANCT list of France services; bad rows are reported and the rest imported."""
    from rich.progress import Progress

    from collector.registry.espaces_import import ImportFailed, import_espaces

    sessions = open_db(database_url, data_dir)
    with Progress(transient=True) as bar, sessions() as session, session.begin():
        task = bar.add_task("importing espaces", total=None)
        try:
            report = import_espaces(session, source, close_missing=close_missing,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total))
        except ImportFailed as exc:
            raise CliError(str(exc), 2) from None
    for bad in report.bad:
        typer.echo(f"line {bad.line}: {bad.reason} (id_fs {bad.id_fs or '-'})", err=True)
    typer.echo(report.summary())


@espaces_app.command("list")
def espaces_list(
    departement: str = typer.Option(None, "--departement"), closed: bool = typer.Option(False, "--closed"),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Espaces (open ones, or closed ones with --closed), optionally of one département."""
    from sqlalchemy import select

    from collector.db.models import Espace

    sessions = open_db(database_url, data_dir)
    query = select(Espace).order_by(Espace.departement, Espace.id)
    query = query.where(Espace.closed_at.is_not(None) if closed else Espace.closed_at.is_(None))
    if departement:
        query = query.where(Espace.departement == departement.upper().zfill(2))
    with sessions() as session:
        for e in session.scalars(query):
            typer.echo(f"{e.id}\t{e.departement}\t{e.region}\t{e.kind}\t{e.format or '-'}\t{e.name}")
