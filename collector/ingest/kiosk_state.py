"""A kiosk as the vote path sees it, and the state its messages report.

:func:`load_kiosks` reads, once per group, what the store needs of each kiosk: its espace (and those it served
before: a vote counts at the espace its kiosk served when it was cast), its département, whether it was revoked
and when it was registered. :func:`known` refuses a message of a kiosk that is not registered or was revoked.
Status, telemetry and self-test messages become one update of the kiosk's row per group, later messages over
earlier; the store writes them in the order of the kiosks' ids, so that two collectors cannot deadlock on them.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.models import Espace, Kiosk, KioskAssignment
from collector.ingest.messages import Rejected
from protocol.models import SelfTestReport, StatusMessage, Telemetry, VoteBatch

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class KioskInfo:
    """What the store knows of a kiosk while it applies a group."""

    espace_id: str
    departement: str
    revoked: bool
    history: tuple[tuple[datetime, datetime | None, str], ...]
    #: When the kiosk was registered: its creation or its first assignment, whichever is earlier.
    registered: datetime
    #: The département of every espace in ``history`` (a kiosk may have moved to another département).
    departements: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def moved(self) -> bool:
        """Whether the kiosk ever served another espace: if not, every vote goes to ``espace_id``."""
        return any(espace != self.espace_id for _, _, espace in self.history)

    def espace_at(self, ts: datetime) -> str:
        if not self.moved:
            return self.espace_id
        for started, ended, espace in self.history:
            if started <= ts and (ended is None or ts < ended):
                return espace
        return self.espace_id

    def departement_of(self, espace_id: str) -> str:
        return self.departements.get(espace_id, self.departement) if self.moved else self.departement


def known(kiosks: dict[str, KioskInfo], kiosk_id: str, body: Any) -> KioskInfo:
    ids = [v.id for v in body.votes] if isinstance(body, VoteBatch) else []
    info = kiosks.get(kiosk_id)
    if info is None:
        raise Rejected("unknown-kiosk", f"kiosk {kiosk_id} is not registered", kiosk_id, ids)
    if info.revoked:
        raise Rejected("revoked-kiosk", f"kiosk {kiosk_id} was revoked", kiosk_id, ids)
    return info


def load_kiosks(session: Session, kiosk_ids: set[str]) -> dict[str, KioskInfo]:
    if not kiosk_ids:
        return {}
    rows = session.execute(
        select(Kiosk.id, Kiosk.espace_id, Kiosk.revoked_at, Kiosk.created_at, Espace.departement)
        .join(Espace, Espace.id == Kiosk.espace_id)
        .where(Kiosk.id.in_(kiosk_ids))
    ).all()
    history: dict[str, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
    for a in session.execute(
        select(KioskAssignment.kiosk_id, KioskAssignment.started_at, KioskAssignment.ended_at,
               KioskAssignment.espace_id).where(KioskAssignment.kiosk_id.in_(kiosk_ids))
    ):
        history[a.kiosk_id].append((_aware(a.started_at), _aware(a.ended_at), a.espace_id))
    earlier = {espace for spans in history.values() for _, _, espace in spans} - {r.espace_id for r in rows}
    departements = {r.espace_id: r.departement for r in rows}
    if earlier:
        departements.update((e.id, e.departement) for e in session.execute(
            select(Espace.id, Espace.departement).where(Espace.id.in_(earlier))))
    return {
        r.id: KioskInfo(r.espace_id, r.departement, r.revoked_at is not None, tuple(history[r.id]),
                         min([_aware(r.created_at), *(started for started, _, _ in history[r.id])]),
                         {espace: departements[espace] for _, _, espace in history[r.id]
                          if espace in departements})
        for r in rows
    }


def status_values(status: StatusMessage, received_at: datetime) -> dict[str, Any]:
    return {"status": status.status.value, "status_at": status.ts.astimezone(UTC), "last_seen": received_at,
            "version": status.version or Kiosk.version}


def telemetry_values(telemetry: Telemetry, received_at: datetime) -> dict[str, Any]:
    return {"last_seen": received_at, "version": telemetry.version, "outbox_depth": telemetry.outbox_depth,
            "telemetry": telemetry.model_dump(mode="json", exclude_none=True)}


def selftest_values(report: SelfTestReport) -> dict[str, Any]:
    return {"selftest": report.model_dump(mode="json", exclude_none=True), "selftest_at": report.ts.astimezone(UTC)}


def _aware(value: datetime | None) -> Any:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)

