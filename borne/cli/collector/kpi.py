"""``borne collector kpi``: KPIs: exports and targets."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

import typer

from borne.cli.collector._common import DatabaseOpt, DataDirOpt, open_db
from borne.cli.errors import CliError

_LOG = logging.getLogger(__name__)

kpi_app = typer.Typer(no_args_is_help=True, help="KPIs: exports and targets.")


class KpiExport(StrEnum):
    satisfaction = "satisfaction"
    ranking = "ranking"
    breakdown = "breakdown"
    heatmap = "heatmap"
    participation = "participation"
    ind_246 = "ind-246"


@kpi_app.command("export")
def kpi_export(
    what: KpiExport,
    out: Path = typer.Option(..., "--out", "-o", help="The file to write (.csv or .parquet)."),
    level: str = typer.Option("national", "--level", help="espace, departement, region or national."),
    code: str = typer.Option(None, "--code"),
    start: str = typer.Option(None, "--from", help="First local day, YYYY-MM-DD."),
    end: str = typer.Option(None, "--to", help="Day after the last, YYYY-MM-DD."),
    granularity: str = typer.Option("month", "--granularity", help="day, week, month, quarter or year."),
    by: str = typer.Option("departement", "--by", help="breakdown: per region, departement or espace."),
    include_misuse: bool = typer.Option(False, "--include-misuse"),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Write a KPI table as CSV or Parquet (by the file's extension); ind-246 in the barometer's format."""
    from datetime import date

    from collector.kpi import barometer, indicators
    from collector.kpi.export import to_bytes
    from collector.kpi.selection import Selection, SelectionError

    fmt = "parquet" if out.suffix == ".parquet" else "csv"
    try:
        lo = date.fromisoformat(start) if start else None
        hi = date.fromisoformat(end) if end else None
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    sessions = open_db(database_url, data_dir)
    with sessions() as session:
        try:
            if what is KpiExport.ind_246:
                frame = barometer.ind246(session, lo, hi, granularity=granularity, include_misuse=include_misuse)
                data = barometer.to_csv(frame).encode() if fmt == "csv" else to_bytes(frame, fmt)
            else:
                selection = Selection.make(session, level, code, start=lo, end=hi, include_misuse=include_misuse)
                if what is KpiExport.satisfaction:
                    frame = indicators.satisfaction(session, selection, granularity).series
                elif what is KpiExport.ranking:
                    frame = indicators.ranking(session, selection)
                elif what is KpiExport.breakdown:
                    frame = indicators.breakdown(session, selection, by)
                elif what is KpiExport.heatmap:
                    frame = indicators.heatmap(session, selection)
                else:
                    frame = indicators.participation(session, selection, granularity)
                data = to_bytes(frame, fmt)
        except (SelectionError, ValueError) as exc:
            raise CliError(str(exc), 2) from None
    out.write_bytes(data)
    typer.echo(f"{what.value}: {len(frame)} rows written to {out}")


@kpi_app.command("target")
def kpi_target(
    level: str = typer.Argument(..., help="espace, departement, region or national."),
    target: float = typer.Argument(..., help="In %, e.g. 95."),
    code: str = typer.Option(None, "--code", help="One zone of the level; all of them without it."),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Set the satisfaction target of a level, or of one zone of it (default 95 %)."""
    from collector.kpi.targets import set_target

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            set_target(session, level, code, target)
        except ValueError as exc:
            raise CliError(str(exc), 2) from None
    typer.echo(f"target of {level} {code or '(all)'}: {target:g} %")
