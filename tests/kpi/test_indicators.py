"""KPI figures against an independent pandas computation on generated votes, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from collector.auth import Level
from collector.db.engine import session_factory
from collector.kpi import indicators
from collector.kpi.selection import Selection
from collector.kpi.targets import set_target
from devtools.builders import migrated_engine
from tests.kpi.fleet import Generated, build

FREQ = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q", "year": "Y"}


@pytest.fixture
def generated(database_url: str) -> Iterator[Generated]:
    engine = migrated_engine(database_url)
    try:
        yield build(engine)
    finally:
        engine.dispose()


def wilson_by_roots(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson bounds as the roots of (p_hat - p)^2 = z^2 p (1 - p) / n, solved numerically."""
    p_hat = k / n
    a = 1 + z * z / n
    b = -(2 * p_hat + z * z / n)
    c = p_hat * p_hat
    roots = sorted(np.roots([a, b, c]).real)
    return max(0.0, roots[0]), min(1.0, roots[1])


def expected(votes: pd.DataFrame, granularity: str, *, start: date | None = None, end: date | None = None,
             include_misuse: bool = False, where: dict[str, Any] | None = None) -> pd.DataFrame:
    v = votes if include_misuse else votes[~votes["misuse"]]
    for column, value in (where or {}).items():
        v = v[v[column] == value]
    if start:
        v = v[v["day"] >= start]
    if end:
        v = v[v["day"] < end]
    v = v.assign(sat=v["answer"] > (v["scale"] + 1) / 2, w=(v["answer"] - 1) / (v["scale"] - 1) * 100,
                 yes=v["followup"] == "yes", no=v["followup"] == "no", asked=v["followup"].notna())
    v["period"] = pd.PeriodIndex(pd.to_datetime(v["day"]), freq=FREQ[granularity]).start_time.date
    out = v.groupby("period").agg(votes=("sat", "size"), satisfied=("sat", "sum"), index=("w", "mean"),
                                  yes=("yes", "sum"), no=("no", "sum"), asked=("asked", "sum"))
    out["rate"] = out["satisfied"] / out["votes"]
    out["resolution"] = out["yes"] / (out["yes"] + out["no"]).replace(0, np.nan)
    return out


def check_series(series: pd.DataFrame, exp: pd.DataFrame) -> None:
    assert list(series["period"]) == list(exp.index)
    assert list(series["votes"]) == list(exp["votes"])
    assert list(series["satisfied"]) == list(exp["satisfied"])
    assert np.allclose(series["rate"].astype(float), exp["rate"])
    assert np.allclose(series["index"].astype(float), exp["index"])
    assert list(series["followup_asked"]) == list(exp["asked"])
    assert np.allclose(series["resolution_rate"].astype(float), exp["resolution"], equal_nan=True)
    for (_, row), (k, n) in zip(series.iterrows(), zip(exp["satisfied"], exp["votes"], strict=True), strict=True):
        low, high = wilson_by_roots(int(k), int(n))
        assert math.isclose(row["wilson_low"], low, abs_tol=1e-9)
        assert math.isclose(row["wilson_high"], high, abs_tol=1e-9)


@pytest.mark.parametrize("granularity", ["day", "week", "month", "quarter", "year"])
def test_national_series_matches_pandas(generated: Generated, granularity: str) -> None:
    with session_factory(generated.engine)() as session:
        result = indicators.satisfaction(session, Selection(), granularity)
    check_series(result.series, expected(generated.votes, granularity))
    votes = generated.votes[~generated.votes["misuse"]]
    assert result.total["votes"] == len(votes)


@pytest.mark.parametrize(("level", "code", "column"), [
    (Level.ESPACE, "fs-22a", "espace"),
    (Level.DEPARTEMENT, "2A", "departement"),
    (Level.DEPARTEMENT, "971", "departement"),
    (Level.REGION, "53", "region"),
])
def test_levels_and_period_match_pandas(generated: Generated, level: Level, code: str, column: str) -> None:
    start, end = date(2024, 2, 1), date(2024, 5, 1)
    with session_factory(generated.engine)() as session:
        result = indicators.satisfaction(session, Selection.make(session, level, code, start=start, end=end),
                                         "month")
        with_misuse = indicators.satisfaction(
            session, Selection.make(session, level, code, start=start, end=end, include_misuse=True), "month")
    check_series(result.series, expected(generated.votes, "month", start=start, end=end, where={column: code}))
    check_series(with_misuse.series, expected(generated.votes, "month", start=start, end=end, include_misuse=True,
                                              where={column: code}))
    assert with_misuse.total["votes"] > result.total["votes"]


def test_target_attainment_per_level(generated: Generated) -> None:
    with session_factory(generated.engine)() as session, session.begin():
        default = indicators.satisfaction(session, Selection.make(session, "departement", "22"), "quarter")
        assert default.target == 95.0
        set_target(session, "departement", None, 10.0)
        set_target(session, "departement", "29", 99.9)
        lowered = indicators.satisfaction(session, Selection.make(session, "departement", "22"), "quarter")
        strict = indicators.satisfaction(session, Selection.make(session, "departement", "29"), "quarter")
        national = indicators.satisfaction(session, Selection(), "quarter")
    assert lowered.target == 10.0 and all(lowered.series["attained"])
    assert strict.target == 99.9 and not any(strict.series["attained"])
    assert national.target == 95.0
    rates = default.series["rate"]
    assert list(default.series["attained"]) == [r * 100 >= 95.0 for r in rates]


def test_ranking_heatmap_and_trend(generated: Generated) -> None:
    votes = generated.votes[~generated.votes["misuse"]]
    with session_factory(generated.engine)() as session:
        ranked = indicators.ranking(session, Selection.make(session, "region", "53"), by="rate")
        heat = indicators.heatmap(session, Selection())
        result = indicators.satisfaction(session, Selection(), "month")
    mine = votes[votes["region"] == "53"].assign(sat=lambda v: v["answer"] > (v["scale"] + 1) / 2)
    exp_rates = mine.groupby("espace")["sat"].mean().sort_values(ascending=False)
    assert list(ranked["espace_id"]) == list(exp_rates.index)
    assert np.allclose(ranked["rate"].astype(float), exp_rates.values)
    assert list(ranked["rank"]) == [1, 2, 3]

    exp_heat = votes.assign(weekday=[d.weekday() for d in votes["day"]]).groupby(["weekday", "hour"]).size()
    got = heat.set_index(["weekday", "hour"])["votes"]
    assert got.sort_index().to_dict() == exp_heat.sort_index().to_dict()

    rates = expected(generated.votes, "month")["rate"].to_numpy()
    slope = np.polyfit(np.arange(len(rates)), rates, 1)[0] * 100
    assert math.isclose(result.trend_pp or 0.0, slope, rel_tol=1e-6, abs_tol=1e-9)
