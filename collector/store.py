"""Storing what arrives: messages in, one transaction, an outcome out.

:meth:`Store.ingest` takes a group of MQTT messages and applies all of them in one transaction: votes
inserted once (``ON CONFLICT (kiosk_id, id) DO NOTHING``, so a message delivered twice counts once; a vote is
keyed by its kiosk and its id, so another kiosk sending the same id can neither claim nor shadow it), daily rollups
bumped by the votes actually inserted, kiosk status updated, and every message that cannot be counted kept in
``rejects`` with its reason. The caller acknowledges the messages only after this returns, that is after
the commit.

If the group's transaction fails, whatever the error (a database's refusal, an ``OverflowError`` of a driver, a
bug), each half of the group is applied alone, down to the message at fault, so that one message cannot block
the others: it is kept as a ``store-failed`` reject, its votes in its kiosk's receipt. Only if the database
itself is unavailable (connection lost, locked, shutting down) is :class:`StoreUnavailable` raised, and nothing
is acknowledged.

The vote path is written for tens of thousands of votes a second (``docs/performance.md``): one tuple per vote,
no ORM objects; the votes are written at once (``executemany`` with ``ON CONFLICT DO NOTHING`` and its row
count checked on SQLite, binary ``COPY`` on PostgreSQL, where a unique violation says the same) as if all were new,
which most groups are. If some were stored already (a kiosk's resend), or another collector inserts the same vote
at the same moment, the group is rolled back and applied again, this time looking up the ids already stored
first, so that the rollups are bumped by exactly the votes inserted.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

try:
    from psycopg import errors as psycopg_errors
except ImportError:  # SQLite only
    psycopg_errors = None  # type: ignore[assignment]

from collector.db.engine import session_factory
from collector.db.models import Espace, Kiosk, KioskAssignment, Reject
from collector.geo import timezone_of
from collector.metrics import Metrics
from collector.reject_budget import NO_KIOSK, RejectBudget
from protocol.codec import decode
from protocol.errors import ProtocolError
from protocol.models import SelfTestReport, StatusMessage, Telemetry, VoteBatch
from protocol.scales import scale_for
from protocol.topics import KioskTopic, TopicKind

_LOG = logging.getLogger(__name__)

REJECT_PAYLOAD_KEEP = 64 * 1024
#: Rejects kept per kiosk a minute unless told (``Settings.rejects_per_kiosk_per_minute``).
DEFAULT_REJECTS_PER_MINUTE = 60.0
#: A vote stamped by a synchronised clock further after its receipt than this, against the collector's clock, is
#: rejected (``vote-in-future``); an unsynchronised clock's is dated when received.
FUTURE_TOLERANCE = timedelta(minutes=5)
#: A vote stamped by an unsynchronised clock this long before it was received is dated when received.
UNSYNCED_MAX_AGE = timedelta(days=35)
#: A vote stamped by a synchronised clock before its kiosk was registered, less this, is rejected
#: (``vote-before-registration``): it would rewrite KPIs of a past the kiosk was not part of. An unsynchronised
#: clock's is dated when received. The grace covers a kiosk tried out on the day before it is registered.
REGISTRATION_GRACE = timedelta(days=1)


#: How many times a group is applied again when another collector inserted some of its votes meanwhile, or when
#: its transaction met another in a deadlock or a serialization failure.
CONFLICT_RETRIES = 5
#: PostgreSQL's SQLSTATEs of a transaction rolled back because of another: retried at once, not an outage.
_TRANSIENT_SQLSTATES = {"40P01": "a deadlock", "40001": "a serialization failure"}

_VOTE_COLUMNS = ("id", "kiosk_id", "espace_id", "seq", "answer", "scale", "satisfied", "question", "ts",
                 "clock_synced", "misuse", "followup", "boot_id", "mono_ms", "received_at")
_SQLITE_INSERT_VOTES = (
    f"INSERT INTO votes ({', '.join(_VOTE_COLUMNS)}) "  # noqa: S608 - constants only
    f"VALUES ({', '.join('?' * len(_VOTE_COLUMNS))}) ON CONFLICT (kiosk_id, id) DO NOTHING"
)
_PG_VOTE_TYPES = ("uuid", "varchar", "varchar", "int8", "int2", "int2", "bool", "varchar", "timestamptz", "bool",
                  "bool", "varchar", "varchar", "int8", "timestamptz")
# COPY is several times faster than INSERT on PostgreSQL; it has no ON CONFLICT, hence the look-up before it.
_PG_COPY_VOTES = f"COPY votes ({', '.join(_VOTE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"

def sqlite_existing_keys_sql(n: int) -> str:
    """The votes stored among ``n`` (kiosk id, vote id) pairs, on SQLite: the pairs first, each searched in the
    key's index (``(kiosk_id, id) IN (VALUES ...)`` would scan the whole index)."""
    pairs = ",".join(["(?,?)"] * n)
    return (f"WITH k(kiosk_id, id) AS (VALUES {pairs}) "  # noqa: S608 - only ?s
            "SELECT v.kiosk_id, v.id FROM k CROSS JOIN votes v ON v.kiosk_id = k.kiosk_id AND v.id = k.id")


