"""Storing what arrives: messages in, one transaction, an outcome out.

:meth:`Store.ingest` takes a group of MQTT messages and applies all of them in one transaction: votes
inserted once (``ON CONFLICT (id) DO NOTHING``, so a message delivered twice counts once), daily rollups
bumped by the votes actually inserted, kiosk status updated, and every message that cannot be counted kept in
``rejects`` with its reason. The caller acknowledges the messages only after this returns, that is after
the commit.

If the group's transaction fails on one bad message, each message is retried alone, so that one message
cannot block the others; a message that still fails is kept as a reject. If the database itself is
unreachable, :class:`StoreUnavailable` is raised and nothing is acknowledged.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from collector.db.engine import session_factory
from collector.db.models import (
    DailyRollup,
    Espace,
    FollowupRollup,
    HourlyRollup,
    Kiosk,
    KioskAssignment,
    Reject,
    Vote,
)
from collector.geo import timezone_of
from collector.metrics import Metrics
from protocol.codec import decode
from protocol.errors import ProtocolError
from protocol.models import StatusMessage, Telemetry, VoteBatch
from protocol.scales import scale_for
from protocol.topics import KioskTopic, TopicKind

_LOG = logging.getLogger(__name__)

REJECT_PAYLOAD_KEEP = 64 * 1024
#: A vote stamped further in the future than this, against the collector's clock, is bounded by it.
FUTURE_TOLERANCE = timedelta(minutes=5)
#: A vote stamped by an unsynchronised clock this long before it was received is dated when received.
UNSYNCED_MAX_AGE = timedelta(days=35)


class StoreUnavailable(RuntimeError):
    """The database could not be reached: nothing was stored, nothing may be acknowledged."""


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes
    received_at: datetime


@dataclass
class Outcome:
    """What a group of messages did. ``receipts`` maps a kiosk to (stored ids, rejected ids)."""

    stored: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    receipts: dict[str, tuple[list[uuid.UUID], list[uuid.UUID]]] = field(default_factory=dict)

    def merge(self, other: Outcome) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected.update(other.rejected)
        for kiosk, (stored, rejected) in other.receipts.items():
            mine = self.receipts.setdefault(kiosk, ([], []))
            mine[0].extend(stored)
            mine[1].extend(rejected)


@dataclass(frozen=True, slots=True)
class _KioskInfo:
    espace_id: str
    departement: str
    revoked: bool
    history: tuple[tuple[datetime, datetime | None, str], ...]

    def espace_at(self, ts: datetime) -> str:
        for started, ended, espace in self.history:
            if started <= ts and (ended is None or ts < ended):
                return espace
        return self.espace_id


class _Rejected(Exception):
    def __init__(self, reason: str, detail: str = "", kiosk_id: str | None = None,
                 vote_ids: Sequence[uuid.UUID] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.kiosk_id = kiosk_id
        self.vote_ids = list(vote_ids)


class Store:
    """Applies messages to the database. Thread-safe: each call uses its own session."""

    def __init__(self, engine: Engine, metrics: Metrics | None = None) -> None:
        self.engine = engine
        self.metrics = metrics or Metrics()
        self._sessions = session_factory(engine)
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    def ingest(self, messages: Sequence[Incoming]) -> Outcome:
        """Apply ``messages`` in one transaction (or one each, if the group fails); commit; report."""
        if not messages:
            return Outcome()
        try:
            outcome = self._apply_committed(messages)
        except OperationalError as exc:
            raise StoreUnavailable(str(exc.orig)) from exc
        except SQLAlchemyError as exc:
            if len(messages) == 1:
                outcome = self._reject_committed(messages[0], exc)
            else:
                _LOG.warning("a group of %d messages failed (%s); applying them one by one",
                             len(messages), type(exc).__name__)
                outcome = Outcome()
                for message in messages:
                    outcome.merge(self.ingest([message]))
                return outcome
        self.metrics.inc("messages", len(messages))
        self.metrics.inc("votes_stored", outcome.stored)
        self.metrics.inc("votes_duplicate", outcome.duplicates)
        for reason, n in outcome.rejected.items():
            self.metrics.reject(reason, n)
        return outcome

    def _apply_committed(self, messages: Sequence[Incoming]) -> Outcome:
        with self._sessions() as session, session.begin():
            return self._apply(session, messages)

    def _reject_committed(self, message: Incoming, exc: SQLAlchemyError) -> Outcome:
        detail = str(exc.orig if isinstance(exc, DBAPIError) else exc)[:500]
        _LOG.error("message on %s could not be stored: %s", message.topic, detail)
        outcome = Outcome()
        try:
            with self._sessions() as session, session.begin():
                self._keep_reject(session, message, _Rejected("store-failed", detail), outcome)
        except OperationalError as exc2:
            raise StoreUnavailable(str(exc2.orig)) from exc2
        return outcome

    # -- one transaction -----------------------------------------------------------------------------------

    def _apply(self, session: Session, messages: Sequence[Incoming]) -> Outcome:
        outcome = Outcome()
        parsed: list[tuple[Incoming, KioskTopic | None, Any]] = []
        kiosk_ids: set[str] = set()
        for message in messages:
            topic = KioskTopic.parse(message.topic)
            try:
                body = self._decode(topic, message)
            except _Rejected as rejected:
                self._keep_reject(session, message, rejected, outcome)
                continue
            parsed.append((message, topic, body))
            if topic is not None:
                kiosk_ids.add(topic.kiosk_id)
        kiosks = self._load_kiosks(session, kiosk_ids)

        vote_rows: list[dict[str, Any]] = []
        for message, topic, body in parsed:
            if topic is None:  # _decode rejects these already
                continue
            try:
                info = self._known(kiosks, topic.kiosk_id, body)
                if isinstance(body, VoteBatch):
                    vote_rows.extend(self._vote_rows(body, info, message.received_at))
                elif isinstance(body, StatusMessage):
                    self._apply_status(session, topic.kiosk_id, body, message.received_at)
                elif isinstance(body, Telemetry):
                    self._apply_telemetry(session, topic.kiosk_id, body, message.received_at)
            except _Rejected as rejected:
                self._keep_reject(session, message, rejected, outcome)
        if vote_rows:
            self._insert_votes(session, vote_rows, outcome)
        return outcome

    @staticmethod
    def _decode(topic: KioskTopic | None, message: Incoming) -> Any:
        if topic is None:
            raise _Rejected("bad-topic", message.topic[:200])
        model: type[VoteBatch] | type[StatusMessage] | type[Telemetry]
        if topic.kind is TopicKind.VOTES:
            model = VoteBatch
        elif topic.kind is TopicKind.STATUS:
            model = StatusMessage
        elif topic.kind is TopicKind.TELEMETRY:
            model = Telemetry
        else:
            raise _Rejected("bad-topic", f"collectors do not take {topic.kind.value}", topic.kiosk_id)
        try:
            body = decode(model, message.payload)
        except ProtocolError as exc:
            raise _Rejected(exc.reason, exc.detail, topic.kiosk_id) from None
        if isinstance(body, VoteBatch) and body.kiosk_id != topic.kiosk_id:
            raise _Rejected("kiosk-mismatch", f"payload says {body.kiosk_id}, topic says {topic.kiosk_id}",
                            topic.kiosk_id, [v.id for v in body.votes])
        return body

    @staticmethod
    def _known(kiosks: dict[str, _KioskInfo], kiosk_id: str, body: Any) -> _KioskInfo:
        ids = [v.id for v in body.votes] if isinstance(body, VoteBatch) else []
        info = kiosks.get(kiosk_id)
        if info is None:
            raise _Rejected("unknown-kiosk", f"kiosk {kiosk_id} is not registered", kiosk_id, ids)
        if info.revoked:
            raise _Rejected("revoked-kiosk", f"kiosk {kiosk_id} was revoked", kiosk_id, ids)
        return info

    @staticmethod
    def _load_kiosks(session: Session, kiosk_ids: set[str]) -> dict[str, _KioskInfo]:
        if not kiosk_ids:
            return {}
        rows = session.execute(
            select(Kiosk.id, Kiosk.espace_id, Kiosk.revoked_at, Espace.departement)
            .join(Espace, Espace.id == Kiosk.espace_id)
            .where(Kiosk.id.in_(kiosk_ids))
        ).all()
        history: dict[str, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
        for a in session.execute(
            select(KioskAssignment.kiosk_id, KioskAssignment.started_at, KioskAssignment.ended_at,
                   KioskAssignment.espace_id).where(KioskAssignment.kiosk_id.in_(kiosk_ids))
        ):
            history[a.kiosk_id].append((_aware(a.started_at), _aware(a.ended_at), a.espace_id))
        return {
            r.id: _KioskInfo(r.espace_id, r.departement, r.revoked_at is not None, tuple(history[r.id]))
            for r in rows
        }

    @staticmethod
    def _vote_rows(batch: VoteBatch, info: _KioskInfo, received_at: datetime) -> list[dict[str, Any]]:
        rows = []
        for vote in batch.votes:
            ts = vote.ts.astimezone(UTC)
            if ts > received_at + FUTURE_TOLERANCE:
                ts = received_at  # a clock ahead of ours: bounded by when we received it
            elif not vote.clock_synced and (ts > received_at or ts < received_at - UNSYNCED_MAX_AGE):
                ts = received_at  # an untrusted clock (issue 8): never after receipt, nor implausibly old
            rows.append({
                "id": vote.id,
                "kiosk_id": batch.kiosk_id,
                "espace_id": info.espace_at(ts),
                "seq": vote.seq,
                "answer": vote.answer,
                "scale": vote.scale,
                "satisfied": scale_for(vote.scale).is_satisfied(vote.answer),
                "question": vote.question,
                "ts": ts,
                "clock_synced": vote.clock_synced,
                "misuse": vote.misuse,
                "followup": _followup(vote.followup),
                "boot_id": vote.boot_id,
                "mono_ms": vote.mono_ms,
                "received_at": received_at,
                "_departement": info.departement,
            })
        return rows

    def _insert_votes(self, session: Session, rows: list[dict[str, Any]], outcome: Outcome) -> None:
        # Two messages of one group may carry the same vote (a resend): keep the first.
        unique: dict[uuid.UUID, dict[str, Any]] = {}
        for row in rows:
            unique.setdefault(row["id"], row)
        table = Vote.__table__
        assert isinstance(table, Table)  # noqa: S101 - narrows the type for mypy
        columns = [c.name for c in table.columns]
        values = [{k: r[k] for k in columns} for r in unique.values()]
        stmt = self._insert(table).on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)
        inserted: set[uuid.UUID] = set()
        conn = session.connection()
        for start in range(0, len(values), 1000):
            inserted.update(conn.execute(stmt, values[start:start + 1000]).scalars())
        outcome.stored += len(inserted)
        outcome.duplicates += len(rows) - len(inserted)
        for row in rows:
            kiosk_receipt = outcome.receipts.setdefault(row["kiosk_id"], ([], []))
            kiosk_receipt[0].append(row["id"])
        self._bump_rollups(session, [unique[i] for i in inserted])

    def _bump_rollups(self, session: Session, rows: list[dict[str, Any]]) -> None:
        counts: Counter[tuple[str, Any, int, int, bool]] = Counter()
        for row in rows:
            day = row["ts"].astimezone(timezone_of(row["_departement"])).date()
            counts[(row["espace_id"], day, row["scale"], row["answer"], row["misuse"])] += 1
        if not counts:
            return
        self._bump_kpi_rollups(session, rows)
        table = DailyRollup.__table__
        assert isinstance(table, Table)  # noqa: S101 - narrows the type for mypy
        values = [
            {"espace_id": e, "day": d, "scale": s, "answer": a, "misuse": m, "votes": n}
            for (e, d, s, a, m), n in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2:]))
        ]
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["espace_id", "day", "scale", "answer", "misuse"],
            set_={"votes": table.c.votes + stmt.excluded.votes},
        )
        session.connection().execute(stmt, values)

    def _bump_kpi_rollups(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """The hourly rollup (heatmap) and the follow-up rollup (resolution rate), in the same transaction."""
        hourly: Counter[tuple[Any, ...]] = Counter()
        followups: Counter[tuple[Any, ...]] = Counter()
        for row in rows:
            local = row["ts"].astimezone(timezone_of(row["_departement"]))
            key = (row["espace_id"], local.date(), row["scale"], row["answer"], row["misuse"])
            hourly[(*key[:2], local.hour, *key[2:])] += 1
            if row["followup"] is not None:
                followups[(*key, row["followup"])] += 1
        for model, names, counter in (
            (HourlyRollup, ("espace_id", "day", "hour", "scale", "answer", "misuse"), hourly),
            (FollowupRollup, ("espace_id", "day", "scale", "answer", "misuse", "followup"), followups),
        ):
            if not counter:
                continue
            table = model.__table__
            assert isinstance(table, Table)  # noqa: S101 - narrows the type for mypy
            stmt = self._insert(table)
            stmt = stmt.on_conflict_do_update(index_elements=list(names),
                                              set_={"votes": table.c.votes + stmt.excluded.votes})
            values = [dict(zip(names, k, strict=True), votes=n) for k, n in sorted(counter.items())]
            session.connection().execute(stmt, values)

    @staticmethod
    def _apply_status(session: Session, kiosk_id: str, status: StatusMessage, received_at: datetime) -> None:
        session.execute(
            update(Kiosk)
            .where(Kiosk.id == kiosk_id)
            .values(status=status.status.value, status_at=status.ts.astimezone(UTC), last_seen=received_at,
                    version=status.version or Kiosk.version)
        )

    @staticmethod
    def _apply_telemetry(session: Session, kiosk_id: str, telemetry: Telemetry, received_at: datetime) -> None:
        session.execute(
            update(Kiosk)
            .where(Kiosk.id == kiosk_id)
            .values(last_seen=received_at, version=telemetry.version, outbox_depth=telemetry.outbox_depth,
                    telemetry=telemetry.model_dump(mode="json", exclude_none=True))
        )

    @staticmethod
    def _keep_reject(session: Session, message: Incoming, rejected: _Rejected, outcome: Outcome) -> None:
        _LOG.warning("rejected a message on %s: %s %s", message.topic[:200], rejected.reason,
                     rejected.detail[:200])
        session.add(Reject(
            received_at=message.received_at,
            topic=message.topic[:255],
            kiosk_id=rejected.kiosk_id,
            reason=rejected.reason,
            detail=rejected.detail[:2000],
            payload_size=len(message.payload),
            payload=message.payload[:REJECT_PAYLOAD_KEEP],
        ))
        outcome.rejected[rejected.reason] += 1
        if rejected.kiosk_id and rejected.vote_ids:
            outcome.receipts.setdefault(rejected.kiosk_id, ([], []))[1].extend(rejected.vote_ids)


def _followup(followup: Any) -> str | None:
    if followup is None:
        return None
    return followup.answer or "skipped"


def _aware(value: datetime | None) -> Any:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
