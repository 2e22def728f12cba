"""``borne collector rejects``: the messages the collector could not count."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from borne.cli.collector._common import DatabaseOpt, DataDirOpt, open_db

_LOG = logging.getLogger(__name__)

rejects_app = typer.Typer(no_args_is_help=True, help="Messages the collector could not count.")


@rejects_app.command("list")
def rejects_list(
    limit: int = 50, database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """The latest rejected messages, with their reason."""
    from sqlalchemy import select

    from collector.db.models import Reject

    sessions = open_db(database_url, data_dir)
    with sessions() as session:
        for r in session.scalars(select(Reject).order_by(Reject.id.desc()).limit(limit)):
            typer.echo(f"{r.received_at:%Y-%m-%d %H:%M:%S}\t{r.reason}\t{r.kiosk_id or '-'}\t{r.topic}\t"
                       f"{r.detail[:120]}")
