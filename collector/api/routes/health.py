"""Liveness and metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from collector.api.deps import SessionDep, StateDep
from collector.metrics import gauges

_LOG = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(session: SessionDep, state: StateDep, response: Response) -> dict[str, object]:
    """``ok`` when the database answers and, if this process ingests, the broker is connected."""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        database = "unreachable"
    broker = None
    body: dict[str, object] = {}
    stalled = False
    if state.ingest is not None:
        broker = "connected" if state.ingest.connected else "disconnected"
        stalled = bool(state.ingest.stalled)
        body["ingest"] = {"backlog": state.ingest.backlog,
                          "last_progress_s": round(state.ingest.last_progress_s, 1), "stalled": stalled}
    healthy = database == "ok" and broker != "disconnected" and not stalled
    if not healthy:
        response.status_code = 503
    status = "ok" if healthy else "stalled" if stalled and database == "ok" else "degraded"
    return {"status": status, "database": database, "broker": broker, **body}


@router.get("/metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    """Counters in Prometheus' text format: messages, votes stored, duplicates, rejects by reason; and, if
    this process ingests, the ingest's backlog and the seconds since it last stored a group (gauges)."""
    text = state.metrics.prometheus()
    if state.ingest is not None:
        text += gauges({"ingest_backlog": state.ingest.backlog,
                        "ingest_last_progress_seconds": round(state.ingest.last_progress_s, 3)})
    return Response(text, media_type="text/plain; version=0.0.4")
