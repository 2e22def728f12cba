"""The FastAPI application."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from collector.api.deps import AppState
from collector.api.routes import alerts as alerts_routes
from collector.api.routes import espaces, health
from collector.api.routes import kiosks as kiosks_routes
from collector.api.routes import kpi as kpi_routes
from collector.api.routes import provision as provision_routes
from collector.api.routes import releases as releases_routes
from collector.api.routes import rollouts as rollouts_routes
from collector.api.routes import staff as staff_routes
from collector.auth import hash_token
from collector.dashboard import router as dashboard_router
from collector.dashboard import staff_routes as dashboard_staff_routes
from collector.db.engine import session_factory
from collector.metrics import Metrics

_LOG = logging.getLogger(__name__)


def create_app(engine: Engine, *, metrics: Metrics | None = None, ingest: Any | None = None,
               metrics_token: str | None = None, metrics_open: bool = True) -> FastAPI:
    """The API. ``/metrics`` needs ``metrics_token`` as a bearer token when one is given; without one it answers
    only if ``metrics_open`` (the collector passes whether the API listens on loopback)."""
    app = FastAPI(
        title="borne collector",
        version="0.1.0",
        description="Satisfaction votes from France services kiosks, and their KPIs.",
    )
    app.state.borne = AppState(engine=engine, sessions=session_factory(engine), metrics=metrics or Metrics(),
                               ingest=ingest, metrics_open=metrics_open,
                               metrics_token_hash=hash_token(metrics_token) if metrics_token else None)
    app.include_router(health.router)
    app.include_router(espaces.router)
    app.include_router(kpi_routes.router)
    app.include_router(alerts_routes.router)
    app.include_router(kiosks_routes.router)
    app.include_router(provision_routes.router)
    app.include_router(releases_routes.router)
    app.include_router(rollouts_routes.router)
    app.include_router(staff_routes.router)
    app.include_router(dashboard_staff_routes.router)  # before the dashboard's /{slug} pages
    app.include_router(dashboard_router)
    _document_errors(app)
    app.add_middleware(RefusalCounter, metrics=app.state.borne.metrics)
    return app


class RefusalCounter:
    """Counts the requests refused (401, 403, 404, 422, 429...) as ``http_<status>`` and logs those about
    tokens and scopes (401, 403, 429) with the path and client, never the headers."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                status = message["status"]
                self.metrics.inc(f"http_{status}")
                if status in (401, 403, 429):
                    client = scope.get("client") or ("unknown", 0)
                    _LOG.info("refused %s %s to %s: %d", scope["method"], scope["path"][:200], client[0], status)
            await send(message)

        await self.app(scope, receive, counting_send)


def _document_errors(app: FastAPI) -> None:
    """Our routes answer some 422s with one sentence (``HTTPException(422, "level region needs a code")``),
    FastAPI its validation errors with a list: the OpenAPI says ``detail`` is either."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if error is not None:
                listed = error["properties"]["detail"]
                error["properties"]["detail"] = {
                    "anyOf": [listed, {"type": "string"}], "title": "Detail",
                    "description": "The parameters that failed validation, or one sentence saying what is wrong.",
                }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
