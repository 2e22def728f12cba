"""Alerts, with the time each was raised and cleared; evaluating the rules on demand (admins)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from collector.alerts import evaluate
from collector.api.deps import CurrentUser, SessionDep, require_role
from collector.auth import Role
from collector.db.models import Alert, Espace

_LOG = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


class AlertPublic(BaseModel):
    id: int
    rule: str
    subject: str
    espace_id: str | None
    kiosk_id: str | None
    raised_at: datetime
    cleared_at: datetime | None
    detail: str


class EvaluationPublic(BaseModel):
    raised: list[AlertPublic]
    cleared: list[AlertPublic]


def _public(alert: Alert) -> AlertPublic:
    return AlertPublic(id=alert.id, rule=alert.rule, subject=alert.subject, espace_id=alert.espace_id,
                       kiosk_id=alert.kiosk_id, raised_at=alert.raised_at, cleared_at=alert.cleared_at,
                       detail=alert.detail)


@router.get("", response_model=list[AlertPublic])
def list_alerts(
    session: SessionDep,
    user: CurrentUser,
    open_only: Annotated[bool, Query(alias="open", description="Only alerts not cleared yet.")] = False,
    since: Annotated[datetime | None, Query(description="Raised at or after.")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 500,
) -> list[AlertPublic]:
    """Alerts within the user's scope, newest first."""
    query = select(Alert).order_by(Alert.raised_at.desc(), Alert.id.desc()).limit(limit)
    if open_only:
        query = query.where(Alert.cleared_at.is_(None))
    if since is not None:
        query = query.where(Alert.raised_at >= since)
    if user.role is Role.AGENT:
        query = query.where(Alert.espace_id == user.scope)
    elif user.role is Role.PREFECTURE:
        query = query.where(Alert.espace_id.in_(select(Espace.id).where(Espace.departement == user.scope)))
    return [_public(a) for a in session.scalars(query)]


@router.post("/evaluate", response_model=EvaluationPublic, dependencies=[Depends(require_role(Role.ADMIN))])
def evaluate_now(session: SessionDep) -> EvaluationPublic:
    """Evaluate the rules now (admins); what was raised and cleared."""
    result = evaluate(session)
    session.commit()
    return EvaluationPublic(raised=[_public(a) for a in result.raised], cleared=[_public(a) for a in result.cleared])
