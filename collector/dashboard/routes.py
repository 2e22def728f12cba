"""The dashboard's routes: its pages, its static files, the map's boundaries, and who is signed in.

The pages hold no figure: each is a shell whose script asks the JSON API (``/api/v1/kpi/...``,
``/api/v1/kiosks``, ``/api/v1/alerts``) with the user's token, kept in the browser's ``sessionStorage``. So the
figures shown are the API's, and a user sees what the API lets their token see. The few JSON routes here serve
what the API has no resource for: the signed-in user (``session``), the espaces' names in the user's scope,
and the names of régions and départements.
"""

from __future__ import annotations

import gzip
import logging
import mimetypes
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select

from collector.api.deps import CurrentUser, SessionDep
from collector.auth import Level, Role
from collector.dashboard import geojson, staff_routes
from collector.dashboard.pages import PAGES, render
from collector.dashboard.zones import zones
from collector.db.models import Espace

_LOG = logging.getLogger(__name__)

PREFIX = "/dashboard"
STATIC = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)

#: Pages hold no data and run only our own scripts; ECharts writes inline styles in its tooltips.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

ROLE_LABELS = {
    Role.ADMIN: "administrateur",
    Role.NATIONAL: "partenaire national",
    Role.PREFECTURE: "référent préfecture",
    Role.AGENT: "agent France services",
}


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@router.get(PREFIX)
def dashboard_root() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


def _page(slug: str) -> HTMLResponse:
    page = PAGES[slug]
    extra: dict[str, str] = {}
    if slug == "carte":
        extra["map_state"] = _map_state()
        extra["map_source"] = ("Fond de carte : ANCT, IGN — Licence Ouverte / Etalab 2.0."
                               if geojson.configured_path() == geojson.SHIPPED
                               else "Fond de carte : le fichier indiqué par BORNE_DEPARTEMENTS_GEOJSON.")
    if slug == "connexion":
        extra["oidc_signin"] = staff_routes.signin_block(PREFIX)
    return HTMLResponse(render(page, PREFIX, extra), headers=_PAGE_HEADERS)


def _map_state() -> str:
    """``ready``, ``missing`` (no setting) or ``invalid`` (a setting, but an unusable file)."""
    path = geojson.configured_path()
    if path is None:
        return "missing"
    try:
        geojson.load(path)
    except geojson.GeoJsonInvalid as exc:
        _LOG.warning("the map is off: %s", exc)
        return "invalid"
    return "ready"


@router.get(f"{PREFIX}/", response_class=HTMLResponse)
def overview() -> HTMLResponse:
    return _page("")


@router.get(PREFIX + "/{slug}", response_class=HTMLResponse)
def page(slug: str) -> HTMLResponse:
    if slug not in PAGES or not slug:
        raise HTTPException(404, "no such page")
    return _page(slug)


@lru_cache(maxsize=64)
def _file(path: Path, mtime_ns: int) -> tuple[bytes, bytes]:
    """A static file's bytes and their gzip (ECharts: 1.1 MB, 0.37 MB gzipped), until the file changes."""
    body = path.read_bytes()
    return body, gzip.compress(body, compresslevel=6, mtime=0)


@router.get(PREFIX + "/static/{path:path}")
def static(path: str, request: Request) -> Response:
    """Our scripts and styles (revalidated each time) and the vendored charting library (cached a day)."""
    try:
        target = (STATIC / path).resolve()
    except (OSError, ValueError):  # a NUL byte (%00), a name too long...
        raise HTTPException(404, "no such file") from None
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        raise HTTPException(404, "no such file")
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type.endswith("javascript"):
        media_type += "; charset=utf-8"
    headers = {"Cache-Control": "public, max-age=86400" if path.startswith("vendor/") else "no-cache",
               "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding"}
    body, zipped = _file(target, target.stat().st_mtime_ns)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(zipped, media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(body, media_type=media_type, headers=headers)


class SessionPublic(BaseModel):
    name: str
    role: str
    role_label: str
    scope: str | None
    level: Level  # where the user's figures start: national, a département or an espace
    code: str | None


@router.get(f"{PREFIX}/api/session", response_model=SessionPublic)
def session_info(user: CurrentUser) -> SessionPublic:
    """Who the token belongs to, and the zone their dashboard opens on."""
    if user.reads_all:
        level, code = Level.NATIONAL, None
    elif user.role is Role.PREFECTURE:
        level, code = Level.DEPARTEMENT, user.scope
    else:
        level, code = Level.ESPACE, user.scope
    return SessionPublic(name=user.name, role=user.role.value, role_label=ROLE_LABELS[user.role],
                         scope=user.scope, level=level, code=code)


class EspacePublic(BaseModel):
    id: str
    name: str
    departement: str
    region: str
    commune: str | None
    closed: bool


@router.get(f"{PREFIX}/api/espaces", response_model=list[EspacePublic])
def espaces(user: CurrentUser, session: SessionDep) -> list[EspacePublic]:
    """The espaces the user may read, with their names (the API's KPIs name them by id)."""
    query = select(Espace).order_by(Espace.departement, Espace.name)
    if user.role is Role.PREFECTURE:
        query = query.where(Espace.departement == user.scope)
    elif user.role is Role.AGENT:
        query = query.where(Espace.id == user.scope)
    elif not user.reads_all:
        return []
    return [EspacePublic(id=e.id, name=e.name, departement=e.departement, region=e.region, commune=e.commune,
                         closed=e.closed_at is not None) for e in session.scalars(query)]


@router.get(f"{PREFIX}/api/zones")
def zone_names() -> dict[str, Any]:
    """Names of régions and départements (public reference data)."""
    return zones()


@router.get(f"{PREFIX}/api/departements.geojson")
def departements_geojson() -> Response:
    """The configured boundaries of the départements; 404 when none is configured."""
    path = geojson.configured_path()
    if path is None:
        raise HTTPException(404, f"no map of départements: set {geojson.SETTING}=/path/to/geom_dep.geojson")
    try:
        boundaries = geojson.load(path)
    except geojson.GeoJsonInvalid as exc:
        _LOG.warning("the map is off: %s", exc)
        raise HTTPException(503, f"the map of départements is unusable: {exc}") from None
    return Response(boundaries.body, media_type="application/geo+json", headers={"Cache-Control": "no-cache"})
