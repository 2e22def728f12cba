"""Kiosks and their state: online or offline, last sign of life, outbox depth, version.

Online/offline comes from the kiosk's retained ``status`` topic: ``online`` when it connects, ``offline`` when
it closes cleanly or, when it vanishes, from its Last Will, which the broker publishes for it. ``last_seen`` is
the last message of any kind (status, heartbeat) the collector received from it.

Readers see the kiosks of their scope: all of them for admins and national partners, their département's for a
préfecture referent, their espace's for an espace agent.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from collector.api.deps import CurrentUser, SessionDep, ensure_scope
from collector.auth import Level, Role
from collector.db.models import Espace, Kiosk

_LOG = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/kiosks", tags=["kiosks"])


class KioskPublic(BaseModel):
    id: str
    espace_id: str
    departement: str
    status: str  # online, offline, or unknown (never heard of)
    online: bool
    status_at: datetime | None
    last_seen: datetime | None
    outbox_depth: int | None
    version: str | None
    revoked: bool
    release: str | None = None  # the release running (software updates); None: the factory install
    release_desired: str | None = None  # the release a rollout asks of it
    update_result: str | None = None  # 'installed V', 'rolled_back V: why', 'refused V: why'


@router.get("", response_model=list[KioskPublic])
def list_kiosks(
    session: SessionDep,
    user: CurrentUser,
    espace: Annotated[str | None, Query(description="Only this espace's kiosks.")] = None,
    status: Annotated[str | None, Query(pattern="^(online|offline|unknown)$")] = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 10_000,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,  # beyond, SQLite cannot bind it (a 500)
) -> list[KioskPublic]:
    """Every kiosk (or one espace's), ordered by id, with its state; 403 for an espace outside the scope."""
    if espace is not None:
        ensure_scope(session, user, Level.ESPACE, espace)
    query = (
        select(Kiosk, Espace.departement).join(Espace, Espace.id == Kiosk.espace_id)
        .order_by(Kiosk.id).limit(limit).offset(offset)
    )
    if user.role is Role.PREFECTURE:
        query = query.where(Espace.departement == user.scope)
    elif user.role is Role.AGENT:
        query = query.where(Kiosk.espace_id == user.scope)
    if espace is not None:
        query = query.where(Kiosk.espace_id == espace)
    if status is not None:
        query = query.where(Kiosk.status == status)
    return [
        KioskPublic(
            id=k.id, espace_id=k.espace_id, departement=departement, status=k.status, online=k.status == "online",
            status_at=k.status_at, last_seen=k.last_seen, outbox_depth=k.outbox_depth, version=k.version,
            revoked=k.revoked_at is not None, **_update_fields(k.telemetry),
        )
        for k, departement in session.execute(query)
    ]


def _update_fields(telemetry: dict[str, object] | None) -> dict[str, str | None]:
    t = telemetry or {}
    return {name: str(t[name])[:300] if t.get(name) is not None else None
            for name in ("release", "release_desired", "update_result")}
