"""What ``borne demo`` needs for its dashboard: weeks of past votes, and a user to sign in with.

Past votes are what the demo's kiosks would have sent over the last weeks, as wire payloads, ingested through
the collector's store (the path the broker's messages take) before the simulated kiosks start voting live, so
that the trend and the heatmap have weeks to show. Visitors come during opening hours (Monday to Saturday,
busier in the morning); each espace has its own satisfaction.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from collector.auth import add_user, issue_token
from collector.db.engine import session_factory
from collector.db.models import Kiosk, User
from collector.db.models import Vote as StoredVote
from collector.metrics import Metrics
from collector.store import Incoming, Store
from protocol.codec import encode
from protocol.models import MAX_VOTES_PER_BATCH, FollowUp, Vote, VoteBatch
from protocol.topics import TopicKind, kiosk_topic

_LOG = logging.getLogger(__name__)

#: Local hours at which visitors come, repeated by how busy they are.
_HOURS = (9, 9, 10, 10, 10, 11, 11, 11, 12, 14, 14, 15, 15, 16, 17)
HISTORY_BOOT_ID = "demo-history"


def happiness_of(espace_id: str) -> float:
    """A stable share of satisfied visitors for an espace, between 0.78 and 0.99."""
    return 0.78 + (uuid.uuid5(uuid.NAMESPACE_URL, espace_id).int % 22) / 100


def history(kiosk_id: str, happiness: float, *, days: int, until: datetime, visitors_per_day: int = 25,
            rng: random.Random | None = None) -> list[VoteBatch]:
    """Votes of ``kiosk_id`` over the ``days`` days before ``until`` (UTC hours), in batches as its uplink sends."""
    rng = rng or random.Random(kiosk_id)  # noqa: S311 - sample data, not security
    votes: list[Vote] = []
    start = (until - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    for day in range(days):
        midnight = start + timedelta(days=day)
        if midnight.weekday() == 6:
            continue
        drift = 0.04 * (day / max(days - 1, 1) - 0.5)  # a slow improvement over the period
        for _ in range(rng.randint(visitors_per_day // 2, visitors_per_day)):
            ts = midnight + timedelta(hours=rng.choice(_HOURS) - 1, minutes=rng.randint(0, 59))
            if ts >= until:
                continue
            satisfied = rng.random() < min(0.995, happiness + drift)
            answer = rng.choice((3, 4, 4)) if satisfied else rng.choice((1, 2, 2))
            followup = FollowUp(answer=rng.choice(("yes", "yes", "yes", "no", None))) if rng.random() < 0.3 else None
            votes.append(Vote(id=uuid.uuid4(), seq=len(votes) + 1, answer=answer, scale=4, ts=ts,
                              clock_synced=True, boot_id=HISTORY_BOOT_ID, followup=followup))
    sent_at = datetime.now(UTC)
    return [VoteBatch(kiosk_id=kiosk_id, sent_at=sent_at, votes=votes[i:i + MAX_VOTES_PER_BATCH])
            for i in range(0, len(votes), MAX_VOTES_PER_BATCH)]


def fill_history(engine: Engine, kiosk_ids: list[str], days: int, *, metrics: Metrics | None = None) -> int:
    """Ingest ``days`` days of past votes for each kiosk (once: not again on a database that has them)."""
    if days <= 0:
        return 0
    sessions = session_factory(engine)
    with sessions() as session:
        if session.scalar(select(StoredVote.id).where(StoredVote.boot_id == HISTORY_BOOT_ID).limit(1)) is not None:
            return 0
        espaces = dict(session.execute(select(Kiosk.id, Kiosk.espace_id).where(Kiosk.id.in_(kiosk_ids))).tuples().all())
    store = Store(engine, metrics)
    now = datetime.now(UTC)
    stored = 0
    for kiosk_id in kiosk_ids:
        if kiosk_id not in espaces:
            continue
        batches = history(kiosk_id, happiness_of(espaces[kiosk_id]), days=days, until=now - timedelta(hours=1))
        topic = kiosk_topic(kiosk_id, TopicKind.VOTES)
        stored += store.ingest([Incoming(topic, encode(batch), now) for batch in batches]).stored
    _LOG.info("%d past votes of %d kiosks ingested", stored, len(espaces))
    return stored


def sign_in_token(engine: Engine, name: str) -> str:
    """A new API token for the national partner ``name`` (made if missing), to sign in on the dashboard."""
    with session_factory(engine)() as session, session.begin():
        user = session.scalar(select(User).where(User.name == name)) or add_user(session, name, "national")
        return issue_token(session, user)
