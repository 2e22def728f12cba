"""KPIs for the programme's staff: satisfaction, ranking, breakdown, heatmap, participation, and IND-246.

Every endpoint needs a bearer token (401 without one) and answers 403 outside the user's scope. Each takes
``level`` (espace, departement, region, national) and ``code``, a period of local days ``[from, to)``, and
``format`` (json, csv or parquet). Figures come from rollups only (``collector.kpi``); definitions in
``docs/kpi.md``.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field, TypeAdapter

from collector.api.deps import CurrentUser, SessionDep, ensure_scope, require_role
from collector.auth import Level, Role
from collector.kpi import barometer, indicators
from collector.kpi.export import MEDIA_TYPES, ExportFormat, records, to_bytes
from collector.kpi.selection import Selection, SelectionError, UnknownEspace
from collector.kpi.stats import Granularity

_LOG = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/kpi", tags=["kpi"])

_FILES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MEDIA_TYPES[ExportFormat.CSV]: {}, MEDIA_TYPES[ExportFormat.PARQUET]: {}},
          "description": "JSON, or a CSV or Parquet file with `format=csv|parquet`."},
    401: {"description": "No valid API token."},
    403: {"description": "Outside the token's scope."},
}


def kpi_selection(
    session: SessionDep,
    user: CurrentUser,
    level: Annotated[Level, Query(description="espace, departement, region or national.")] = Level.NATIONAL,
    code: Annotated[str | None, Query(description="Espace id (id_fs), département (22, 2A, 971) or région "
                                                  "(53) code; none for national.")] = None,
    start: Annotated[date | None, Query(alias="from", description="First local day (inclusive).")] = None,
    end: Annotated[date | None, Query(alias="to", description="Local day after the last (exclusive).")] = None,
    include_misuse: Annotated[bool, Query(description="Count misuse-flagged votes too.")] = False,
    espace_format: Annotated[str | None, Query(description="Only espaces of this format: fixed, bus, "
                                                           "itinerant.")] = None,
    kind: Annotated[str | None, Query(description="Only Principal or Antenne espaces.")] = None,
) -> Selection:
    """The selection of a KPI request, checked against the user's scope."""
    try:
        selection = Selection.make(None, level, code, start=start, end=end, include_misuse=include_misuse,
                                   espace_format=espace_format, kind=kind)
        ensure_scope(session, user, selection.level, selection.code)
        return Selection.make(session, level, selection.code, start=start, end=end, include_misuse=include_misuse,
                              espace_format=espace_format, kind=kind)
    except UnknownEspace as exc:
        raise HTTPException(404, str(exc)) from None
    except SelectionError as exc:
        raise HTTPException(422, str(exc)) from None


SelectionDep = Annotated[Selection, Depends(kpi_selection)]
FormatQuery = Annotated[ExportFormat, Query(description="json, csv or parquet.")]


class KpiRow(BaseModel):
    period: date | None = Field(None, description="First day of the period (absent for the whole period).")
    votes: int
    satisfied: int
    rate: float | None = Field(description="Satisfied answers / votes (0-1).")
    wilson_low: float | None = Field(description="Lower bound of the 95 % Wilson interval of the rate.")
    wilson_high: float | None
    index: float | None = Field(description="0-100 index: answers weighted evenly across the scale.")
    followup_asked: int = Field(description="Votes where the follow-up question was shown.")
    followup_yes: int
    followup_no: int
    resolution_rate: float | None = Field(description="yes / (yes + no) to the follow-up question.")
    attained: bool | None = Field(description="Whether the rate reached the target.")
    complete: bool | None = Field(None, description="Whether the period is over (absent for the whole period); "
                                                    "a period not over is left out of the trend.")


class SatisfactionKpi(BaseModel):
    level: Level
    code: str | None
    zone_id: str | None
    start: date | None = Field(serialization_alias="from")
    end: date | None = Field(serialization_alias="to")
    granularity: Granularity
    include_misuse: bool
    target: float = Field(description="Target, in %.")
    total: KpiRow
    series: list[KpiRow]
    trend_pp_per_period: float | None = Field(description="Least-squares slope of the rate, in points a calendar "
                                                          "period, over the complete periods.")


class RankedEspace(BaseModel):
    rank: int
    espace_id: str
    name: str
    departement: str
    region: str
    votes: int
    satisfied: int
    rate: float | None
    wilson_low: float | None
    wilson_high: float | None
    index: float | None


class ZonePart(BaseModel):
    code: str = Field(description="Région code, département code or espace id (id_fs), as ``by`` asks.")
    votes: int
    satisfied: int
    rate: float | None
    wilson_low: float | None
    wilson_high: float | None
    index: float | None


class HeatCell(BaseModel):
    weekday: int = Field(description="0 = Monday ... 6 = Sunday, local.")
    hour: int = Field(description="Local hour, 0-23.")
    votes: int
    satisfied: int
    rate: float | None
    wilson_low: float | None
    wilson_high: float | None
    index: float | None


class ParticipationRow(BaseModel):
    period: date
    votes: int
    actes: float | None = Field(description="Acts carried out (none if no figure was imported).")
    participation: float | None = Field(description="Votes per act.")


