"""The store's fast vote path, on SQLite and on PostgreSQL: exact counts, rollups, duplicates, local days."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, func, select

from collector.db.engine import session_factory
from collector.db.models import DailyRollup, FollowupRollup, HourlyRollup, Vote
from collector.ingest.store import Incoming, Store, sqlite_existing_keys_sql
from devtools.builders import migrated_engine, register, wire_batch
from protocol.codec import encode
from protocol.models import FollowUp, VoteBatch
from protocol.models import Vote as WireVote

TOPIC = "fs/v1/kiosks/{}/votes"


def _incoming(batch: VoteBatch, received_at: datetime | None = None) -> Incoming:
    return Incoming(TOPIC.format(batch.kiosk_id), encode(batch), received_at or datetime.now(UTC))


def _rollup_total(engine: Engine, model: type[DailyRollup] | type[HourlyRollup]) -> int:
    with session_factory(engine)() as session:
        return int(session.scalar(select(func.coalesce(func.sum(model.votes), 0))) or 0)


def test_a_group_of_batches_is_stored_once_with_its_rollups(database_url: str) -> None:
    engine = migrated_engine(database_url)
    register(engine, {f"k-{i}": (f"fs-{i}", "22") for i in range(5)})
    store = Store(engine)
    batches = [wire_batch(f"k-{i % 5}", [1, 2, 3, 4] * 25, start_seq=1 + 100 * i) for i in range(20)]
    outcome = store.ingest([_incoming(b) for b in batches])
    assert outcome.stored == 2000 and outcome.duplicates == 0
    assert sum(len(stored) for stored, _ in outcome.receipts.values()) == 2000

    # The same messages again, and one of them twice in one group: nothing new, every vote receipted.
    again = store.ingest([_incoming(b) for b in [*batches, batches[0]]])
    assert again.stored == 0 and again.duplicates == 2100
    assert sum(len(stored) for stored, _ in again.receipts.values()) == 2100

    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Vote)) == 2000
        satisfied = session.scalar(select(func.count()).select_from(Vote).where(Vote.satisfied.is_(True)))
    assert satisfied == 1000  # answers 3 and 4 of 4
    assert _rollup_total(engine, DailyRollup) == 2000
    assert _rollup_total(engine, HourlyRollup) == 2000


def test_a_partly_stored_batch_counts_only_its_new_votes(database_url: str) -> None:
    engine = migrated_engine(database_url)
    register(engine, {"k-1": ("fs-1", "75")})
    store = Store(engine)
    batch = wire_batch("k-1", [4] * 10)
    store.ingest([_incoming(VoteBatch(kiosk_id="k-1", sent_at=batch.sent_at, votes=batch.votes[:4]))])
    outcome = store.ingest([_incoming(batch)])
    assert (outcome.stored, outcome.duplicates) == (6, 4)
    assert _rollup_total(engine, DailyRollup) == 10


def test_votes_land_on_their_local_day_and_keep_their_time_exactly(database_url: str) -> None:
    """23:30 UTC on 31 January is 1 February in Paris, 31 January in Martinique (UTC-4)."""
    engine = migrated_engine(database_url)
    register(engine, {"k-paris": ("fs-75", "75"), "k-mq": ("fs-972", "972")})
    store = Store(engine)
    ts = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)  # microsecond 0: the text form must still compare right
    received = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    store.ingest([_incoming(wire_batch("k-paris", [4], ts=ts), received),
                  _incoming(wire_batch("k-mq", [1], ts=ts), received)])
    with session_factory(engine)() as session:
        days = dict(session.execute(select(DailyRollup.espace_id, DailyRollup.day)).all())
        hours = dict(session.execute(select(HourlyRollup.espace_id, HourlyRollup.hour)).all())
        in_window = session.scalar(select(func.count()).select_from(Vote).where(
            Vote.ts >= ts, Vote.ts < ts + timedelta(microseconds=1)))
        stored_ts = session.scalar(select(Vote.ts).where(Vote.espace_id == "fs-75"))
    assert days == {"fs-75": date(2026, 2, 1), "fs-972": date(2026, 1, 31)}
    assert hours == {"fs-75": 0, "fs-972": 19}
    assert in_window == 2
    assert stored_ts is not None and stored_ts.replace(tzinfo=stored_ts.tzinfo or UTC) == ts


def test_followup_answers_are_rolled_up(database_url: str) -> None:
    engine = migrated_engine(database_url)
    register(engine, {"k-1": ("fs-1", "22")})
    now = datetime.now(UTC)
    votes = [
        WireVote(id=uuid.uuid4(), seq=i + 1, answer=3, scale=4, ts=now, clock_synced=True,
                 followup=FollowUp(answer=answer))
        for i, answer in enumerate(["yes", "no", None])
    ]
    Store(engine).ingest([_incoming(VoteBatch(kiosk_id="k-1", sent_at=now, votes=votes))])
    with session_factory(engine)() as session:
        rows = dict(session.execute(select(FollowupRollup.followup, FollowupRollup.votes)).all())
        followups = sorted(str(f) for f in session.scalars(select(Vote.followup)))
    assert rows == {"yes": 1, "no": 1, "skipped": 1}
    assert followups == ["no", "skipped", "yes"]


def test_a_group_of_new_votes_is_written_without_a_look_up(database_url: str) -> None:
    engine = migrated_engine(database_url)
    register(engine, {"k-1": ("fs-1", "22")})
    store = Store(engine)
    looked_up: list[list[tuple[str, uuid.UUID]]] = []
    original = store._existing_keys

    def spy(conn: object, keys: list[tuple[str, uuid.UUID]]) -> set[tuple[str, uuid.UUID]]:
        looked_up.append(keys)
        return original(conn, keys)  # type: ignore[arg-type]

    store._existing_keys = spy  # type: ignore[method-assign]
    outcome = store.ingest([_incoming(wire_batch("k-1", [1, 2, 3, 4])) for _ in range(3)])
    assert (outcome.stored, outcome.duplicates) == (12, 0)
    assert looked_up == []


def test_a_vote_inserted_by_another_collector_meanwhile_is_not_counted_twice(database_url: str) -> None:
    """A resend makes the group be applied again with a look-up, which races with another collector: the group is
    applied a third time."""
    engine = migrated_engine(database_url)
    register(engine, {"k-1": ("fs-1", "22")})
    store = Store(engine)
    batch = wire_batch("k-1", [1, 2, 3, 4])
    store.ingest([_incoming(VoteBatch(kiosk_id="k-1", sent_at=batch.sent_at, votes=batch.votes[:1]))])
    original = store._existing_keys
    lookups = 0

    def racing_lookup(conn: object, keys: list[tuple[str, uuid.UUID]]) -> set[tuple[str, uuid.UUID]]:
        nonlocal lookups
        found = original(conn, keys)  # type: ignore[arg-type]
        lookups += 1
        if lookups == 1:  # another collector commits the second vote right after our look-up
            other = Store(engine)
            other.ingest([_incoming(VoteBatch(kiosk_id="k-1", sent_at=batch.sent_at, votes=batch.votes[1:2]))])
        return found

    store._existing_keys = racing_lookup  # type: ignore[method-assign]
    outcome = store.ingest([_incoming(batch)])
    assert lookups == 2  # written as new (a conflict), looked up (raced), looked up again
    assert (outcome.stored, outcome.duplicates) == (2, 2)
    assert _rollup_total(engine, DailyRollup) == 4
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Vote)) == 4


def test_the_look_up_of_stored_votes_searches_the_key_on_sqlite(sqlite_url: str) -> None:
    """A resend's look-up reads one index entry a vote, never the whole table (a scan grows with every vote)."""
    engine = migrated_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sqlite_existing_keys_sql(3)}", ("k", "a") * 3).all()
        steps = [row[-1] for row in plan]
        assert any(step.startswith("SEARCH v USING") and "kiosk_id=? AND id=?" in step for step in steps), steps
        assert not any(step.startswith("SCAN v") or step.startswith("SCAN votes") for step in steps), steps
    finally:
        engine.dispose()
