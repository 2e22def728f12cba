"""Whatever the protocol accepts, the store takes: stored, or a reject with its reason; never an exception.

Payloads are generated valid (built by :mod:`protocol.models`): vote batches, statuses, heartbeats and self-tests,
with times over the protocol's whole range and at its edges in every UTC offset, every scale, text of any
Unicode up to its maximum length (NUL included), numbers up to any size. They go, a few at a time in one group,
through the real :meth:`Store.ingest` on SQLite and on PostgreSQL. Each vote is then accounted for exactly once in
its kiosk's receipt, stored or rejected.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import Engine

from collector.ingest.store import Incoming, Store
from devtools.builders import migrated_engine, register
from protocol.checks import TIME_MAX, TIME_MIN
from protocol.codec import encode
from protocol.models import (
    MAX_VOTES_PER_BATCH,
    CheckOutcome,
    FollowUp,
    SelfTestCheck,
    SelfTestReport,
    Status,
    StatusMessage,
    Telemetry,
    Vote,
    VoteBatch,
)
from protocol.topics import TopicKind, kiosk_topic

KIOSK = "k-prop"
#: What a valid message may still be refused for, once in the store.
STORE_REASONS = {"store-failed", "vote-before-registration", "vote-in-future"}

offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def _in(edge: datetime, tz: timezone) -> datetime:
    return edge.astimezone(tz)


times = st.one_of(
    st.builds(lambda naive, tz: naive.replace(tzinfo=tz),
              st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2099, 12, 30)), offsets),
    st.builds(_in, st.sampled_from([TIME_MIN, TIME_MAX - timedelta(microseconds=1)]), offsets),
    st.builds(lambda delta, tz: (datetime.now(UTC) + timedelta(seconds=delta)).astimezone(tz),
              st.integers(-400 * 86400, 3600), offsets),
)
texts = st.text(max_size=64)
big = st.integers(min_value=0, max_value=2**70)


@st.composite
def votes(draw: st.DrawFn) -> Vote:
    scale = draw(st.integers(2, 5))
    return Vote(
        id=draw(st.uuids()), seq=draw(st.integers(1, 2**53)), answer=draw(st.integers(1, scale)), scale=scale,
        question=draw(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,63}", fullmatch=True)), ts=draw(times),
        clock_synced=draw(st.booleans()), misuse=draw(st.booleans()), boot_id=draw(st.none() | texts),
        mono_ms=draw(st.none() | big),
        followup=draw(st.none() | st.builds(FollowUp, answer=st.sampled_from([None, "yes", "no"]))),
    )


def _full(vote: Vote, base: int) -> list[Vote]:
    """A batch of the most votes one may hold: ``vote`` again and again, with ids of its own."""
    return [vote.model_copy(update={"id": uuid.UUID(int=(base + i) % 2**128)}) for i in range(MAX_VOTES_PER_BATCH)]


batches = st.builds(lambda vs, sent: VoteBatch(kiosk_id=KIOSK, sent_at=sent, votes=vs),
                    st.lists(votes(), min_size=1, max_size=8, unique_by=lambda v: v.id)
                    | st.builds(_full, votes(), st.integers(0, 2**128 - 1)),
                    times)
statuses = st.builds(StatusMessage, status=st.sampled_from(list(Status)), ts=times, version=st.none() | texts)
heartbeats = st.builds(
    Telemetry, ts=times, uptime_s=st.floats(0, 1e12), version=texts, outbox_depth=big,
    oldest_unsent_age_s=st.none() | st.floats(0, 1e12), clock_synced=st.none() | st.booleans(),
    free_disk_bytes=st.none() | big, cpu_temp_c=st.none() | st.floats(-1e6, 1e6),
    config_version=st.none() | texts, config_rejected=st.none() | st.text(max_size=300),
    disk_low=st.none() | st.booleans(), votes_refused=st.none() | big, boot_id=st.none() | texts,
    clock_offset_s=st.none() | st.floats(-1e12, 1e12),
)
checks = st.builds(SelfTestCheck, name=st.from_regex(r"[a-z][a-z0-9_-]{0,31}", fullmatch=True),
                   outcome=st.sampled_from([CheckOutcome.PASSED, CheckOutcome.SKIPPED]),
                   detail=st.text(max_size=500))
selftests = st.builds(lambda cs, ts, failed, version, who: SelfTestReport(
    ts=ts, passed=not failed, version=version, technician=who,
    checks=[*cs, *([SelfTestCheck(name="disk", outcome=CheckOutcome.FAILED)] if failed else [])]),
    st.lists(checks, min_size=1, max_size=31), times, st.booleans(), st.none() | texts,
    st.none() | st.text(max_size=100))
KINDS: dict[type, TopicKind] = {VoteBatch: TopicKind.VOTES, StatusMessage: TopicKind.STATUS,
                                 Telemetry: TopicKind.TELEMETRY, SelfTestReport: TopicKind.SELFTEST}
messages = st.lists(st.one_of(batches, statuses, heartbeats, selftests), min_size=1, max_size=4)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = migrated_engine(database_url)
    register(engine, {KIOSK: ("fs-prop", "971")}, since=datetime.now(UTC) - timedelta(days=200))
    yield engine
    engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(bodies=messages)
def test_every_valid_message_is_stored_or_a_reject(engine: Engine, bodies: list[BaseModel]) -> None:
    store = Store(engine, rejects_per_kiosk_per_minute=0)
    now = datetime.now(UTC)
    incoming = [Incoming(kiosk_topic(KIOSK, KINDS[type(b)]), encode(b), now) for b in bodies]
    outcome = store.ingest(incoming)
    assert set(outcome.rejected) <= STORE_REASONS, outcome.rejected
    sent = [v.id for b in bodies if isinstance(b, VoteBatch) for v in b.votes]
    stored, rejected = outcome.receipts.get(KIOSK, ([], []))
    assert sorted(stored + rejected) == sorted(sent)  # every vote accounted for, once
    assert outcome.stored + outcome.duplicates == len(stored)
