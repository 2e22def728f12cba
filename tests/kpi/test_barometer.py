"""IND-246 in the barometer's format, read back with pandas and checked against the generated votes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest

from collector.db.engine import session_factory
from collector.kpi import barometer
from devtools.builders import migrated_engine
from tests.kpi.fleet import Generated, build

PUBLISHED_HEADER = "indic_id,enforce_zone_id,metric_enforce_date,maille,indic_vi,indic_va,indic_vc,indic_ta"


@pytest.fixture
def fleet(database_url: str) -> Iterator[Generated]:
    engine = migrated_engine(database_url)
    try:
        yield build(engine, n=800)
    finally:
        engine.dispose()


@pytest.mark.parametrize(("vi", "va", "vc", "ta"), [(0.0, 99.11, 95.0, 100.0), (0.0, 76.67, 95.0, 80.71),
                                                    (80.0, 90.0, 95.0, 66.67), (0.0, -1.0, 95.0, 0.0)])
def test_progress_as_published(vi: float, va: float, vc: float, ta: float) -> None:
    assert barometer.progress(vi, va, vc) == ta


def test_ind246_reads_back_with_the_published_layout(fleet: Generated) -> None:
    with session_factory(fleet.engine)() as session:
        frame = barometer.ind246(session, date(2024, 1, 1), date(2024, 5, 1))
    text = barometer.to_csv(frame)
    assert text.splitlines()[0] == PUBLISHED_HEADER
    back = pd.read_csv(io.StringIO(text), dtype={"enforce_zone_id": str})
    assert set(back["indic_id"]) == {"IND-246"}
    assert {"D22", "D29", "D2A", "D971", "R53", "R94", "R01", "FRANCE"} == set(back["enforce_zone_id"])
    assert dict(back.groupby("enforce_zone_id")["maille"].first()) == {
        "D22": "DEPT", "D29": "DEPT", "D2A": "DEPT", "D971": "DEPT", "R01": "REG", "R53": "REG", "R94": "REG",
        "FRANCE": "NAT"}

    votes = fleet.votes[~fleet.votes["misuse"]]
    votes = votes[(votes["day"] >= date(2024, 1, 1)) & (votes["day"] < date(2024, 5, 1))]
    votes = votes.assign(sat=votes["answer"] > (votes["scale"] + 1) / 2,
                         month=[d.replace(day=1).isoformat() for d in votes["day"]])
    for zone, subset in (("D2A", votes[votes["departement"] == "2A"]), ("R53", votes[votes["region"] == "53"]),
                         ("FRANCE", votes)):
        rows = back[(back["enforce_zone_id"] == zone) & back["indic_va"].notna()]
        expected = (subset.groupby("month")["sat"].mean() * 100).round(2)
        assert list(rows["metric_enforce_date"]) == list(expected.index)
        assert list(rows["indic_va"]) == pytest.approx(list(expected.values), abs=0.006)
        last = rows.iloc[-1]
        assert last["indic_ta"] == pytest.approx(min(100.0, round(last["indic_va"] / 95.0 * 100, 2)), abs=0.01)
        assert rows["indic_ta"].notna().sum() == 1
        target = back[(back["enforce_zone_id"] == zone) & back["indic_vc"].notna()]
        assert list(target["indic_vc"]) == [95.0] and list(target["metric_enforce_date"]) == ["2026-12-01"]
        initial = back[(back["enforce_zone_id"] == zone) & back["indic_vi"].notna()]
        assert list(initial["indic_vi"]) == [0.0]
