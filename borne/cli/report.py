"""``borne collector report``: a zone's monthly PDF, and sending every subscribed zone's to its subscribers."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import typer

from borne.cli.errors import CliError

_LOG = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True, help="Monthly reports (PDF), made and e-mailed to their subscribers.")


def _month(text: str | None) -> date:
    """``2026-11`` (or ``2026-11-01``); default: last month, the last complete one."""
    if not text:
        today = date.today()
        return date(today.year - (today.month == 1), 12 if today.month == 1 else today.month - 1, 1)
    try:
        return date.fromisoformat(text + "-01" if len(text) == 7 else text).replace(day=1)
    except ValueError:
        raise CliError(f"--month: {text!r} is not a month like 2026-11", 2) from None


@app.command("pdf")
def pdf(
    level: str = typer.Option("national", help="espace, departement, region or national."),
    code: str = typer.Option(None, help="The zone's code (id_fs, 22, 53); none for national."),
    month: str = typer.Option(None, help="The month, e.g. 2026-11 (default: last month)."),
    output: Path = typer.Option(..., "-o", "--output", help="The PDF file to write."),
    database_url: str = typer.Option(None, "--database-url", envvar="BORNE_DATABASE_URL"),
    data_dir: Path = typer.Option(None, "--data-dir", envvar="BORNE_DATA_DIR"),
) -> None:
    """Write one zone's monthly report."""
    from borne.cli.collector import open_db
    from collector.auth import Level
    from collector.kpi.selection import SelectionError
    from collector.reports.monthly import Zone, build

    chosen = _month(month)
    sessions = open_db(database_url, data_dir)
    try:
        zone = Zone(Level(level), code)
        with sessions() as session:
            body = build(session, zone, chosen)
    except (ValueError, SelectionError) as exc:
        raise CliError(str(exc), 2) from None
    output.write_bytes(body)
    typer.echo(f"{output}: report of {chosen:%Y-%m}, {len(body)} bytes")


@app.command("send")
def send(
    month: str = typer.Option(None, help="The month, e.g. 2026-11 (default: last month)."),
    due: bool = typer.Option(False, "--due", help="Send only if this month's reports were not sent yet (for a "
                                                  "daily schedule: cron or a systemd timer)."),
    database_url: str = typer.Option(None, "--database-url", envvar="BORNE_DATABASE_URL"),
    data_dir: Path = typer.Option(None, "--data-dir", envvar="BORNE_DATA_DIR"),
) -> None:
    """E-mail each subscribed zone's report to its subscribers (BORNE_REPORT_SUBSCRIPTIONS, BORNE_SMTP_*)."""
    from borne.cli.collector import open_db, settings_from
    from collector.reports.mail import ReportSettings, SubscriptionsInvalid
    from collector.reports.schedule import STATE_FILE, send_reports

    chosen = _month(month)
    sessions = open_db(database_url, data_dir)
    state = settings_from(data_dir=data_dir).data_dir / STATE_FILE if due else None
    try:
        sent = send_reports(sessions, ReportSettings(), chosen, state)
    except (SubscriptionsInvalid, OSError) as exc:
        raise CliError(str(exc)) from None
    if not sent:
        typer.echo(f"reports of {chosen:%Y-%m}: already sent")
    for key, recipients in sent.items():
        typer.echo(f"{key}: {', '.join(recipients)}")
