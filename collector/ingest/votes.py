"""The votes of a batch: dated, attributed, then written once.

:func:`vote_rows` turns a batch into rows: a synchronised clock is trusted within limits (a vote dated after its
receipt or before its kiosk's registration is refused, not re-dated), an unsynchronised one is dated when
received; each vote goes to the espace its kiosk served when it was cast. :func:`write_votes` inserts them as
if all were new (``executemany ... ON CONFLICT (kiosk_id, id) DO NOTHING`` on SQLite, binary ``COPY`` on
PostgreSQL) and :class:`Conflict` says some were not, so that the store applies the group again after
:func:`existing_keys` looked them up: a vote is stored once, keyed by its kiosk and its id.
"""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection

try:
    from psycopg import errors as psycopg_errors
except ImportError:  # SQLite only
    psycopg_errors = None  # type: ignore[assignment]

from collector.ingest.kiosk_state import KioskInfo
from collector.registry.geography import timezone_of
from protocol.models import VoteBatch
from protocol.scales import scale_for

_LOG = logging.getLogger(__name__)

#: A vote stamped by a synchronised clock further after its receipt than this, against the collector's clock, is
#: rejected (``vote-in-future``); an unsynchronised clock's is dated when received.
FUTURE_TOLERANCE = timedelta(minutes=5)
#: A vote stamped by an unsynchronised clock this long before it was received is dated when received.
UNSYNCED_MAX_AGE = timedelta(days=35)
#: A vote stamped by a synchronised clock before its kiosk was registered, less this, is rejected
#: (``vote-before-registration``): it would rewrite KPIs of a past the kiosk was not part of. An unsynchronised
#: clock's is dated when received. The grace covers a kiosk tried out on the day before it is registered.
REGISTRATION_GRACE = timedelta(days=1)

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


class Conflict(RuntimeError):
    """Another transaction inserted some of the group's votes between our look-up and our insert."""


class VoteRow(NamedTuple):
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


def vote_rows(batch: VoteBatch, info: KioskInfo, received_at: datetime
               ) -> tuple[list[VoteRow], dict[str, tuple[list[uuid.UUID], str]]]:
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
        rows.append(VoteRow(
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

def existing_keys(conn: Connection, keys: list[tuple[str, uuid.UUID]], *, postgres: bool) -> set[tuple[str, uuid.UUID]]:
    """Which of ``keys`` (kiosk id, vote id) are stored already (usually none: one look-up of the key each)."""
    found: set[tuple[str, uuid.UUID]] = set()
    if postgres:
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

def write_votes(conn: Connection, rows: list[VoteRow], *, postgres: bool) -> int:
    """Insert ``rows`` (none of them stored, as far as we know); the number actually inserted."""
    if postgres:
        width = len(_VOTE_COLUMNS)
        try:
            with _driver(conn).cursor() as cur, cur.copy(_PG_COPY_VOTES) as copy:
                copy.set_types(list(_PG_VOTE_TYPES))
                for r in rows:
                    copy.write_row(r[:width])
        except psycopg_errors.UniqueViolation as exc:
            # Stored before (a resend, without a look-up) or by another collector after our look-up: apply the
            # group again, looking up.
            raise Conflict(str(exc).splitlines()[0]) from exc
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


def _driver(conn: Connection) -> Any:
    """The psycopg connection under ``conn``, in the same transaction."""
    return conn.connection.driver_connection


def _sqlite_datetime(value: datetime) -> str:
    """A UTC datetime as SQLAlchemy writes it in SQLite (``2026-01-31 08:00:00.000000``), so comparisons hold."""
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]