def _upsert_counts_sql(table: str, keys: dict[str, str], postgres: bool) -> str:
    """``INSERT ... ON CONFLICT DO UPDATE`` adding counts to a rollup; ``keys`` maps its key columns to types."""
    names = ", ".join(keys)
    if postgres:
        arrays = ", ".join(f"%s::{t}[]" for t in keys.values())
        source = f"SELECT * FROM unnest({arrays}, %s::int8[])"  # noqa: S608 - constants only
    else:
        source = f"VALUES ({', '.join('?' * (len(keys) + 1))})"
    return (f"INSERT INTO {table} ({names}, votes) {source} "
            f"ON CONFLICT ({names}) DO UPDATE SET votes = {table}.votes + excluded.votes")


_DAILY_KEYS = {"espace_id": "varchar", "day": "date", "scale": "int2", "answer": "int2", "misuse": "bool"}
_HOURLY_KEYS = {"espace_id": "varchar", "day": "date", "hour": "int2", "scale": "int2", "answer": "int2",
                "misuse": "bool"}
_FOLLOWUP_KEYS = {**_DAILY_KEYS, "followup": "varchar"}
_NATIONAL_KEYS = {"day": "date", "scale": "int2", "answer": "int2", "misuse": "bool"}
_NATIONAL_FOLLOWUP_KEYS = {**_NATIONAL_KEYS, "followup": "varchar"}
_DEPARTEMENT_KEYS = {"departement": "varchar", **_NATIONAL_KEYS}
_DEPARTEMENT_FOLLOWUP_KEYS = {"departement": "varchar", **_NATIONAL_FOLLOWUP_KEYS}
#: The rollups kept at ingest: daily counts (KPIs), hourly (the heatmap), follow-up answers (resolution rate),
#: then the same daily and follow-up counts per département and national (issue 4: area KPIs read those). The
#: national rows, which every group bumps, come last: their locks are held for the shortest time.
_ROLLUPS = (("rollup_daily", _DAILY_KEYS), ("rollup_hourly", _HOURLY_KEYS),
            ("rollup_followup_daily", _FOLLOWUP_KEYS), ("rollup_departement_daily", _DEPARTEMENT_KEYS),
            ("rollup_departement_followup_daily", _DEPARTEMENT_FOLLOWUP_KEYS),
            ("rollup_national_daily", _NATIONAL_KEYS), ("rollup_national_followup_daily", _NATIONAL_FOLLOWUP_KEYS))


class StoreUnavailable(RuntimeError):
    """The database could not be reached: nothing was stored, nothing may be acknowledged."""


class _Conflict(RuntimeError):
    """Another transaction inserted some of the group's votes between our look-up and our insert."""


class _VoteRow(NamedTuple):
    """One vote as written: the ``votes`` columns in order, then its local day and hour (for the rollups)."""

    id: uuid.UUID
    kiosk_id: str
    espace_id: str
    seq: int
    answer: int
    scale: int
    satisfied: bool
    question: str
    ts: datetime
    clock_synced: bool
    misuse: bool
    followup: str | None
    boot_id: str | None
    mono_ms: int | None
    received_at: datetime
    day: date
    hour: int
    departement: str  # the département of ``espace_id``


