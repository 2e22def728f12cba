"""Liveness and metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from collector.api.deps import StateDep

_LOG = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(state: StateDep, response: Response) -> dict[str, object]:
    """``ok`` when the database answers and, if this process ingests, the broker is connected; 503 otherwise,
    with the reason. Answers within about a second whatever the database does (:mod:`collector.db.probe`)."""
    probe = state.database_probe.check()
    broker = None
    if state.ingest is not None:
        broker = "connected" if state.ingest.connected else "disconnected"
    healthy = probe.ok and broker != "disconnected"
    if not healthy:
        response.status_code = 503
    return {"status": "ok" if healthy else "degraded", "database": probe.detail, "broker": broker}


@router.get("/metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    """Counters in Prometheus' text format: messages, votes stored, duplicates, rejects by reason."""
    return Response(state.metrics.prometheus(), media_type="text/plain; version=0.0.4")
