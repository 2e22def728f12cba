"""Espaces and their satisfaction."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import case, func, select

from collector.api.deps import CurrentUser, SessionDep, ensure_scope
from collector.auth import Level
from collector.db.models import Espace, Vote

_LOG = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/espaces", tags=["espaces"])


class SatisfactionPublic(BaseModel):
    espace_id: str
    start: datetime | None
    end: datetime | None
    votes: int
    satisfied: int
    rate: float | None
    misuse_excluded: int


def as_utc_bound(value: date | datetime | None) -> datetime | None:
    """A date means its midnight (UTC); a naive datetime is read as UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get("/{espace_id}/satisfaction", response_model=SatisfactionPublic)
def satisfaction(
    espace_id: str,
    session: SessionDep,
    user: CurrentUser,
    start: Annotated[datetime | date | None, Query(alias="from", description="Inclusive.")] = None,
    end: Annotated[datetime | date | None, Query(alias="to", description="Exclusive.")] = None,
    include_misuse: bool = False,
) -> SatisfactionPublic:
    """Votes, satisfied votes and the satisfaction rate of one espace over ``[from, to)``.

    Needs a token whose scope holds the espace (401 without one, 403 outside the scope).
    """
    ensure_scope(session, user, Level.ESPACE, espace_id)
    if session.get(Espace, espace_id) is None:
        raise HTTPException(404, f"unknown espace {espace_id}")
    lo, hi = as_utc_bound(start), as_utc_bound(end)
    query = select(
        func.count(),
        func.coalesce(func.sum(case((Vote.satisfied, 1), else_=0)), 0),
        func.coalesce(func.sum(case((Vote.misuse, 1), else_=0)), 0),
    ).where(Vote.espace_id == espace_id)
    if lo is not None:
        query = query.where(Vote.ts >= lo)
    if hi is not None:
        query = query.where(Vote.ts < hi)
    if not include_misuse:
        counted = query.where(Vote.misuse.is_(False))
        votes, satisfied, _ = session.execute(counted).one()
        (_, _, misuse) = session.execute(query).one()
    else:
        votes, satisfied, _ = session.execute(query).one()
        misuse = 0
    return SatisfactionPublic(
        espace_id=espace_id,
        start=lo,
        end=hi,
        votes=votes,
        satisfied=satisfied,
        rate=satisfied / votes if votes else None,
        misuse_excluded=misuse,
    )

