"""KPIs at the edges: periods without votes, the period not over yet, local days, the published number format."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from collector.api.app import create_app
from collector.db.engine import session_factory
from collector.ingest.store import Incoming, Store
from collector.kpi import barometer, indicators
from collector.kpi.selection import Selection
from collector.kpi.stats import Granularity, is_complete, local_today, trend, wilson, wilson_bounds
from devtools.builders import admin_token, bearer, migrated_engine, register, wire_batch
from protocol.topics import TopicKind, kiosk_topic

PUBLISHED = Path(__file__).resolve().parents[3] / "shared" / "data" / "france-services" / "ind-246.csv"
#: How the published IND-246 writes a number: at most 2 decimals, at least one, no trailing zero after the first.
PUBLISHED_NUMBER = re.compile(r"^-?\d+\.(0|\d?[1-9])$")


def ingest(engine: Engine, kiosk: str, answers: list[int], ts: datetime, start_seq: int) -> None:
    batch = wire_batch(kiosk, answers, start_seq=start_seq, ts=ts)
    outcome = Store(engine).ingest([Incoming(kiosk_topic(kiosk, TopicKind.VOTES),
                                             batch.model_dump_json().encode(), ts)])
    assert outcome.stored == len(answers)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = migrated_engine(database_url)
    register(engine, {"k-22": ("fs-22", "22"), "k-971": ("fs-971", "971")})
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.parametrize(("points", "granularity", "slope"), [
    ([(date(2024, 1, 1), 0.9), (date(2024, 3, 1), 0.7)], Granularity.MONTH, -10.0),
    ([(date(2024, 1, 1), 0.9), (date(2024, 2, 1), 0.8), (date(2024, 3, 1), 0.7)], Granularity.MONTH, -10.0),
    ([(date(2023, 12, 25), 0.5), (date(2024, 1, 8), 0.7)], Granularity.WEEK, 10.0),
    ([(date(2024, 2, 28), 0.5), (date(2024, 3, 1), 0.6)], Granularity.DAY, 5.0),
    ([(date(2023, 10, 1), 0.8), (date(2024, 4, 1), 0.9)], Granularity.QUARTER, 5.0),
    ([(date(2024, 1, 1), 0.8)], Granularity.MONTH, None),
])
def test_the_trend_counts_calendar_periods(points: list[tuple[date, float]], granularity: Granularity,
                                           slope: float | None) -> None:
    assert trend(points, granularity) == (pytest.approx(slope) if slope is not None else None)


@pytest.mark.parametrize(("period", "granularity", "today", "end", "complete"), [
    (date(2024, 2, 1), Granularity.MONTH, date(2024, 3, 1), None, True),
    (date(2024, 3, 1), Granularity.MONTH, date(2024, 3, 1), None, False),
    (date(2024, 3, 1), Granularity.MONTH, date(2024, 3, 31), None, False),
    (date(2024, 3, 1), Granularity.MONTH, date(2024, 5, 1), date(2024, 3, 15), False),
    (date(2024, 2, 26), Granularity.WEEK, date(2024, 3, 4), date(2024, 3, 4), True),
])
def test_a_period_is_complete_once_over(period: date, granularity: Granularity, today: date, end: date | None,
                                        complete: bool) -> None:
    assert is_complete(period, granularity, today=today, end=end) is complete


def test_today_is_the_day_of_the_zone_furthest_behind() -> None:
    # 02:00 UTC on 1 December: already December in Paris and La Réunion, still 30 November in Guadeloupe.
    assert local_today(datetime(2026, 12, 1, 2, 0, tzinfo=UTC)) == date(2026, 11, 30)


def test_a_month_without_votes_still_counts_in_the_trend(engine: Engine) -> None:
    ingest(engine, "k-22", [4] * 9 + [1], datetime(2024, 1, 15, 10, tzinfo=UTC), 1)
    ingest(engine, "k-22", [4] * 7 + [1] * 3, datetime(2024, 3, 15, 10, tzinfo=UTC), 11)
    with session_factory(engine)() as session:
        result = indicators.satisfaction(session, Selection(), "month", today=date(2024, 6, 1))
    assert list(result.series["period"]) == [date(2024, 1, 1), date(2024, 3, 1)]
    assert result.trend_pp == pytest.approx(-10.0)


def test_the_period_not_over_is_marked_and_left_out_of_the_trend_and_ind246(engine: Engine) -> None:
    ingest(engine, "k-22", [4] * 9 + [1], datetime(2024, 1, 15, 10, tzinfo=UTC), 1)
    ingest(engine, "k-22", [4] * 8 + [1] * 2, datetime(2024, 2, 15, 10, tzinfo=UTC), 11)
    ingest(engine, "k-22", [4], datetime(2024, 3, 1, 10, tzinfo=UTC), 21)  # one day of a new month
    with session_factory(engine)() as session:
        result = indicators.satisfaction(session, Selection(), "month", today=date(2024, 3, 1))
        frame = barometer.ind246(session, today=date(2024, 3, 1))
    assert list(result.series["complete"]) == [True, True, False]
    assert result.trend_pp == pytest.approx(-10.0)  # January and February only
    assert result.total["votes"] == 21  # the total keeps every vote
    d22 = frame[frame["enforce_zone_id"] == "D22"]
    current = d22[d22["indic_va"].notna()]
    assert list(current["metric_enforce_date"]) == ["2024-01-01", "2024-02-01"]
    assert list(current["indic_va"]) == [90.0, 80.0]
    assert list(current["indic_ta"].dropna()) == [barometer.progress(0.0, 80.0, 95.0)]


def test_espace_satisfaction_reads_local_days_like_the_kpis(engine: Engine) -> None:
    # 22:00 on 29 February in Guadeloupe (UTC-4) is 02:00 on 1 March in UTC.
    ingest(engine, "k-971", [4, 1], datetime(2024, 3, 1, 2, 0, tzinfo=UTC), 1)
    params = {"from": "2024-02-29", "to": "2024-03-01"}
    with TestClient(create_app(engine)) as client:
        headers = bearer(admin_token(engine))
        espace = client.get("/api/v1/espaces/fs-971/satisfaction", params=params, headers=headers).json()
        kpi = client.get("/api/v1/kpi/satisfaction", params={**params, "level": "espace", "code": "fs-971"},
                         headers=headers).json()
    assert kpi["total"]["votes"] == 2
    assert espace["votes"] == kpi["total"]["votes"]
    assert espace["satisfied"] == kpi["total"]["satisfied"]
    assert espace["start"] == "2024-02-29T04:00:00Z"


def test_ind246_writes_numbers_as_the_published_file(engine: Engine) -> None:
    ingest(engine, "k-22", [4] * 2 + [1], datetime(2024, 1, 15, 10, tzinfo=UTC), 1)
    ingest(engine, "k-22", [4] * 4, datetime(2024, 2, 15, 10, tzinfo=UTC), 4)
    with session_factory(engine)() as session:
        text = barometer.to_csv(barometer.ind246(session, today=date(2024, 6, 1)))
    rows = [line.split(",") for line in text.splitlines()[1:]]
    d22 = [r for r in rows if r[1] == "D22"]
    assert d22 == [
        ["IND-246", "D22", "2024-01-01", "DEPT", "0.0", "", "", ""],
        ["IND-246", "D22", "2024-01-01", "DEPT", "", "66.67", "", ""],
        ["IND-246", "D22", "2024-02-01", "DEPT", "", "100.0", "", "100.0"],
        ["IND-246", "D22", "2026-12-01", "DEPT", "", "", "95.0", ""],
    ]
    assert all(PUBLISHED_NUMBER.match(cell) for row in rows for cell in row[4:] if cell)


@pytest.mark.skipif(not PUBLISHED.exists(), reason="the public IND-246 file is not here")
def test_the_published_file_follows_the_same_pattern() -> None:
    published = pd.read_csv(PUBLISHED, dtype=str, keep_default_na=False)
    cells = [c for column in ("indic_vi", "indic_va", "indic_vc", "indic_ta") for c in published[column] if c]
    assert cells and all(PUBLISHED_NUMBER.match(c) for c in cells)


def test_wilson_bounds_of_a_column_are_the_scalar_ones_to_the_bit() -> None:
    rng = random.Random(2)
    pairs = [(0, 1), (1, 1), (3, 3), (0, 3), (980, 1000), (1, 2), (0, 0)]
    pairs += [(k, n) for n in (rng.randrange(1, 10_000_000) for _ in range(5000)) for k in (rng.randrange(n + 1),)]
    low, high = wilson_bounds(pd.Series([k for k, _ in pairs]), pd.Series([n for _, n in pairs]))
    for (k, n), lo, hi in zip(pairs, low, high, strict=True):
        expected = wilson(k, n)
        if n == 0:
            assert math.isnan(lo) and math.isnan(hi) and expected == (None, None)
        else:
            assert (lo, hi) == expected, (k, n)
