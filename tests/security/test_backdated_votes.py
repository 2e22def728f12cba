"""Back-dated and future votes: a synchronised clock is trusted within the kiosk's registration and the receipt.

A vote dated before its kiosk was registered (less a day's grace) would rewrite KPIs of a past the kiosk was not
part of; one dated after its receipt (beyond five minutes) cannot be. Either is rejected with its reason, in the
kiosk's receipt (so it stops resending it) and kept in ``rejects`` with its payload; the rest of its batch is
counted. A kiosk offline for months still has its votes counted. Unsynchronised clocks are dated when received,
as before (``tests/field/test_clock.py``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from collector.db.engine import session_factory
from collector.db.models import Vote as VoteRow
from collector.ingest.store import Incoming, Store
from devtools.builders import migrated_engine, register, rejects
from protocol.codec import encode
from protocol.models import Vote, VoteBatch
from protocol.topics import TopicKind, kiosk_topic

RECEIVED = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
REGISTERED = RECEIVED - timedelta(days=365)


def _vote(ts: datetime, synced: bool = True, seq: int = 1) -> Vote:
    return Vote(id=uuid.uuid4(), seq=seq, answer=4, scale=4, ts=ts, clock_synced=synced)


def _ingest(store: Store, votes: list[Vote]) -> tuple[Incoming, object]:
    message = Incoming(kiosk_topic("k-1", TopicKind.VOTES),
                       encode(VoteBatch(kiosk_id="k-1", sent_at=RECEIVED, votes=votes)), RECEIVED)
    return message, store.ingest([message])


@pytest.mark.parametrize(("ts", "synced", "reason"), [
    (RECEIVED - timedelta(days=183), True, None),                    # offline for six months: counted
    (REGISTERED - timedelta(hours=12), True, None),                  # within the grace
    (REGISTERED - timedelta(days=2), True, "vote-before-registration"),
    (datetime(2021, 3, 1, tzinfo=UTC), True, "vote-before-registration"),
    (RECEIVED + timedelta(minutes=4), True, None),                   # within the tolerance
    (RECEIVED + timedelta(minutes=10), True, "vote-in-future"),
    (datetime(2099, 1, 1, tzinfo=UTC), True, "vote-in-future"),
    (REGISTERED - timedelta(days=2), False, None),                   # unsynchronised: dated when received
    (RECEIVED + timedelta(minutes=10), False, None),
])
def test_a_vote_out_of_its_kiosks_time_is_rejected_and_the_rest_counted(
    database_url: str, ts: datetime, synced: bool, reason: str | None
) -> None:
    engine = migrated_engine(database_url)
    register(engine, {"k-1": ("fs-1", "22")}, since=REGISTERED)
    good = _vote(RECEIVED - timedelta(hours=1), seq=1)
    odd = _vote(ts, synced, seq=2)
    message, outcome = _ingest(Store(engine), [good, odd])
    with session_factory(engine)() as session:
        stored = {row.id: row.ts for row in session.scalars(select(VoteRow))}
    if reason is None:
        assert outcome.receipts == {"k-1": ([good.id, odd.id], [])}  # type: ignore[attr-defined]
        assert set(stored) == {good.id, odd.id} and rejects(engine) == []
        expected = ts if synced else RECEIVED
        assert stored[odd.id].replace(tzinfo=UTC) == expected.astimezone(UTC)
    else:
        assert outcome.receipts == {"k-1": ([good.id], [odd.id])}  # type: ignore[attr-defined]
        assert set(stored) == {good.id}
        (kept,) = rejects(engine)
        assert (kept.reason, kept.kiosk_id, kept.payload) == (reason, "k-1", message.payload)
        assert str(odd.id) in kept.detail
    engine.dispose()


def test_a_kiosk_registered_before_its_record_says_is_dated_from_its_first_assignment(sqlite_url: str) -> None:
    """Registration is the earlier of the kiosk's creation and its first assignment (an import may set both)."""
    from collector.db.models import KioskAssignment

    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22")}, since=RECEIVED - timedelta(days=10))
    with session_factory(engine)() as session, session.begin():
        session.add(KioskAssignment(kiosk_id="k-1", espace_id="fs-1", started_at=REGISTERED,
                                    ended_at=RECEIVED - timedelta(days=10)))
    old = _vote(RECEIVED - timedelta(days=100))
    _, outcome = _ingest(Store(engine), [old])
    assert outcome.receipts == {"k-1": ([old.id], [])}  # type: ignore[attr-defined]
    engine.dispose()
