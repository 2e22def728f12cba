"""Storing what arrives: messages in, one transaction, an outcome out (the vote path's commit).

:meth:`Store.ingest` takes a group of MQTT messages and applies all of them in one transaction: votes
inserted once (``ON CONFLICT (kiosk_id, id) DO NOTHING``, so a message delivered twice counts once; a vote is
keyed by its kiosk and its id, so another kiosk sending the same id can neither claim nor shadow it), daily rollups
bumped by the votes actually inserted, kiosk status updated, and every message that cannot be counted kept in
``rejects`` with its reason. The caller acknowledges the messages only after this returns, that is after
the commit.

On PostgreSQL with a synchronous standby (the national deployment, ``docs/deployment.md``), the commit returns
once the standby holds the transaction too, so a receipt, which lets a kiosk forget its votes, is sent only for
votes held by two database hosts. Two cases need care. A commit whose wait for the standby was cancelled returns
with a mere warning, committed on the primary only: it raises :class:`StoreUnavailable`, nothing is acknowledged,
and the votes, sent again, are found stored. And a group whose votes were all stored already writes nothing, so
its commit would not wait: it takes a transaction id, whose commit waits for the standby to catch up with
everything before it, the earlier copy of those votes included.

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

The steps, each in its module: :mod:`~collector.ingest.decoding` (topic and payload),
:mod:`~collector.ingest.kiosk_state` (the kiosk known, its reported state), :mod:`~collector.ingest.votes`
(dated, attributed, written once), :mod:`~collector.ingest.rollups` (counts bumped by the votes inserted) and
:mod:`~collector.ingest.rejects` (what cannot be counted, kept with its reason).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from collector.db.engine import commit_unreplicated, forget_replication_warning, session_factory
from collector.db.models import Kiosk
from collector.ingest import rollups, votes
from collector.ingest.decoding import decode_message
from collector.ingest.kiosk_state import known, load_kiosks, selftest_values, status_values, telemetry_values
from collector.ingest.messages import Incoming, Outcome, Rejected
from collector.ingest.reject_budget import RejectBudget
from collector.ingest.rejects import DEFAULT_REJECTS_PER_MINUTE, keep_reject
from collector.ingest.votes import Conflict, VoteRow, psycopg_errors, sqlite_existing_keys_sql
from collector.metrics import Metrics
from protocol.codec import decode
from protocol.errors import ProtocolError
from protocol.models import SelfTestReport, StatusMessage, Telemetry, VoteBatch
from protocol.topics import KioskTopic, TopicKind

__all__ = ["Incoming", "Outcome", "Store", "StoreUnavailable", "sqlite_existing_keys_sql"]

_LOG = logging.getLogger(__name__)


#: How many times a group is applied again when another collector inserted some of its votes meanwhile, or when
#: its transaction met another in a deadlock or a serialization failure.
CONFLICT_RETRIES = 5
#: PostgreSQL's SQLSTATEs of a transaction rolled back because of another: retried at once, not an outage.
_TRANSIENT_SQLSTATES = {"40P01": "a deadlock", "40001": "a serialization failure"}


class StoreUnavailable(RuntimeError):
    """The database could not be reached: nothing was stored, nothing may be acknowledged."""


class Store:
    """Applies messages to the database. Thread-safe: each call uses its own session."""

    def __init__(self, engine: Engine, metrics: Metrics | None = None, *,
                 rejects_per_kiosk_per_minute: float = DEFAULT_REJECTS_PER_MINUTE) -> None:
        self.engine = engine
        self.metrics = metrics or Metrics()
        self.reject_budget = RejectBudget(rejects_per_kiosk_per_minute)
        self._sessions = session_factory(engine)
        self._postgres = engine.dialect.name == "postgresql"
        self._rollup_sql = rollups.upsert_statements(self._postgres)

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
                with self._transaction() as session:
                    # First as if every vote were new (most groups); then with a look-up of those stored.
                    outcome = self._apply(session, messages, look_up=look_up)
                self.reject_budget.spend(outcome.kept_by_kiosk)  # committed: only now are they kept
                return outcome
            except StoreUnavailable:
                raise
            except Conflict as exc:
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
            with self._transaction() as session:
                self._keep_reject(session, message, Rejected("store-failed", detail, kiosk_id, vote_ids), outcome)
            self.reject_budget.spend(outcome.kept_by_kiosk)
        except StoreUnavailable:
            raise
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

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A session in a transaction, committed on leaving; :class:`StoreUnavailable` if PostgreSQL committed it
        without its synchronous standby's confirmation (the wait cancelled): nothing of it may be acknowledged."""
        with self._sessions() as session:
            with session.begin():
                yield session
                pooled = session.connection().connection if self._postgres else None
                if pooled is not None:
                    forget_replication_warning(pooled)
            if pooled is not None and commit_unreplicated(pooled):
                self.metrics.inc("store_unreplicated_commits")
                raise StoreUnavailable("the commit was not confirmed by the synchronous standby (its wait was "
                                       "cancelled): committed on the primary only, so not acknowledged")

    def _apply(self, session: Session, messages: Sequence[Incoming], *, look_up: bool = True) -> Outcome:
        outcome = Outcome()
        parsed: list[tuple[Incoming, KioskTopic | None, Any]] = []
        kiosk_ids: set[str] = set()
        for message in messages:
            topic = KioskTopic.parse(message.topic)
            try:
                body = decode_message(topic, message)
            except Rejected as rejected:
                self._keep_reject(session, message, rejected, outcome)
                continue
            parsed.append((message, topic, body))
            if topic is not None:
                kiosk_ids.add(topic.kiosk_id)
        kiosks = load_kiosks(session, kiosk_ids)

        vote_rows: list[VoteRow] = []
        # A kiosk's state, from every status, telemetry and self-test of the group, later messages over earlier.
        kiosk_state: dict[str, dict[str, Any]] = defaultdict(dict)
        for message, topic, body in parsed:
            if topic is None:  # decode_message rejects these already
                continue
            try:
                info = known(kiosks, topic.kiosk_id, body)
                if isinstance(body, VoteBatch):
                    rows, refused = votes.vote_rows(body, info, message.received_at)
                    vote_rows.extend(rows)
                    for reason, (ids, detail) in refused.items():
                        self._keep_reject(session, message, Rejected(reason, detail, topic.kiosk_id, ids), outcome)
                elif isinstance(body, StatusMessage):
                    kiosk_state[topic.kiosk_id].update(status_values(body, message.received_at))
                elif isinstance(body, Telemetry):
                    kiosk_state[topic.kiosk_id].update(telemetry_values(body, message.received_at))
                elif isinstance(body, SelfTestReport):
                    kiosk_state[topic.kiosk_id].update(selftest_values(body))
            except Rejected as rejected:
                self._keep_reject(session, message, rejected, outcome)
        # One update per kiosk, in the order of their ids: every collector subscribes to every kiosk's status, so
        # two of them write the same rows; taken in one order, their locks cannot deadlock (rows in arrival order
        # did). Then the votes and rollups, whose rows are also taken in sorted order.
        for kiosk_id in sorted(kiosk_state):
            session.execute(update(Kiosk).where(Kiosk.id == kiosk_id).values(**kiosk_state[kiosk_id]))
        if vote_rows:
            self._insert_votes(session, vote_rows, outcome, look_up=look_up)
        return outcome




    def _insert_votes(self, session: Session, rows: list[VoteRow], outcome: Outcome, *, look_up: bool) -> None:
        """Insert the votes not stored yet and bump the rollups by them. Without ``look_up``, every vote is taken
        as new (no query first: most groups hold only new votes); if one was stored already, :class:`Conflict`
        has the group applied again, with the look-up."""
        # Two messages of one group may carry the same vote (a resend): keep the first. A vote is its kiosk's
        # (the key is (kiosk_id, id)): the same id from another kiosk is another kiosk's press claim, stored as
        # such and counted at that kiosk's espace, and never makes this kiosk's vote a "duplicate".
        unique: dict[tuple[str, uuid.UUID], VoteRow] = {}
        for row in rows:
            unique.setdefault((row.kiosk_id, row.id), row)
        conn = session.connection()
        existing = self._existing_keys(conn, list(unique)) if look_up else set()
        new = [r for key, r in unique.items() if key not in existing] if existing else list(unique.values())
        if new:
            written = votes.write_votes(conn, new, postgres=self._postgres)
            if written != len(new):
                raise Conflict(f"{len(new) - written} of {len(new)} votes were stored already or meanwhile")
        elif self._postgres:
            # Nothing written, so the commit would not wait for the standby: a transaction id makes it wait, and
            # with it for the WAL before, where the votes found stored are (maybe not replicated yet).
            conn.exec_driver_sql("SELECT pg_current_xact_id()")
        outcome.stored += len(new)
        outcome.duplicates += len(rows) - len(new)
        receipts = outcome.receipts
        for row in rows:  # each is stored as its own kiosk's vote: now, or before (a resend)
            kiosk_receipt = receipts.get(row.kiosk_id)
            if kiosk_receipt is None:
                kiosk_receipt = receipts[row.kiosk_id] = ([], [])
            kiosk_receipt[0].append(row.id)
        if new:
            rollups.bump(conn, new, self._rollup_sql, postgres=self._postgres)

    def _existing_keys(self, conn: Connection, keys: list[tuple[str, uuid.UUID]]) -> set[tuple[str, uuid.UUID]]:
        """Which of ``keys`` (kiosk id, vote id) are stored already (usually none: one look-up of the key each)."""
        return votes.existing_keys(conn, keys, postgres=self._postgres)

    def _keep_reject(self, session: Session, message: Incoming, rejected: Rejected, outcome: Outcome) -> None:
        keep_reject(session, message, rejected, outcome, self.reject_budget)


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
