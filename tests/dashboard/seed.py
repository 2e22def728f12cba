"""A collector's database filled for the dashboard: espaces, kiosks, votes, status, telemetry, alerts, users.

Everything goes through the real paths: the registry, ``Store.ingest`` with wire payloads (as the broker
delivers them), ``collector.alerts.evaluate`` and ``collector.auth``. The API is served by
:func:`devtools.dashboard.serve`.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from collector.alerts import evaluate
from collector.auth import add_user, issue_token
from collector.db.engine import session_factory
from collector.db.models import Rollout
from collector.ingest.store import Incoming, Store
from collector.registry.espaces import add_espace, add_kiosk
from protocol.codec import encode
from protocol.models import FollowUp, StatusMessage, Telemetry, VoteBatch
from protocol.models import Vote as WireVote
from protocol.topics import TopicKind, kiosk_topic

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Place:
    espace_id: str
    name: str
    departement: str
    happiness: float  # probability that a visitor answers 3 or 4 of 4
    visitors_per_day: int = 20


@dataclass
class Seeded:
    tokens: dict[str, str] = field(default_factory=dict)  # user name -> token
    kiosks: dict[str, str] = field(default_factory=dict)  # kiosk id -> espace id


def _incoming(kiosk_id: str, kind: TopicKind, payload: bytes, received_at: datetime) -> Incoming:
    return Incoming(kiosk_topic(kiosk_id, kind), payload, received_at)


def _votes(place: Place, days: int, now: datetime, rng: random.Random) -> list[WireVote]:
    votes = []
    for back in range(days, -1, -1):
        day = (now - timedelta(days=back)).replace(hour=0, minute=0, second=0, microsecond=0)
        if day.weekday() == 6:
            continue
        for _ in range(rng.randint(place.visitors_per_day // 2, place.visitors_per_day)):
            ts = day + timedelta(hours=rng.choice([8, 9, 9, 10, 10, 10, 11, 11, 13, 14, 14, 15, 16, 17]),
                                 minutes=rng.randint(0, 59))
            if ts >= now - timedelta(minutes=30):
                continue  # keep the last half hour for the alert's votes
            happy = rng.random() < place.happiness
            answer = rng.choice([3, 4]) if happy else rng.choice([1, 2])
            followup = None
            if rng.random() < 0.3:
                followup = FollowUp(answer=rng.choice(["yes", "yes", "no", None]))
            votes.append((ts, answer, followup))
    votes.sort(key=lambda v: v[0])
    return [WireVote(id=uuid.uuid4(), seq=i + 1, answer=a, scale=4, ts=ts, clock_synced=True, followup=f)
            for i, (ts, a, f) in enumerate(votes)]


def seed(engine: Engine, places: list[Place], *, days: int = 20, seed_value: int = 6,
         offline: tuple[str, ...] = (), unhappy_now: tuple[str, ...] = (),
         users: dict[str, tuple[str, str | None]] | None = None, rollouts: bool = True) -> Seeded:
    """Fill ``engine``: one kiosk a place, ``days`` days of votes, status and telemetry, alerts, users.

    ``offline``: espaces whose kiosk is offline; ``unhappy_now``: espaces given 6 unhappy votes in the last
    minutes (so that the ``unhappy`` alert fires); ``users``: name -> (role, scope); ``rollouts``: three
    software rollouts (active and stalled, paused, rolled back), the first two kiosks' heartbeats saying
    where they are in the active one (one updated, one rolled back by itself).
    """
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    out = Seeded()
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        for i, place in enumerate(places):
            add_espace(session, place.espace_id, place.name, place.departement)
            kiosk_id = f"kiosk-{i + 1:03d}"
            add_kiosk(session, kiosk_id, place.espace_id, now=now - timedelta(days=days + 1))
            out.kiosks[kiosk_id] = place.espace_id
    store = Store(engine)
    for kiosk_id, espace_id in out.kiosks.items():
        place = next(p for p in places if p.espace_id == espace_id)
        votes = _votes(place, days, now, rng)
        if espace_id in unhappy_now:
            start = votes[-1].seq + 1 if votes else 1
            votes += [WireVote(id=uuid.uuid4(), seq=start + j, answer=1, scale=4,
                               ts=now - timedelta(minutes=5 - j * 0.5), clock_synced=True) for j in range(6)]
        batches = [VoteBatch(kiosk_id=kiosk_id, sent_at=now, votes=votes[k:k + 500]) for k in range(0, len(votes), 500)]
        messages = [_incoming(kiosk_id, TopicKind.VOTES, encode(batch), now) for batch in batches]
        status = "offline" if espace_id in offline else "online"
        seen = now - timedelta(hours=3) if status == "offline" else now - timedelta(seconds=rng.randint(5, 50))
        release = {} if not rollouts else {
            "kiosk-001": {"release": "0.2.0", "update_result": "installed 0.2.0"},
            "kiosk-002": {"release_desired": "0.2.0",
                          "update_result": "rolled_back 0.2.0: not confirmed within 120 s"},
        }.get(kiosk_id, {})
        messages.append(_incoming(kiosk_id, TopicKind.TELEMETRY, encode(Telemetry(
            ts=seen, uptime_s=3600, version="0.1.0", outbox_depth=rng.randint(3, 40) if status == "offline" else 0,
            **release,
        )), seen))
        messages.append(_incoming(kiosk_id, TopicKind.STATUS, encode(StatusMessage(status=status, ts=seen,
                                                                                  version="0.1.0")), seen))
        outcome = store.ingest(messages)
        assert not outcome.rejected, outcome.rejected
    with sessions() as session, session.begin():
        if rollouts:
            _rollouts(session, list(out.kiosks), now)
        evaluate(session, now)
        for name, (role, scope) in (users or {}).items():
            out.tokens[name] = issue_token(session, add_user(session, name, role, scope))
    return out


def _rollouts(session: Any, kiosk_ids: list[str], now: datetime) -> None:
    for days, rollout_id, version, stage, target, state, kiosks in [
        (9, "r-20261120T090000-a1b2", "0.1.1", "kiosk", kiosk_ids[0], "rolled_back", kiosk_ids[:1]),
        (5, "r-20261124T090000-c3d4", "0.1.2", "percent", "10", "paused", kiosk_ids[-1:]),
        (0.2, "r-20261129T090000-e5f6", "0.2.0", "all", None, "active", kiosk_ids),
    ]:
        started = now - timedelta(days=days)
        session.add(Rollout(id=rollout_id, version=version, stage=stage, target=target, state=state,
                            kiosks=dict.fromkeys(kiosks), created_at=started, updated_at=started,
                            created_by="partenaire"))
