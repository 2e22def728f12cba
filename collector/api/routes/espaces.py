"""Espaces and their satisfaction.

A date in ``from``/``to`` is a local day of the espace (its midnight in the espace's time zone), as in the KPI
endpoints, so that both count the same votes for the same days; a datetime is an instant (UTC when naive).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import case, func, select

from collector.api.deps import CurrentUser, SessionDep, ensure_scope
from collector.auth import Level
from collector.db.models import Espace, Vote
from collector.registry.geography import timezone_of

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


def as_utc_bound(text: str | None, zone: ZoneInfo) -> datetime | None:
    """``YYYY-MM-DD`` means that day's midnight in ``zone`` (a local day); a naive datetime is read as UTC."""
    if text is None:
        return None
    try:
        value: date | datetime = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"not a date nor a date and time: {text!r}") from None
    if not isinstance(value, datetime):
        return datetime.combine(value, time.min, tzinfo=zone).astimezone(UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get("/{espace_id}/satisfaction", response_model=SatisfactionPublic)
def satisfaction(
    espace_id: str,
    session: SessionDep,
    user: CurrentUser,
    start: Annotated[str | None, Query(
        alias="from", description="Inclusive: a local day of the espace (2024-03-01), or an instant "
                                  "(2024-03-01T08:00:00+01:00; UTC without an offset).")] = None,
    end: Annotated[str | None, Query(
        alias="to", description="Exclusive: a local day of the espace, or an instant.")] = None,
    include_misuse: bool = False,
) -> SatisfactionPublic:
    """Votes, satisfied votes and the satisfaction rate of one espace over ``[from, to)``.

    Needs a token whose scope holds the espace (401 without one, 403 outside the scope).
    """
    ensure_scope(session, user, Level.ESPACE, espace_id)
    espace = session.get(Espace, espace_id)
    if espace is None:
        raise HTTPException(404, f"unknown espace {espace_id}")
    zone = timezone_of(espace.departement)
    lo, hi = as_utc_bound(start, zone), as_utc_bound(end, zone)
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

