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
from collector.dashboard import router as dashboard_router
from collector.db.engine import session_factory
from collector.metrics import Metrics

_LOG = logging.getLogger(__name__)


def create_app(engine: Engine, *, metrics: Metrics | None = None, ingest: Any | None = None) -> FastAPI:
    app = FastAPI(
        title="borne collector",
        version="0.1.0",
        description="Satisfaction votes from France services kiosks, and their KPIs.",
    )
    app.state.borne = AppState(engine=engine, sessions=session_factory(engine), metrics=metrics or Metrics(),
                               ingest=ingest)
    app.include_router(health.router)
    app.include_router(espaces.router)
    app.include_router(kpi_routes.router)
    app.include_router(alerts_routes.router)
    app.include_router(kiosks_routes.router)
    app.include_router(provision_routes.router)
    app.include_router(dashboard_router)
    return app
