"""Liveness and metrics.

``/metrics`` is Prometheus' text format. With ``metrics_token`` set it needs ``Authorization: Bearer <token>``
(Prometheus' ``authorization: {credentials_file: ...}``); without one it answers only while the API listens on
loopback, and 403 otherwise: counters say how busy the service is and how it is attacked.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, HTTPException, Request, Response

from collector.api.deps import StateDep, refuse_wrong_credential
from collector.auth import hash_token
from collector.metrics import gauges

_LOG = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(state: StateDep, response: Response) -> dict[str, object]:
    """``ok`` when the database answers and, if this process ingests, the broker is connected (one of them, with
    several, each shown under ``brokers``); 503 otherwise, with the reason. With a synchronous standby down,
    commits wait for it: the ingest shows ``stalled`` after ``ingest_stall_after_s`` (docs/deployment.md).
    Answers within about a second whatever the database does (:mod:`collector.db.probe`)."""
    probe = state.database_probe.check()
    broker = None
    body: dict[str, object] = {}
    stalled = False
    if state.ingest is not None:
        broker = "connected" if state.ingest.connected else "disconnected"
        stalled = bool(state.ingest.stalled)
        body["ingest"] = {"backlog": state.ingest.backlog,
                          "last_progress_s": round(state.ingest.last_progress_s, 1), "stalled": stalled}
        brokers = getattr(state.ingest, "brokers", None)
        if brokers is not None:  # several brokers: connected to one is enough to count, each is shown
            body["brokers"] = brokers
    if probe.waiting_for_standby:
        body["replication"] = (f"{probe.waiting_for_standby} commits waiting for the synchronous standby: is it "
                               "down? (docs/deployment.md)")
    healthy = probe.ok and broker != "disconnected" and not stalled
    if not healthy:
        response.status_code = 503
    status = "ok" if healthy else "stalled" if stalled and probe.ok else "degraded"
    return {"status": status, "database": probe.detail, "broker": broker, **body}


@router.get("/metrics", response_class=Response,
            responses={401: {"description": "The metrics token is set and was not given."},
                       403: {"description": "No metrics token is set and the API does not listen on loopback."},
                       429: {"description": "Too many wrong tokens from this address lately."}})
def metrics(request: Request, state: StateDep) -> Response:
    """Counters in Prometheus' text format: messages, votes stored, duplicates, rejects by reason; and, if
    this process ingests, the ingest's backlog and the seconds since it last stored a group (gauges)."""
    if state.metrics_token_hash is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(hash_token(given.strip()), state.metrics_token_hash):
            address = request.client.host if request.client is not None else "unknown"
            refuse_wrong_credential(state, address, "metrics_auth_failures",
                                    "/metrics needs the metrics token (BORNE_METRICS_TOKEN) as a bearer token")
    elif not state.metrics_open:
        raise HTTPException(403, "/metrics is closed: the API listens beyond loopback and no metrics token is set "
                                 "(BORNE_METRICS_TOKEN or BORNE_METRICS_TOKEN_FILE)")
    text = state.metrics.prometheus()
    if state.ingest is not None:
        text += gauges({"ingest_backlog": state.ingest.backlog,
                        "ingest_last_progress_seconds": round(state.ingest.last_progress_s, 3)})
    return Response(text, media_type="text/plain; version=0.0.4")
