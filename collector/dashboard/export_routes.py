"""``GET /dashboard/api/export/{view}``: the table behind a dashboard view, as a French CSV or an XLSX.

The same token, scope and figures as the API: the KPI views take the API's checked selection
(``collector.api.routes.kpi.kpi_selection``, 401/403 as there), the fleet and the alerts the API's own lists.
The pages' « Télécharger » buttons fetch these with the token in a header and save the answer.
"""

from __future__ import annotations

import enum
import logging
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from collector.api.deps import CurrentUser, SessionDep
from collector.api.routes.alerts import list_alerts
from collector.api.routes.kiosks import list_kiosks
from collector.api.routes.kpi import SelectionDep
from collector.auth import Level, Role
from collector.dashboard import sheets
from collector.dashboard.exports import Sheet, to_csv, to_xlsx
from collector.kpi.stats import Granularity

_LOG = logging.getLogger(__name__)

router = APIRouter(prefix="/dashboard/api/export", include_in_schema=False)


class FileFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


MEDIA = {FileFormat.CSV: "text/csv; charset=utf-8",
         FileFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
FormatQuery = Annotated[FileFormat, Query(description="csv (French spreadsheets) or xlsx.")]


def _file(sheet: Sheet, fmt: FileFormat) -> Response:
    body = to_csv(sheet) if fmt is FileFormat.CSV else to_xlsx(sheet)
    return Response(body, media_type=MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="{sheet.name(fmt.value)}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/satisfaction")
def satisfaction(session: SessionDep, selection: SelectionDep, granularity: Granularity = Granularity.MONTH,
                 format: FormatQuery = FileFormat.CSV) -> Response:
    return _file(sheets.satisfaction(session, selection, granularity.value), format)


@router.get("/classement")
def ranking(session: SessionDep, selection: SelectionDep,
            by: Annotated[str, Query(pattern="^(wilson_low|rate|index|votes)$")] = "wilson_low",
            min_votes: Annotated[int, Query(ge=1)] = 1, format: FormatQuery = FileFormat.CSV) -> Response:
    return _file(sheets.ranking(session, selection, by, min_votes), format)


@router.get("/affluence")
def heatmap(session: SessionDep, selection: SelectionDep, format: FormatQuery = FileFormat.CSV) -> Response:
    return _file(sheets.heatmap(session, selection), format)


@router.get("/carte")
def departements(session: SessionDep, selection: SelectionDep, format: FormatQuery = FileFormat.CSV) -> Response:
    return _file(sheets.departements(session, selection), format)


def _scope_name(session: SessionDep, user: CurrentUser) -> str:
    if user.role is Role.PREFECTURE:
        return sheets.zone_name(session, Level.DEPARTEMENT, user.scope)
    if user.role is Role.AGENT:
        return sheets.zone_name(session, Level.ESPACE, user.scope)
    return "France entière"


@router.get("/parc")
def fleet(session: SessionDep, user: CurrentUser,
          state: Annotated[str | None, Query(pattern="^(online|offline|unknown|)$")] = None,
          format: FormatQuery = FileFormat.CSV) -> Response:
    rows = list_kiosks(session, user, None, state or None, 50_000, 0)
    return _file(sheets.kiosks(session, rows, _scope_name(session, user)), format)


@router.get("/alertes")
def alerts(session: SessionDep, user: CurrentUser, open_only: Annotated[bool, Query(alias="open")] = False,
           format: FormatQuery = FileFormat.CSV) -> Response:
    rows = list_alerts(session, user, open_only, None, 10_000)
    return _file(sheets.alerts(session, rows, _scope_name(session, user)), format)