def _file(frame: pd.DataFrame, fmt: ExportFormat, name: str) -> Response:
    extension = "csv" if fmt is ExportFormat.CSV else "parquet"
    return Response(to_bytes(frame, fmt), media_type=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{extension}"'})


@router.get("/satisfaction", response_model=SatisfactionKpi, response_model_by_alias=True, responses=_FILES)
def satisfaction(
    session: SessionDep,
    selection: SelectionDep,
    granularity: Annotated[Granularity, Query(description="day, week, month, quarter or year.")] = Granularity.MONTH,
    target: Annotated[float | None, Query(ge=0, le=100, description="Override the target (%).")] = None,
    format: FormatQuery = ExportFormat.JSON,
) -> Any:
    """Satisfaction rate with its count and 95 % Wilson interval, 0-100 index, follow-up resolution rate and
    target attainment, over the whole period and per period of ``granularity``; and the trend."""
    result = indicators.satisfaction(session, selection, granularity, target)
    if format is not ExportFormat.JSON:
        return _file(result.series, format, f"satisfaction-{selection.zone_id or selection.code}")
    return SatisfactionKpi(
        level=selection.level, code=selection.code, zone_id=selection.zone_id, start=selection.start,
        end=selection.end, granularity=result.granularity, include_misuse=selection.include_misuse,
        target=result.target, total=KpiRow(**result.total), series=[KpiRow(**r) for r in records(result.series)],
        trend_pp_per_period=result.trend_pp,
    )


@router.get("/ranking", response_model=list[RankedEspace], responses=_FILES)
def ranking(
    session: SessionDep,
    selection: SelectionDep,
    by: Annotated[str, Query(pattern="^(wilson_low|rate|index|votes)$",
                             description="Rank by the Wilson lower bound (default), rate, index or votes.")]
    = "wilson_low",
    min_votes: Annotated[int, Query(ge=1, description="Leave out espaces with fewer votes.")] = 1,
    limit: Annotated[int | None, Query(ge=1, le=10000)] = None,
    format: FormatQuery = ExportFormat.JSON,
) -> Any:
    """The espaces of the selection, best first."""
    frame = indicators.ranking(session, selection, by=by, min_votes=min_votes, limit=limit)
    if format is not ExportFormat.JSON:
        return _file(frame, format, "ranking")
    # Written at once by pydantic's core: the rows are the frame's, whose columns are the model's (a test checks
    # it), so the national ranking's 3,000 rows need not be validated again one by one, in a worker thread.
    return Response(_RANKING_JSON.dump_json(records(frame)), media_type="application/json")


_RANKING_JSON: TypeAdapter[list[dict[str, Any]]] = TypeAdapter(list[dict[str, Any]])


@router.get("/breakdown", response_model=list[ZonePart], responses=_FILES)
def breakdown(
    session: SessionDep,
    selection: SelectionDep,
    by: Annotated[str, Query(pattern="^(region|departement|espace)$",
                             description="Split the selection per région, département (default) or "
                                         "espace.")] = "departement",
    format: FormatQuery = ExportFormat.JSON,
) -> Any:
    """The selection's régions, départements or espaces that have votes, each with its satisfaction (what the
    map and the overview show: a hundred départements for the nation, not its 3,000 espaces)."""
    frame = indicators.breakdown(session, selection, by)
    if format is not ExportFormat.JSON:
        return _file(frame, format, f"breakdown-{by}")
    return records(frame)


@router.get("/heatmap", response_model=list[HeatCell], responses=_FILES)
def heatmap(session: SessionDep, selection: SelectionDep, format: FormatQuery = ExportFormat.JSON) -> Any:
    """Votes and satisfaction per local weekday and hour."""
    frame = indicators.heatmap(session, selection)
    if format is not ExportFormat.JSON:
        return _file(frame, format, "heatmap")
    return records(frame)


@router.get("/participation", response_model=list[ParticipationRow], responses=_FILES)
def participation(
    session: SessionDep,
    selection: SelectionDep,
    granularity: Annotated[Granularity, Query(description="month, quarter or year.")] = Granularity.MONTH,
    format: FormatQuery = ExportFormat.JSON,
) -> Any:
    """Votes per act carried out (acts imported with ``borne collector activity import``)."""
    try:
        frame = indicators.participation(session, selection, granularity)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if format is not ExportFormat.JSON:
        return _file(frame, format, "participation")
    return records(frame)


@router.get("/ind-246", responses={200: {"content": {MEDIA_TYPES[ExportFormat.CSV]: {},
                                                  MEDIA_TYPES[ExportFormat.PARQUET]: {}},
                                      "description": "The barometer's CSV (or Parquet with `format=parquet`)."},
                                   401: {"description": "No valid API token."},
                                   403: {"description": "Admins and national partners only."}},
            response_class=Response)
def ind_246(
    session: SessionDep,
    user: Annotated[Any, Depends(require_role(Role.ADMIN, Role.NATIONAL))],
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    granularity: Granularity = Granularity.MONTH,
    initial: Annotated[float, Query(description="indic_vi; the published IND-246 starts at 0.0.")] = 0.0,
    format: Annotated[ExportFormat, Query(description="csv (default) or parquet.")] = ExportFormat.CSV,
) -> Response:
    """IND-246 for every département, région and France, in the barometer's open-data format."""
    frame = barometer.ind246(session, start, end, granularity=granularity, initial=initial)
    if format is ExportFormat.PARQUET:
        return _file(frame, format, "ind-246")
    return Response(barometer.to_csv(frame), media_type=MEDIA_TYPES[ExportFormat.CSV],
                    headers={"Content-Disposition": 'attachment; filename="ind-246.csv"'})
