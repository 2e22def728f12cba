"""Alert rules: unhappy bursts at an espace, kiosks offline during opening hours; raised once, then cleared."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from collector.alerts import OFFLINE, UNHAPPY, evaluate, open_time, opening_intervals
from collector.api.app import create_app
from collector.db.engine import session_factory
from collector.db.models import Espace, Kiosk
from collector.ingest.store import Incoming, Store
from devtools.builders import admin_token, bearer, migrated_engine, register, wire_batch
from protocol.topics import TopicKind, kiosk_topic

HOURS = {"lundi": "09:00 - 12:00 / 13:30 - 17:00", "mardi": "09:00 - 12:00", "samedi": "09h00 - 12h00"}
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22"), "k-2": ("fs-2", "22"), "k-3": ("fs-3", "29")})
    with session_factory(engine)() as session, session.begin():
        session.execute(update(Espace).values(hours=HOURS))
    try:
        yield engine
    finally:
        engine.dispose()


def send(engine: Engine, kiosk: str, answers: list[int], ts: datetime, start_seq: int = 1) -> None:
    batch = wire_batch(kiosk, answers, ts=ts, start_seq=start_seq)
    Store(engine).ingest([Incoming(kiosk_topic(kiosk, TopicKind.VOTES), batch.model_dump_json().encode(), ts)])


@pytest.mark.parametrize(("weekday", "expected"), [(0, 2), (1, 1), (5, 1), (6, 0)])
def test_opening_intervals(weekday: int, expected: int) -> None:
    assert len(opening_intervals(HOURS, weekday)) == expected


def test_open_time_counts_only_opening_hours() -> None:
    monday = datetime(2024, 3, 4, 8, 0, tzinfo=PARIS)  # a Monday
    assert open_time(HOURS, PARIS, monday, monday + timedelta(hours=4)) == timedelta(hours=3)  # 9-12
    assert open_time(HOURS, PARIS, monday, monday + timedelta(days=1, hours=4)) == timedelta(hours=9.5)
    assert open_time(None, PARIS, monday, monday + timedelta(days=3)) == timedelta()


def test_unhappy_burst_is_raised_once_and_cleared(engine: Engine) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    send(engine, "k-1", [1, 2, 1, 4], now - timedelta(minutes=5))  # 3 unhappy of 4
    send(engine, "k-2", [1, 4, 4, 4], now - timedelta(minutes=5))  # 1 of 4
    send(engine, "k-3", [1, 1, 1], now - timedelta(minutes=5))  # too few votes
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        first = evaluate(session, now)
        assert [(a.rule, a.espace_id) for a in first.raised] == [(UNHAPPY, "fs-1")]
    with sessions() as session, session.begin():
        assert evaluate(session, now + timedelta(minutes=1)).raised == []  # still open: not raised again
    with sessions() as session, session.begin():
        later = evaluate(session, now + timedelta(minutes=30))  # out of the window
        assert [a.subject for a in later.cleared] == ["espace:fs-1"]
    token = admin_token(engine, "prefecture", "22")
    with TestClient(create_app(engine)) as client:
        listed = client.get("/api/v1/alerts", headers=bearer(token)).json()
        other = client.get("/api/v1/alerts", headers=bearer(admin_token(engine, "prefecture", "29"))).json()
    assert [(a["rule"], a["espace_id"]) for a in listed] == [(UNHAPPY, "fs-1")]
    assert listed[0]["raised_at"] and listed[0]["cleared_at"]
    assert other == []


def test_kiosk_offline_during_opening_hours(engine: Engine) -> None:
    monday_8h = datetime(2024, 3, 4, 8, 0, tzinfo=PARIS).astimezone(UTC)
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        session.execute(update(Kiosk).values(status="online", last_seen=monday_8h, status_at=monday_8h))
        session.execute(update(Kiosk).where(Kiosk.id == "k-2").values(status="offline", status_at=monday_8h))
    with sessions() as session, session.begin():  # 10:30: 1.5 h of opening hours offline
        assert evaluate(session, monday_8h + timedelta(hours=2, minutes=30)).raised == []
    with sessions() as session, session.begin():  # 13:45: 3 h + 15 min within opening hours
        raised = evaluate(session, monday_8h + timedelta(hours=5, minutes=45)).raised
        assert sorted(a.subject for a in raised) == ["kiosk:k-1", "kiosk:k-2", "kiosk:k-3"]
        assert all(a.rule == OFFLINE for a in raised)
    with sessions() as session, session.begin():
        session.execute(update(Kiosk).where(Kiosk.id == "k-1").values(
            status="online", last_seen=monday_8h + timedelta(hours=6)))
    with sessions() as session, session.begin():
        result = evaluate(session, monday_8h + timedelta(hours=6))
        assert [a.subject for a in result.cleared] == ["kiosk:k-1"] and result.raised == []
