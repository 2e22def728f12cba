"""``borne collector alerts``: alerts: evaluate the rules, list."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from borne.cli.collector._common import DatabaseOpt, DataDirOpt, open_db

_LOG = logging.getLogger(__name__)

alerts_app = typer.Typer(no_args_is_help=True, help="Alerts: evaluate the rules, list.")


@alerts_app.command("check")
def alerts_check(database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Evaluate the alert rules now: raise and clear alerts."""
    from collector.alerts import evaluate

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        result = evaluate(session)
        for alert in result.raised:
            typer.echo(f"raised\t{alert.rule}\t{alert.subject}\t{alert.detail}")
        for alert in result.cleared:
            typer.echo(f"cleared\t{alert.rule}\t{alert.subject}")
    typer.echo(f"{len(result.raised)} raised, {len(result.cleared)} cleared")


@alerts_app.command("list")
def alerts_list(
    open_only: bool = typer.Option(False, "--open"), database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Alerts, newest first, with the time raised and cleared."""
    from sqlalchemy import select

    from collector.db.models import Alert

    sessions = open_db(database_url, data_dir)
    query = select(Alert).order_by(Alert.raised_at.desc()).limit(500)
    if open_only:
        query = query.where(Alert.cleared_at.is_(None))
    with sessions() as session:
        for a in session.scalars(query):
            typer.echo(f"{a.raised_at:%Y-%m-%d %H:%M}\t{a.cleared_at or 'open'}\t{a.rule}\t{a.subject}\t{a.detail}")
