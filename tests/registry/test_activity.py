"""Acts per espace and per département (IND-323), and participation: votes per act."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select

from collector.db.engine import session_factory
from collector.db.models import DepartementActivity, EspaceActivity
from collector.ingest.store import Incoming, Store
from collector.kpi import indicators
from collector.kpi.selection import Selection
from collector.registry.activity import import_activity
from devtools.builders import migrated_engine, register, wire_batch
from protocol.topics import TopicKind, kiosk_topic

ESPACE_CSV = b"""espace_id,month,actes
fs-1,2024-01,100
fs-1,2024-02-01,50
fs-2,2024-01,40
fs-2,2024-13,40
nope,2024-01,4
fs-2,2024-02,-3
"""
IND323_CSV = b"""indic_id,enforce_zone_id,metric_enforce_date,maille,indic_vi,indic_va,indic_vc,indic_ta
IND-323,D22,2024-01-01,DEPT,,1000.0,,
IND-323,D29,2024-01-01,DEPT,300.0,,,
IND-323,D29,2024-02-01,DEPT,,abc,,
IND-323,R53,2024-01-01,REG,,1300.0,,
IND-323,FRANCE,2024-01-01,NAT,,9999.0,,
IND-323,D22,2026-12-01,DEPT,,,2000.0,
"""


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = migrated_engine(database_url)
    register(engine, {"k-1": ("fs-1", "22"), "k-2": ("fs-2", "22"), "k-3": ("fs-3", "29")})
    try:
        yield engine
    finally:
        engine.dispose()


def votes(engine: Engine, kiosk: str, n: int, ts: datetime, start_seq: int = 1) -> None:
    batch = wire_batch(kiosk, [4] * n, ts=ts, start_seq=start_seq)
    Store(engine).ingest([Incoming(kiosk_topic(kiosk, TopicKind.VOTES), batch.model_dump_json().encode(),
                                   datetime.now(UTC))])


def test_imports_report_bad_rows_and_are_idempotent(engine: Engine) -> None:
    with session_factory(engine)() as session, session.begin():
        report = import_activity(session, ESPACE_CSV)
        assert (report.imported, [b.line for b in report.bad]) == (3, [5, 6, 7])
        dep = import_activity(session, IND323_CSV)
        assert (dep.imported, dep.skipped, [b.line for b in dep.bad]) == (2, 3, [4])
    with session_factory(engine)() as session, session.begin():
        import_activity(session, ESPACE_CSV)
        import_activity(session, IND323_CSV)
        assert session.scalar(select(func.count()).select_from(EspaceActivity)) == 3
        assert session.scalar(select(func.sum(DepartementActivity.actes))) == 1300


def test_participation_is_votes_per_act(engine: Engine) -> None:
    votes(engine, "k-1", 10, datetime(2024, 1, 10, 10, tzinfo=UTC))
    votes(engine, "k-1", 5, datetime(2024, 2, 10, 10, tzinfo=UTC), start_seq=11)
    votes(engine, "k-2", 4, datetime(2024, 1, 10, 10, tzinfo=UTC))
    votes(engine, "k-3", 30, datetime(2024, 1, 10, 10, tzinfo=UTC))
    with session_factory(engine)() as session, session.begin():
        import_activity(session, ESPACE_CSV)
        import_activity(session, IND323_CSV)
    with session_factory(engine)() as session:
        espace = indicators.participation(session, Selection.make(session, "espace", "fs-1"))
        dep22 = indicators.participation(session, Selection.make(session, "departement", "22"))
        region = indicators.participation(session, Selection.make(session, "region", "53"), "quarter")
    assert list(espace["period"]) == [date(2024, 1, 1), date(2024, 2, 1)]
    assert list(espace["participation"]) == [pytest.approx(0.10), pytest.approx(0.10)]
    # January: the département's own figure (1000); February: none, so the espaces' sum (50).
    assert list(dep22["actes"]) == [1000, 50] and list(dep22["votes"]) == [14, 5]
    assert list(region["votes"]) == [49] and list(region["actes"]) == [1000 + 300 + 50]
    with session_factory(engine)() as session, pytest.raises(ValueError, match="month"):
        indicators.participation(session, Selection(), "week")
