"""Builders of test data and of running parts: a registered fleet, a collector, simulated kiosks."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from collector.config import Settings
from collector.db.engine import make_engine, session_factory
from collector.db.migrate import upgrade
from collector.db.models import Reject, Vote
from collector.registry.espaces import add_espace, add_kiosk
from collector.service import Collector
from protocol.models import Vote as WireVote
from protocol.models import VoteBatch


def migrated_engine(url: str) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine


#: When test kiosks are registered unless told: before any vote the tests date (the store refuses a synchronised
#: vote dated before its kiosk's registration).
REGISTERED = datetime(2020, 1, 1, tzinfo=UTC)


def register(engine: Engine, fleet: dict[str, tuple[str, str]], espaces: dict[str, str] | None = None, *,
             since: datetime = REGISTERED) -> None:
    """``fleet``: kiosk id -> (espace id, département), registered ``since``. Espaces are created as needed."""
    with session_factory(engine)() as session, session.begin():
        for kiosk_id, (espace_id, dep) in fleet.items():
            add_espace(session, espace_id, (espaces or {}).get(espace_id, f"France services {espace_id}"), dep)
            add_kiosk(session, kiosk_id, espace_id, now=since)


def collector_settings(url: str, port: int, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "data_dir": data_dir,
        "mqtt_port": port,
        "mqtt_client_id": f"test-collector-{uuid.uuid4().hex[:8]}",
        "api_port": 0,
    }
    values.update(overrides)
    return Settings(**values)


def start_collector(settings: Settings, *, api: bool = False) -> Collector:
    collector = Collector(settings).start(api=api)
    assert collector.ingest is not None
    assert collector.ingest.wait_connected(10), "the collector did not connect to the broker"
    return collector


def vote_counts(engine: Engine) -> dict[str, int]:
    """Votes stored per espace."""
    with session_factory(engine)() as session:
        rows = session.execute(select(Vote.espace_id, func.count()).group_by(Vote.espace_id)).all()
    return {espace: n for espace, n in rows}


def stored_ids(engine: Engine) -> list[str]:
    with session_factory(engine)() as session:
        return [str(i) for i in session.scalars(select(Vote.id))]


def rejects(engine: Engine) -> list[Reject]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(Reject).order_by(Reject.id)))


def wire_batch(kiosk_id: str, answers: Iterable[int], *, start_seq: int = 1, scale: int = 4,
               ts: datetime | None = None) -> VoteBatch:
    ts = ts or datetime.now(UTC)
    votes = [
        WireVote(id=uuid.uuid4(), seq=start_seq + i, answer=a, scale=scale, ts=ts, clock_synced=True)
        for i, a in enumerate(answers)
    ]
    return VoteBatch(kiosk_id=kiosk_id, sent_at=ts, votes=votes)


def api_satisfaction(engine: Engine, espace_id: str, **params: Any) -> dict[str, Any]:
    """What the API answers for an espace's satisfaction (through the real FastAPI app)."""
    from fastapi.testclient import TestClient

    from collector.api.app import create_app

    with TestClient(create_app(engine)) as client:
        response = client.get(f"/api/v1/espaces/{espace_id}/satisfaction", params=params,
                              headers=bearer(admin_token(engine)))
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def admin_token(engine: Engine, role: str = "admin", scope: str | None = None) -> str:
    """A fresh API token of a new user with ``role`` (admin by default) and ``scope``."""
    from collector.auth import add_user, issue_token

    with session_factory(engine)() as session, session.begin():
        user = add_user(session, f"test-{role}-{uuid.uuid4().hex[:8]}", role, scope)
        return issue_token(session, user)


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header of a token."""
    return {"Authorization": f"Bearer {token}"}
