"""What ``borne demo`` needs for its dashboard: weeks of past votes, and a user to sign in with.

Past votes are what the demo's kiosks would have sent over the last weeks, as wire payloads, ingested through
the collector's store (the path the broker's messages take) before the simulated kiosks start voting live, so
that the trend and the heatmap have weeks to show. Visitors come during opening hours, in the espace's own time
zone (Monday to Saturday, 8:00 to 18:00, busier in the morning); each espace has its own satisfaction. A burst
of unhappy visitors at one espace raises an alert, so that staff see one.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from collector.alerts import evaluate
from collector.auth import add_user, issue_token
from collector.db.engine import session_factory
from collector.db.models import Espace, Kiosk, User
from collector.db.models import Vote as StoredVote
from collector.ingest.store import Incoming, Store
from collector.metrics import Metrics
from collector.registry.geography import PARIS, timezone_of
from protocol.codec import encode
from protocol.models import MAX_VOTES_PER_BATCH, FollowUp, Vote, VoteBatch
from protocol.topics import TopicKind, kiosk_topic

_LOG = logging.getLogger(__name__)

#: Local hours at which visitors come, repeated by how busy they are.
_HOURS = (9, 9, 10, 10, 10, 11, 11, 11, 12, 14, 14, 15, 15, 16, 17)
HISTORY_BOOT_ID = "demo-history"
ALERT_BOOT_ID = "demo-alert"


def happiness_of(espace_id: str) -> float:
    """A stable share of satisfied visitors for an espace, between 0.78 and 0.99."""
    return 0.78 + (uuid.uuid5(uuid.NAMESPACE_URL, espace_id).int % 22) / 100


def history(kiosk_id: str, happiness: float, *, days: int, until: datetime, visitors_per_day: int = 25,
            rng: random.Random | None = None, zone: ZoneInfo = PARIS) -> list[VoteBatch]:
    """Votes of ``kiosk_id`` over the ``days`` days before ``until``, at local hours of ``zone`` (the espace's),
    in batches as its uplink sends."""
    rng = rng or random.Random(kiosk_id)
    votes: list[Vote] = []
    first = (until.astimezone(zone) - timedelta(days=days)).date()
    for day in range(days):
        local_day = first + timedelta(days=day)
        if local_day.weekday() == 6:
            continue
        drift = 0.04 * (day / max(days - 1, 1) - 0.5)  # a slow improvement over the period
        for _ in range(rng.randint(visitors_per_day // 2, visitors_per_day)):
            local = datetime(local_day.year, local_day.month, local_day.day, rng.choice(_HOURS), rng.randint(0, 59),
                             tzinfo=zone)
            ts = local.astimezone(UTC)
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
        espaces = {k: (e, d) for k, e, d in session.execute(
            select(Kiosk.id, Kiosk.espace_id, Espace.departement).join(Espace, Espace.id == Kiosk.espace_id)
            .where(Kiosk.id.in_(kiosk_ids)))}
    store = Store(engine, metrics)
    now = datetime.now(UTC)
    stored = 0
    for kiosk_id in kiosk_ids:
        if kiosk_id not in espaces:
            continue
        espace_id, departement = espaces[kiosk_id]
        batches = history(kiosk_id, happiness_of(espace_id), days=days, until=now - timedelta(hours=1),
                          zone=timezone_of(departement))
        topic = kiosk_topic(kiosk_id, TopicKind.VOTES)
        stored += store.ingest([Incoming(topic, encode(batch), now) for batch in batches]).stored
    _LOG.info("%d past votes of %d kiosks ingested", stored, len(espaces))
    return stored


def raise_an_alert(engine: Engine, kiosk_id: str, *, metrics: Metrics | None = None) -> int:
    """Six unhappy visitors at ``kiosk_id`` over the last minutes, then the alert rules: the dashboard has an
    alert to show from the start (the rules clear it a quarter of an hour later). Returns the alerts raised."""
    now = datetime.now(UTC)
    votes = [Vote(id=uuid.uuid4(), seq=i + 1, answer=1, scale=4, ts=now - timedelta(minutes=9 - i),
                  clock_synced=True, boot_id=ALERT_BOOT_ID) for i in range(6)]
    batch = VoteBatch(kiosk_id=kiosk_id, sent_at=now, votes=votes)
    Store(engine, metrics).ingest([Incoming(kiosk_topic(kiosk_id, TopicKind.VOTES), encode(batch), now)])
    with session_factory(engine)() as session, session.begin():
        return len(evaluate(session, now).raised)


def sign_in_token(engine: Engine, name: str) -> str:
    """A new API token for the national partner ``name`` (made if missing), to sign in on the dashboard."""
    with session_factory(engine)() as session, session.begin():
        user = session.scalar(select(User).where(User.name == name)) or add_user(session, name, "national")
        return issue_token(session, user)
