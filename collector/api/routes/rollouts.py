"""``/api/v1/rollouts``: software rollouts as the dashboard's fleet page shows them, paused, resumed or rolled back.

For staff at national level (admins and national partners: a rollout spans départements). A change goes
through :mod:`collector.fleet` as ``borne collector fleet pause|resume|rollback`` does, publishes the kiosks'
desired release (:mod:`collector.broker.releases`) before it is committed, so that a broker that cannot be reached
leaves the rollout as it was (503), and lands in the audit log with the person, the time and the client's address.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from collector import fleet
from collector.api.deps import SessionDep, StateDep, require_role
from collector.auth import Principal, Role
from collector.broker.publisher import PublishFailed
from collector.broker.releases import publish
from collector.config import Settings
from collector.db.models import Rollout
from collector.staff import audit, web

_LOG = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/rollouts", tags=["rollouts"])
#: Who sees and steers rollouts: the staff whose scope is the whole country.
Operator = Annotated[Principal, Depends(require_role(Role.ADMIN, Role.NATIONAL))]
RolloutId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class RolloutPublic(BaseModel):
    id: str
    version: str
    stage: str
    target: str | None
    state: str  # active, paused, rolled_back
    kiosks: int
    updated: int
    failed: int
    waiting: int
    created_at: datetime
    created_by: str | None
    stalled: str | None  # why, when the rollout-stalled rule holds

    @classmethod
    def of(cls, session: Session, rollout: Rollout, now: datetime) -> RolloutPublic:
        counts = fleet.summary(session, rollout)
        return cls(id=rollout.id, version=rollout.version, stage=rollout.stage, target=rollout.target,
                   state=rollout.state, kiosks=counts["kiosks"], updated=counts["updated"],
                   failed=counts["failed"], waiting=counts["waiting"], created_at=rollout.created_at,
                   created_by=rollout.created_by, stalled=fleet.stalled(rollout, counts, now))


@router.get("", response_model=list[RolloutPublic])
def list_rollouts(user: Operator, session: SessionDep, limit: int = 50) -> list[RolloutPublic]:
    """The latest rollouts, newest first, with their kiosks' progress from their heartbeats."""
    if not 1 <= limit <= 500:
        raise HTTPException(422, "limit is 1 to 500")
    now = datetime.now(UTC)
    return [RolloutPublic.of(session, r, now) for r in fleet.recent(session, limit)]


@router.post("/{rollout_id}/{action}", response_model=RolloutPublic)
def change_rollout(rollout_id: RolloutId, action: Literal["pause", "resume", "rollback"], user: Operator,
                   session: SessionDep, state: StateDep, request: Request) -> RolloutPublic:
    """Pause (kiosks not updated yet are no longer asked), resume, or roll back (each kiosk asked for the
    release it ran before); 409 when the rollout is not in a state that allows it."""
    rollout = session.get(Rollout, rollout_id)
    if rollout is None:
        raise HTTPException(404, f"no rollout {rollout_id}")
    settings = state.extra.get("settings")
    if not isinstance(settings, Settings):
        raise HTTPException(503, "this collector does not publish to the broker")
    try:
        if action == "rollback":
            desired = fleet.rollback(session, settings, rollout)
        else:
            desired = fleet.pause(session, rollout) if action == "pause" else fleet.resume(session, rollout)
    except fleet.FleetError as exc:
        session.rollback()
        raise HTTPException(409, str(exc)) from None
    audit.record(session, user.name, f"rollout.{action}", rollout.id, address=web.address(request),
                 detail={"version": rollout.version, "kiosks": len(desired)})
    try:
        publish(settings, desired)
    except PublishFailed as exc:
        session.rollback()
        _LOG.error("rollout %s not changed (%s): %s", rollout_id, action, exc)
        raise HTTPException(503, f"the broker did not take the change, nothing was changed: {exc}") from None
    session.commit()
    return RolloutPublic.of(session, rollout, datetime.now(UTC))