@functools.cache
def _is_satisfied(scale: int, answer: int) -> bool:
    return scale_for(scale).is_satisfied(answer)


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
    #: Rejects counted but not kept (over their kiosk's budget), by reason; and rejects kept, per kiosk.
    unkept: Counter[str] = field(default_factory=Counter)
    kept_by_kiosk: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Outcome) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected.update(other.rejected)
        self.unkept.update(other.unkept)
        self.kept_by_kiosk.update(other.kept_by_kiosk)
        for kiosk, (stored, rejected) in other.receipts.items():
            mine = self.receipts.setdefault(kiosk, ([], []))
            mine[0].extend(stored)
            mine[1].extend(rejected)


@dataclass(frozen=True)
class _KioskInfo:
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

    def __init__(self, engine: Engine, metrics: Metrics | None = None, *,
                 rejects_per_kiosk_per_minute: float = DEFAULT_REJECTS_PER_MINUTE) -> None:
        self.engine = engine
        self.metrics = metrics or Metrics()
        self.reject_budget = RejectBudget(rejects_per_kiosk_per_minute)
        self._sessions = session_factory(engine)
        self._postgres = engine.dialect.name == "postgresql"
        self._rollup_sql = {table: _upsert_counts_sql(table, keys, self._postgres) for table, keys in _ROLLUPS}

    def ingest(self, messages: Sequence[Incoming]) -> Outcome:
        """Apply ``messages`` in one transaction (or in halves, if the group fails); commit; report.

        Raises :class:`StoreUnavailable` only when the database cannot be reached: anything else a message makes
        the store raise, whatever its type, makes that message a ``store-failed`` reject.
        """
        if not messages:
            return Outcome()
        outcome = self._ingest_isolating(messages)
        self.metrics.inc("messages", len(messages))
        self.metrics.inc("votes_stored", outcome.stored)
        self.metrics.inc("votes_duplicate", outcome.duplicates)
        for reason, n in outcome.rejected.items():
            self.metrics.reject(reason, n)
        for reason, n in outcome.unkept.items():
            self.metrics.inc_labelled("rejects_dropped", "reason", reason, n)
        return outcome

    def _ingest_isolating(self, messages: Sequence[Incoming]) -> Outcome:
        """Apply ``messages``; if they fail, apply each half alone, down to the one message at fault.

        A group of n messages with one poisonous message costs about 2 log2(n) more transactions, once.
        """
        try:
            return self._apply_committed(messages)
        except StoreUnavailable:
            raise
        except Exception as exc:
            if _unavailable(exc):
                raise StoreUnavailable(_describe(exc)) from exc
            if len(messages) == 1:
                return self._reject_committed(messages[0], exc)
            _LOG.warning("a group of %d messages failed (%s: %s); applying each half alone", len(messages),
                         type(exc).__name__, _describe(exc)[:200])
            half = len(messages) // 2
            outcome = self._ingest_isolating(messages[:half])
            outcome.merge(self._ingest_isolating(messages[half:]))
            return outcome

    def _apply_committed(self, messages: Sequence[Incoming]) -> Outcome:
        look_up = False
        for attempt in range(CONFLICT_RETRIES):
            try:
                with self._sessions() as session, session.begin():
                    # First as if every vote were new (most groups); then with a look-up of those stored.
                    outcome = self._apply(session, messages, look_up=look_up)
                self.reject_budget.spend(outcome.kept_by_kiosk)  # committed: only now are they kept
                return outcome
            except _Conflict as exc:
                # Rolled back: the next attempt's look-up sees the votes stored meanwhile or before.
                look_up = True
                _LOG.info("group applied again (attempt %d): %s", attempt + 2, exc)
            except Exception as exc:
                # A deadlock or a serialization failure is another collector's transaction meeting ours, not an
                # outage: the server rolled ours back; apply it again at once (after a moment's jitter, so that
                # the two do not meet again). Raised through SQLAlchemy or, from COPY and the rollups' cursors,
                # by psycopg itself.
                code = getattr(exc.orig if isinstance(exc, DBAPIError) else exc, "sqlstate", None)
                if code not in _TRANSIENT_SQLSTATES:
                    raise
                self.metrics.inc("store_deadlocks" if code == "40P01" else "store_serialization_failures")
                _LOG.info("group applied again (attempt %d) after %s", attempt + 2, _TRANSIENT_SQLSTATES[code])
                time.sleep(random.uniform(0, 0.05))  # noqa: S311 - jitter, not a secret
        raise StoreUnavailable(f"the group kept meeting other transactions ({CONFLICT_RETRIES} attempts)")

    def _reject_committed(self, message: Incoming, exc: BaseException) -> Outcome:
        """Keep ``message``, which raised ``exc`` while stored, as a ``store-failed`` reject (its votes rejected)."""
        detail = f"{type(exc).__name__}: {_describe(exc)}"[:500]
        _LOG.error("message on %s could not be stored: %s", message.topic[:200], detail)
        topic = KioskTopic.parse(message.topic)
        kiosk_id = topic.kiosk_id if topic is not None else None
        vote_ids: list[uuid.UUID] = []
        if topic is not None and topic.kind is TopicKind.VOTES:
            with contextlib.suppress(ProtocolError):
                batch = decode(VoteBatch, message.payload)
                if batch.kiosk_id == kiosk_id:
                    vote_ids = [v.id for v in batch.votes]
        outcome = Outcome()
        try:
            with self._sessions() as session, session.begin():
                self._keep_reject(session, message, _Rejected("store-failed", detail, kiosk_id, vote_ids), outcome)
            self.reject_budget.spend(outcome.kept_by_kiosk)
        except Exception as exc2:
            if _unavailable(exc2):
                raise StoreUnavailable(_describe(exc2)) from exc2
            # Not even its reject can be written: logged with what identifies it, counted, and acknowledged.
            _LOG.error("the reject of a message on %s could not be stored either (%s: %s); payload starts %r",
                       message.topic[:200], type(exc2).__name__, _describe(exc2)[:200], message.payload[:200])
            outcome = Outcome()
            outcome.rejected["store-failed-unkept"] += 1
            if kiosk_id and vote_ids:
                outcome.receipts[kiosk_id] = ([], vote_ids)
        return outcome

    # -- one transaction -----------------------------------------------------------------------------------

    def _apply(self, session: Session, messages: Sequence[Incoming], *, look_up: bool = True) -> Outcome:
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

        vote_rows: list[_VoteRow] = []
        # A kiosk's state, from every status, telemetry and self-test of the group, later messages over earlier.
        kiosk_state: dict[str, dict[str, Any]] = defaultdict(dict)
        for message, topic, body in parsed:
            if topic is None:  # _decode rejects these already
                continue
            try:
                info = self._known(kiosks, topic.kiosk_id, body)
                if isinstance(body, VoteBatch):
                    rows, refused = self._vote_rows(body, info, message.received_at)
                    vote_rows.extend(rows)
                    for reason, (ids, detail) in refused.items():
                        self._keep_reject(session, message, _Rejected(reason, detail, topic.kiosk_id, ids), outcome)
                elif isinstance(body, StatusMessage):
                    kiosk_state[topic.kiosk_id].update(_status_values(body, message.received_at))
                elif isinstance(body, Telemetry):
                    kiosk_state[topic.kiosk_id].update(_telemetry_values(body, message.received_at))
                elif isinstance(body, SelfTestReport):
                    kiosk_state[topic.kiosk_id].update(_selftest_values(body))
            except _Rejected as rejected:
                self._keep_reject(session, message, rejected, outcome)
        # One update per kiosk, in the order of their ids: every collector subscribes to every kiosk's status, so
        # two of them write the same rows; taken in one order, their locks cannot deadlock (rows in arrival order
        # did). Then the votes and rollups, whose rows are also taken in sorted order.
        for kiosk_id in sorted(kiosk_state):
            session.execute(update(Kiosk).where(Kiosk.id == kiosk_id).values(**kiosk_state[kiosk_id]))
        if vote_rows:
            self._insert_votes(session, vote_rows, outcome, look_up=look_up)
        return outcome

    @staticmethod
    def _decode(topic: KioskTopic | None, message: Incoming) -> Any:
        if topic is None:
            raise _Rejected("bad-topic", message.topic[:200])
        model: type[VoteBatch] | type[StatusMessage] | type[Telemetry] | type[SelfTestReport]
        if topic.kind is TopicKind.VOTES:
            model = VoteBatch
        elif topic.kind is TopicKind.STATUS:
            model = StatusMessage
        elif topic.kind is TopicKind.TELEMETRY:
            model = Telemetry
        elif topic.kind is TopicKind.SELFTEST:
            model = SelfTestReport
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
            r.id: _KioskInfo(r.espace_id, r.departement, r.revoked_at is not None, tuple(history[r.id]),
                             min([_aware(r.created_at), *(started for started, _, _ in history[r.id])]),
                             {espace: departements[espace] for _, _, espace in history[r.id]
                              if espace in departements})
            for r in rows
        }

    @staticmethod
    def _vote_rows(batch: VoteBatch, info: _KioskInfo, received_at: datetime
                   ) -> tuple[list[_VoteRow], dict[str, tuple[list[uuid.UUID], str]]]:
        """The batch's votes as rows, and those refused: reason -> (vote ids, detail).

        A synchronised clock is trusted, within limits: a vote dated after its receipt (beyond
        :data:`FUTURE_TOLERANCE`) or before its kiosk's registration (beyond :data:`REGISTRATION_GRACE`) is
        refused, not re-dated, since re-dating would count it on a day it was not cast. An unsynchronised clock is
        not trusted: a time it cannot have had is replaced by the time of receipt, as the kiosk flagged it.
        """
        tz = timezone_of(info.departement)
        bound = received_at + FUTURE_TOLERANCE
        earliest = info.registered - REGISTRATION_GRACE
        kiosk_id = batch.kiosk_id
        rows = []
        future: list[uuid.UUID] = []
        early: list[uuid.UUID] = []
        for vote in batch.votes:
            ts = vote.ts.astimezone(UTC)
            if vote.clock_synced:
                if ts > bound:
                    future.append(vote.id)
                    continue
                if ts < earliest:
                    early.append(vote.id)
                    continue
            elif ts > received_at or ts < received_at - UNSYNCED_MAX_AGE or ts < earliest:
                ts = received_at  # an untrusted clock: never after receipt, nor implausibly old
            followup = vote.followup
            local = ts.astimezone(tz)
            espace = info.espace_at(ts)
            rows.append(_VoteRow(
                vote.id, kiosk_id, espace, vote.seq, vote.answer, vote.scale,
                _is_satisfied(vote.scale, vote.answer), vote.question, ts, vote.clock_synced, vote.misuse,
                None if followup is None else (followup.answer or "skipped"), vote.boot_id, vote.mono_ms,
                received_at, local.date(), local.hour, info.departement_of(espace),
            ))
        refused: dict[str, tuple[list[uuid.UUID], str]] = {}
        if future:
            refused["vote-in-future"] = (future, f"{len(future)} of {len(batch.votes)} votes dated after "
                                         f"{bound.isoformat()} (received {received_at.isoformat()} + "
                                         f"{FUTURE_TOLERANCE}): {', '.join(map(str, future))}")
        if early:
            refused["vote-before-registration"] = (early, f"{len(early)} of {len(batch.votes)} votes dated before "
                                                   f"{earliest.isoformat()} (registration less "
                                                   f"{REGISTRATION_GRACE}): {', '.join(map(str, early))}")
        return rows, refused

    def _insert_votes(self, session: Session, rows: list[_VoteRow], outcome: Outcome, *, look_up: bool) -> None:
        """Insert the votes not stored yet and bump the rollups by them. Without ``look_up``, every vote is taken
        as new (no query first: most groups hold only new votes); if one was stored already, :class:`_Conflict`
        has the group applied again, with the look-up."""
        # Two messages of one group may carry the same vote (a resend): keep the first. A vote is its kiosk's
        # (the key is (kiosk_id, id)): the same id from another kiosk is another kiosk's press claim, stored as
        # such and counted at that kiosk's espace, and never makes this kiosk's vote a "duplicate".
        unique: dict[tuple[str, uuid.UUID], _VoteRow] = {}
        for row in rows:
            unique.setdefault((row.kiosk_id, row.id), row)
        conn = session.connection()
        existing = self._existing_keys(conn, list(unique)) if look_up else set()
        new = [r for key, r in unique.items() if key not in existing] if existing else list(unique.values())
        if new:
            written = self._write_votes(conn, new)
            if written != len(new):
                raise _Conflict(f"{len(new) - written} of {len(new)} votes were stored already or meanwhile")
        outcome.stored += len(new)
        outcome.duplicates += len(rows) - len(new)
        receipts = outcome.receipts
        for row in rows:  # each is stored as its own kiosk's vote: now, or before (a resend)
            kiosk_receipt = receipts.get(row.kiosk_id)
            if kiosk_receipt is None:
                kiosk_receipt = receipts[row.kiosk_id] = ([], [])
            kiosk_receipt[0].append(row.id)
        if new:
            self._bump_rollups(conn, new)

    def _existing_keys(self, conn: Connection, keys: list[tuple[str, uuid.UUID]]) -> set[tuple[str, uuid.UUID]]:
        """Which of ``keys`` (kiosk id, vote id) are stored already (usually none: one look-up of the key each)."""
        found: set[tuple[str, uuid.UUID]] = set()
        if self._postgres:
            with _driver(conn).cursor(binary=True) as cur:
                for start in range(0, len(keys), 10_000):
                    chunk = keys[start:start + 10_000]
                    cur.execute("SELECT v.kiosk_id, v.id FROM votes v JOIN unnest(%s::varchar[], %s::uuid[]) "
                                "AS k(kiosk_id, id) ON v.kiosk_id = k.kiosk_id AND v.id = k.id",
                                ([k for k, _ in chunk], [i for _, i in chunk]), binary=True)
                    found.update((row[0], row[1]) for row in cur)
            return found
        for start in range(0, len(keys), 250):
            chunk = keys[start:start + 250]
            params = tuple(v for kiosk_id, vote_id in chunk for v in (kiosk_id, vote_id.hex))
            found.update((kiosk_id, uuid.UUID(hex=h)) for kiosk_id, h in conn.exec_driver_sql(
                sqlite_existing_keys_sql(len(chunk)), params))
        return found

    def _write_votes(self, conn: Connection, rows: list[_VoteRow]) -> int:
        """Insert ``rows`` (none of them stored, as far as we know); the number actually inserted."""
        if self._postgres:
            width = len(_VOTE_COLUMNS)
            try:
                with _driver(conn).cursor() as cur, cur.copy(_PG_COPY_VOTES) as copy:
                    copy.set_types(list(_PG_VOTE_TYPES))
                    for r in rows:
                        copy.write_row(r[:width])
            except psycopg_errors.UniqueViolation as exc:
                # Stored before (a resend, without a look-up) or by another collector after our look-up: apply the
                # group again, looking up.
                raise _Conflict(str(exc).splitlines()[0]) from exc
            return len(rows)
        received: dict[datetime, str] = {}  # one per message, not per vote
        for r in rows:
            if r.received_at not in received:
                received[r.received_at] = _sqlite_datetime(r.received_at)
        params = [
            (r.id.hex, r.kiosk_id, r.espace_id, r.seq, r.answer, r.scale, r.satisfied, r.question,
             r.ts.isoformat(" ", "microseconds")[:26], r.clock_synced, r.misuse, r.followup, r.boot_id, r.mono_ms,
             received[r.received_at])
            for r in rows
        ]
        return conn.exec_driver_sql(_SQLITE_INSERT_VOTES, params).rowcount

    def _bump_rollups(self, conn: Connection, rows: list[_VoteRow]) -> None:
        daily: Counter[tuple[Any, ...]] = Counter()
        hourly: Counter[tuple[Any, ...]] = Counter()
        followups: Counter[tuple[Any, ...]] = Counter()
        for r in rows:
            daily[(r.espace_id, r.day, r.scale, r.answer, r.misuse)] += 1
            hourly[(r.espace_id, r.day, r.hour, r.scale, r.answer, r.misuse)] += 1
            if r.followup is not None:
                followups[(r.espace_id, r.day, r.scale, r.answer, r.misuse, r.followup)] += 1
        departements: Counter[tuple[Any, ...]] = Counter()
        departement_followups: Counter[tuple[Any, ...]] = Counter()
        departement_of = {r.espace_id: r.departement for r in rows}
        for (espace, *key), n in daily.items():
            departements[(departement_of[espace], *key)] += n
        for (espace, *key), n in followups.items():
            departement_followups[(departement_of[espace], *key)] += n
        national: Counter[tuple[Any, ...]] = Counter()
        national_followups: Counter[tuple[Any, ...]] = Counter()
        for (_, *key), n in departements.items():
            national[tuple(key)] += n
        for (_, *key), n in departement_followups.items():
            national_followups[tuple(key)] += n
        all_counts = (daily, hourly, followups, departements, departement_followups, national, national_followups)
        for (table, _), counts in zip(_ROLLUPS, all_counts, strict=True):
            if not counts:
                continue
            # Sorted, so that two collectors bumping the same rows lock them in the same order.
            items = sorted(counts.items())
            sql = self._rollup_sql[table]
            if self._postgres:
                columns = [list(c) for c in zip(*(k for k, _ in items), strict=True)]
                with _driver(conn).cursor(binary=True) as cur:
                    cur.execute(sql, (*columns, [n for _, n in items]), binary=True)
            else:
                conn.exec_driver_sql(sql, [
                    (*(v.isoformat() if isinstance(v, date) else v for v in k), n) for k, n in items
                ])

    def _keep_reject(self, session: Session, message: Incoming, rejected: _Rejected, outcome: Outcome) -> None:
        """Count a reject and put its votes in the kiosk's receipt; keep it in ``rejects`` if its kiosk's budget
        allows (:mod:`collector.reject_budget`), else only log it, at warning level once a minute a kiosk."""
        key = rejected.kiosk_id or NO_KIOSK
        outcome.rejected[rejected.reason] += 1
        if rejected.kiosk_id and rejected.vote_ids:
            outcome.receipts.setdefault(rejected.kiosk_id, ([], []))[1].extend(rejected.vote_ids)
        if self.reject_budget.available(key) - outcome.kept_by_kiosk[key] < 1:
            outcome.unkept[rejected.reason] += 1
            level = logging.WARNING if self.reject_budget.should_warn(key) else logging.DEBUG
            _LOG.log(level, "rejected a message on %s: %s %s; not kept: kiosk %r is over its %g rejects a "
                     "minute (counted in borne_rejects_dropped_total)", message.topic[:200], rejected.reason,
                     rejected.detail[:200], key, self.reject_budget.per_minute)
            return
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
        outcome.kept_by_kiosk[key] += 1


