"""The audit log: every change to the access list, every sign-in, and every rollout paused, resumed or rolled
back from the dashboard, with who, when, what and from where.

Entries are only ever added; admins read them on the dashboard (``/dashboard/journal``) and through
``GET /api/v1/staff/audit``. An entry never holds a secret: an actor's name or email, an action, its target, the
fields changed and the client's address.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.models import AuditEntry

_LOG = logging.getLogger(__name__)

#: The actions an entry may record.
ACTIONS = ("access.add", "access.change", "access.disable", "access.enable", "access.import", "sign-in",
           "sign-in.refused", "sign-out", "rollout.pause", "rollout.resume", "rollout.rollback")


def record(session: Session, actor: str, action: str, target: str | None = None, *,
           detail: dict[str, Any] | None = None, address: str | None = None, now: datetime | None = None) -> None:
    """Add an entry (in the caller's transaction: the change and its entry land together)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    session.add(AuditEntry(at=now or datetime.now(UTC), actor=actor[:320], action=action,
                           target=target[:320] if target else None, detail=detail or None,
                           address=address[:64] if address else None))
    _LOG.info("audit: %s %s %s from %s", actor, action, target or "-", address or "-")


def entries(session: Session, *, limit: int = 200, before_id: int | None = None) -> list[AuditEntry]:
    """The latest entries, newest first; ``before_id`` pages back."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))
