"""The demo's data: past votes within opening hours in each espace's own time zone, and an alert to see."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from collector.db.engine import session_factory
from collector.db.models import Alert
from devtools.builders import migrated_engine, register
from devtools.demo_data import fill_history, history, raise_an_alert


def test_past_votes_fall_in_opening_hours_in_the_espaces_time_zone() -> None:
    guadeloupe = ZoneInfo("America/Guadeloupe")
    batches = history("k-971", 0.9, days=14, until=datetime(2026, 11, 30, 23, tzinfo=UTC),
                      rng=random.Random(1), zone=guadeloupe)
    local = [v.ts.astimezone(guadeloupe) for b in batches for v in b.votes]
    assert len(local) > 100
    assert all(8 <= t.hour < 18 for t in local), sorted({t.hour for t in local})
    assert all(t.weekday() != 6 for t in local)  # closed on Sundays


def test_the_demo_raises_an_alert(tmp_path: object) -> None:
    engine = migrated_engine(f"sqlite:///{tmp_path}/demo.sqlite3")
    try:
        register(engine, {"kiosk-001": ("demo-22", "22"), "kiosk-002": ("demo-13", "13")})
        assert fill_history(engine, ["kiosk-001", "kiosk-002"], 3) > 0
        raise_an_alert(engine, "kiosk-002")
        with session_factory(engine)() as session:
            alerts = session.query(Alert).filter(Alert.cleared_at.is_(None)).all()
        assert [(a.rule, a.espace_id) for a in alerts] == [("unhappy", "demo-13")]
    finally:
        engine.dispose()