#: SQLSTATE classes of errors about what was written rather than about the database: data exceptions (22),
#: integrity violations (23), program limits (54, e.g. a value too large for an index).
_MESSAGE_FAULT_SQLSTATES = ("22", "23", "54")


def _unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unavailable (retry later), not that a message is at fault.

    Connection errors, a database locked or shutting down, a disk full: :class:`OperationalError` and
    :class:`InterfaceError`, from SQLAlchemy or from psycopg directly (the COPY runs on the driver's cursor),
    unless PostgreSQL's SQLSTATE blames the data.
    """
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    kinds: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)
    if psycopg_errors is not None:
        kinds += (psycopg_errors.OperationalError, psycopg_errors.InterfaceError)
    if not isinstance(exc, kinds) and not isinstance(orig, kinds):
        return False
    sqlstate = getattr(orig, "sqlstate", None) or ""
    return not sqlstate.startswith(_MESSAGE_FAULT_SQLSTATES)


def _describe(exc: BaseException) -> str:
    return str(exc.orig if isinstance(exc, DBAPIError) else exc) or type(exc).__name__


def _status_values(status: StatusMessage, received_at: datetime) -> dict[str, Any]:
    return {"status": status.status.value, "status_at": status.ts.astimezone(UTC), "last_seen": received_at,
            "version": status.version or Kiosk.version}


def _telemetry_values(telemetry: Telemetry, received_at: datetime) -> dict[str, Any]:
    return {"last_seen": received_at, "version": telemetry.version, "outbox_depth": telemetry.outbox_depth,
            "telemetry": telemetry.model_dump(mode="json", exclude_none=True)}


def _selftest_values(report: SelfTestReport) -> dict[str, Any]:
    return {"selftest": report.model_dump(mode="json", exclude_none=True), "selftest_at": report.ts.astimezone(UTC)}


def _driver(conn: Connection) -> Any:
    """The psycopg connection under ``conn``, in the same transaction."""
    return conn.connection.driver_connection


def _sqlite_datetime(value: datetime) -> str:
    """A UTC datetime as SQLAlchemy writes it in SQLite (``2026-01-31 08:00:00.000000``), so comparisons hold."""
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _aware(value: datetime | None) -> Any:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
