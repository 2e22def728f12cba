"""The monthly, yearly, national hourly, département hourly and département monthly rollups: equal to the raw
votes counted, and KPIs read through them equal to KPIs read from the daily and hourly rollups alone, over random
periods (month and year edges, open ends, overseas time zones), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from collector.api.app import create_app
from collector.api.routes.kpi import RankedEspace
from collector.auth import Level
from collector.db.engine import session_factory
from collector.db.models import DailyRollup, Espace, FollowupRollup, HourlyRollup
from collector.ingest.rollups import AREA_ROLLUPS, departement_hours_months_backfill, long_period_backfill
from collector.kpi import export, indicators, periods
from collector.kpi.selection import Selection
from collector.kpi.stats import (
    INDEX_UNITS,
    Granularity,
    is_complete,
    period_start,
    trend,
    wilson,
    with_answer_columns,
)
from collector.kpi.targets import target_for
from devtools.builders import admin_token, bearer, migrated_engine
from tests.kpi.fleet import Generated, build


@pytest.fixture
def generated(database_url: str) -> Iterator[Generated]:
    engine = migrated_engine(database_url)
    try:
        yield build(engine, n=1200, seed=11)
    finally:
        engine.dispose()


MISUSE = "CASE WHEN misuse THEN 1 ELSE 0 END"  # the same text on both databases


def _rows(engine: Engine, sql: str) -> Counter[tuple[str, ...]]:
    with engine.connect() as conn:
        return Counter({tuple(str(v) for v in r[:-1]): int(r[-1]) for r in conn.execute(text(sql))})


def _raw(votes: pd.DataFrame, keys: list[str]) -> Counter[tuple[str, ...]]:
    grouped = votes.groupby(keys).size()
    return Counter({tuple(str(v) for v in (k if isinstance(k, tuple) else (k,))): int(n)
                    for k, n in grouped.items()})


def test_rollups_count_the_raw_votes(generated: Generated) -> None:
    votes = generated.votes.copy()
    votes["month"] = [d.replace(day=1) for d in votes["day"]]
    votes["year"] = [d.replace(month=1, day=1) for d in votes["day"]]
    votes["misuse"] = [int(m) for m in votes["misuse"]]
    monthly = _rows(generated.engine,
                    f"SELECT espace_id, month, scale, answer, {MISUSE}, votes FROM rollup_monthly")  # noqa: S608
    assert monthly == _raw(votes, ["espace", "month", "scale", "answer", "misuse"])
    yearly = _rows(generated.engine,
                   f"SELECT espace_id, year, scale, answer, {MISUSE}, votes FROM rollup_yearly")  # noqa: S608
    assert yearly == _raw(votes, ["espace", "year", "scale", "answer", "misuse"])
    assert "2024-01-01" in {k[1] for k in yearly}
    # Months are local: Guadeloupe's (UTC-4) votes are counted in the month of their local day, as above.
    assert {k[1] for k in monthly if k[0] == "fs-971"} >= {"2024-01-01", "2024-05-01"}
    hourly = _rows(generated.engine,
                   f"SELECT day, hour, scale, answer, {MISUSE}, votes FROM rollup_national_hourly")  # noqa: S608
    assert hourly == _raw(votes, ["day", "hour", "scale", "answer", "misuse"])
    assert sum(hourly.values()) == len(votes)
    sql = f"SELECT departement, day, hour, scale, answer, {MISUSE}, votes FROM rollup_departement_hourly"  # noqa: S608
    departement_hourly = _rows(generated.engine, sql)
    assert departement_hourly == _raw(votes, ["departement", "day", "hour", "scale", "answer", "misuse"])
    sql = f"SELECT departement, month, scale, answer, {MISUSE}, votes FROM rollup_departement_monthly"  # noqa: S608
    departement_monthly = _rows(generated.engine, sql)
    assert departement_monthly == _raw(votes, ["departement", "month", "scale", "answer", "misuse"])
    assert {k[1] for k in departement_monthly if k[0] == "971"} >= {"2024-01-01", "2024-05-01"}


def test_backfill_matches_ingest(generated: Generated) -> None:
    engine = generated.engine
    tables = {"rollup_monthly": "espace_id, month, scale, answer, misuse, votes",
              "rollup_yearly": "espace_id, year, scale, answer, misuse, votes",
              "rollup_national_hourly": "day, hour, scale, answer, misuse, votes",
              "rollup_departement_hourly": "departement, day, hour, scale, answer, misuse, votes",
              "rollup_departement_monthly": "departement, month, scale, answer, misuse, votes"}
    kept = {t: _rows(engine, f"SELECT {c} FROM {t}") for t, c in tables.items()}  # noqa: S608
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:  # as if the votes had been stored before the migrations
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608
        for statement in (*long_period_backfill(postgres), *departement_hours_months_backfill(postgres)):
            conn.execute(text(statement))
    assert {t: _rows(engine, f"SELECT {c} FROM {t}") for t, c in tables.items()} == kept  # noqa: S608


def _periods(rng: random.Random, n: int) -> list[tuple[date | None, date | None]]:
    """Random periods over the votes' five months and around them: month firsts and lasts, open ends, short."""
    edges = [date(2024, m, 1) + timedelta(days=d) for m in range(1, 7) for d in (-1, 0, 1)] + [date(2025, 1, 1)]
    periods: list[tuple[date | None, date | None]] = [(None, None), (None, date(2024, 3, 17)),
                                                      (date(2024, 2, 9), None), (date(2024, 2, 1), date(2024, 4, 1))]
    while len(periods) < n:
        start = rng.choice(edges) if rng.random() < 0.5 else date(2023, 12, 20) + timedelta(days=rng.randrange(170))
        end = start + timedelta(days=rng.choice([1, 6, 29, 31, 45, 64, 100, 140, 365, 400]))
        periods.append((start, end))
    return periods


def _heatmap_day_by_day(session: Session, selection: Selection) -> pd.DataFrame:
    """The heatmap as it was computed before weekdays were summed in SQL: one row a day and hour into pandas."""
    counts = with_answer_columns(indicators._counts(session, selection, HourlyRollup, HourlyRollup.day,
                                                    HourlyRollup.hour))
    columns = ["weekday", "hour", "votes", "satisfied", "rate", "wilson_low", "wilson_high", "index"]
    if counts.empty:
        return pd.DataFrame(columns=columns)
    counts["weekday"] = [d.weekday() for d in counts["day"]]
    counts["hour"] = counts["hour"].astype("int64")
    return _summarise_in_pandas(counts, ["weekday", "hour"])[columns]


SELECTIONS = [(Level.NATIONAL, None, None), (Level.REGION, "53", None), (Level.DEPARTEMENT, "971", None),
              (Level.DEPARTEMENT, "22", None), (Level.NATIONAL, None, "Principal")]


def test_kpis_through_the_new_rollups_equal_the_daily_and_hourly_ones(generated: Generated,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    votes = generated.votes
    with session_factory(generated.engine)() as session:
        for start, end in _periods(rng, 30):
            for level, code, kind in SELECTIONS:
                for misuse in (False, True):
                    selection = Selection.make(session, level, code, start=start, end=end, include_misuse=misuse,
                                               kind=kind)
                    ranked = indicators.ranking(session, selection, by="votes")
                    heat = indicators.heatmap(session, selection)
                    shares = indicators.participation(session, selection, "month")
                    with monkeypatch.context() as m:  # the rollups as they were before: daily and hourly only
                        m.setattr(indicators, "PERIOD_ROLLUPS", {})
                        m.setattr(indicators, "AREA_ROLLUPS", {k: v for k, v in AREA_ROLLUPS.items()
                                                               if k.__tablename__ != "rollup_hourly"})
                        pd.testing.assert_frame_equal(ranked, indicators.ranking(session, selection, by="votes"),
                                                      check_exact=True)
                        pd.testing.assert_frame_equal(heat, _heatmap_day_by_day(session, selection), check_exact=True)
                        m.setattr(indicators.periods, "plan", lambda start, end, units=(): [
                            periods.Span("day", start, end, 1)])
                        m.setattr(indicators, "AREA_ROLLUPS", {})  # and per espace: rollup_daily alone
                        pd.testing.assert_frame_equal(shares, indicators.participation(session, selection, "month"),
                                                      check_exact=True)
                    # And both equal the raw votes counted.
                    chosen = votes[(votes["day"] >= (start or date.min)) & (votes["day"] < (end or date.max))
                                   & (misuse | ~votes["misuse"])]
                    if level is Level.REGION:
                        chosen = chosen[chosen["region"] == code]
                    elif level is Level.DEPARTEMENT:
                        chosen = chosen[chosen["departement"] == code]
                    expected = chosen.groupby("espace").size()
                    assert dict(zip(ranked["espace_id"], ranked["votes"], strict=True)) == expected.to_dict()
                    assert int(heat["votes"].sum()) == len(chosen)
                    assert int(shares["votes"].sum()) == len(chosen)


def _exact_index(votes: pd.DataFrame) -> float:
    """The votes' mean weight as an exact fraction, rounded to a float once (``float(Fraction)`` rounds exactly)."""
    weights = sum((Fraction(100 * (a - 1), s - 1) for s, a in zip(votes["scale"], votes["answer"], strict=True)),
                  Fraction(0))
    return float(weights / len(votes))


def test_the_index_is_the_exact_mean_weight_whichever_rollup_answers(generated: Generated) -> None:
    """Rates and the index come from integer sums and one division: the exact figure rounded once, so the same
    whether a national heatmap sums days into weekdays in SQL or in pandas, or a ranking reads years or days."""
    votes = generated.votes[~generated.votes["misuse"]]
    assert set(votes["scale"]) == {2, 3, 4, 5}  # every scale's weights, mixed in one group
    with session_factory(generated.engine)() as session:
        heat = indicators.heatmap(session, Selection())
        ranked = indicators.ranking(session, Selection(start=date(2024, 1, 31), end=date(2025, 1, 1)), by="votes")
        total = indicators.satisfaction(session, Selection(), "month").total
    by_hour = votes.assign(weekday=[d.weekday() for d in votes["day"]]).groupby(["weekday", "hour"])
    assert dict(zip(zip(heat["weekday"], heat["hour"], strict=True), heat["index"], strict=True)) == {
        key: _exact_index(group) for key, group in by_hour}
    chosen = votes[votes["day"] >= date(2024, 1, 31)]
    assert dict(zip(ranked["espace_id"], ranked["index"], strict=True)) == {
        espace: _exact_index(group) for espace, group in chosen.groupby("espace")}
    assert dict(zip(ranked["espace_id"], ranked["rate"], strict=True)) == {
        espace: float(Fraction(int((group["answer"] * 2 > group["scale"] + 1).sum()), len(group)))
        for espace, group in chosen.groupby("espace")}
    assert total["index"] == _exact_index(votes)


def test_a_plan_adds_up_to_its_period_exactly() -> None:
    """Every day of the period counted once, every other day not at all (signed spans expanded to days)."""
    rng = random.Random(5)
    for _ in range(2000):
        start = date(2020, 1, 1) + timedelta(days=rng.randrange(2000))
        end = start + timedelta(days=rng.randrange(1, 900))
        counted: Counter[date] = Counter()
        for span in periods.plan(start, end):
            assert span.start is not None and span.end is not None
            day = span.start
            while day < span.end:
                counted[day] += span.sign
                day += timedelta(days=1)
        assert +counted == Counter({start + timedelta(days=i): 1 for i in range((end - start).days)})
        assert not -counted, (start, end)  # nothing taken away more than added
    assert periods.plan(None, None) == [periods.Span("year", None, None, 1)]
    assert periods.plan(date(2025, 11, 25), date(2025, 12, 2)) == [
        periods.Span("day", date(2025, 11, 25), date(2025, 12, 2), 1)]


def test_participation_over_a_period_without_votes_is_empty(generated: Generated) -> None:
    with session_factory(generated.engine)() as session:
        for start, end in ((date(2023, 1, 1), date(2023, 1, 9)), (date(2023, 1, 1), date(2023, 3, 9))):
            frame = indicators.participation(session, Selection.make(session, "national", None, start=start, end=end))
            assert frame.empty


def _summarise_in_pandas(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Votes, satisfied votes, rate, Wilson bounds and index per group, in pandas column operations and the
    scalar :func:`wilson`, as session 5 computed them."""
    if by:
        grouped = frame.groupby(by, as_index=False, sort=True)[["votes", "satisfied", "points"]].sum()
    else:
        grouped = pd.DataFrame([frame[["votes", "satisfied", "points"]].sum()])
    grouped["votes"] = grouped["votes"].astype("int64")
    grouped["satisfied"] = grouped["satisfied"].astype("int64")
    votes = grouped["votes"].where(grouped["votes"] > 0)
    grouped["rate"] = grouped["satisfied"] / votes
    bounds = [wilson(s, n) for s, n in zip(grouped["satisfied"], grouped["votes"], strict=True)]
    grouped["wilson_low"] = pd.Series([low for low, _ in bounds], index=grouped.index, dtype="float64")
    grouped["wilson_high"] = pd.Series([high for _, high in bounds], index=grouped.index, dtype="float64")
    grouped["index"] = (grouped["points"].astype("int64") * 100) / (votes * INDEX_UNITS)
    return grouped.drop(columns=["points"])


def _resolution_in_pandas(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=[*by, "followup_asked", "followup_yes", "followup_no", "resolution_rate"])
    wide = frame.pivot_table(index=by or None, columns="followup", values="votes", aggfunc="sum", fill_value=0)
    if not by:
        wide = pd.DataFrame([frame.groupby("followup")["votes"].sum()])
    for answer in ("yes", "no", "skipped"):
        if answer not in wide.columns:
            wide[answer] = 0
    out = pd.DataFrame({
        "followup_asked": (wide["yes"] + wide["no"] + wide["skipped"]).astype("int64"),
        "followup_yes": wide["yes"].astype("int64"),
        "followup_no": wide["no"].astype("int64"),
    })
    answered = (out["followup_yes"] + out["followup_no"]).where(lambda s: s > 0)
    out["resolution_rate"] = out["followup_yes"] / answered
    return out.reset_index() if by else out.reset_index(drop=True)


def _satisfaction_in_pandas(session: Session, selection: Selection, granularity: Granularity,
                            today: date) -> indicators.Satisfaction:
    """Session 5's :func:`indicators.satisfaction`: every (day, scale, answer) row into pandas, summed there."""
    target = target_for(session, selection.level, selection.code)
    daily = with_answer_columns(indicators._counts(session, selection, DailyRollup, DailyRollup.day))
    daily["period"] = [period_start(d, granularity) for d in daily["day"]]
    rows = indicators._grouped(session, selection, FollowupRollup, (FollowupRollup.day,), ["followup"])
    follow = pd.DataFrame([tuple(r) for r in rows], columns=["day", "followup", "votes"])
    follow["votes"] = follow["votes"].astype("int64")
    follow["period"] = [period_start(d, granularity) for d in follow["day"]]
    series = (_summarise_in_pandas(daily, ["period"]) if not daily.empty
              else pd.DataFrame(columns=indicators.SERIES_COLUMNS[:7]))
    series = series.merge(_resolution_in_pandas(follow.drop(columns=["day"]), ["period"]), on="period", how="left")
    total = _summarise_in_pandas(daily, []).join(_resolution_in_pandas(follow.drop(columns=["day", "period"]), []),
                                                 how="left")
    for frame in (series, total):
        for column in ("followup_asked", "followup_yes", "followup_no"):
            frame[column] = frame[column].fillna(0).astype("int64")
        frame["attained"] = [None if pd.isna(r) else bool(r * 100 >= target) for r in frame["rate"]]
    series["complete"] = [is_complete(p, granularity, today=today, end=selection.end) for p in series["period"]]
    series = series[indicators.SERIES_COLUMNS].sort_values("period").reset_index(drop=True)
    total_row = {k: indicators._plain(v) for k, v in total.iloc[0].to_dict().items()}
    full = series[series["complete"].astype(bool)]
    return indicators.Satisfaction(selection, granularity, target, total_row, series,
                                   trend(zip(full["period"], full["rate"].astype("float64"), strict=True),
                                         granularity))


def test_satisfaction_summed_in_python_equals_its_pandas_computation(generated: Generated) -> None:
    """The satisfaction sums a day's counts in SQL and a period's in plain Python: to the bit what session 5's
    pandas computation gave (every scale and answer row in a frame, grouped there), series, total and trend,
    whichever rollup answers, for every granularity, periods complete or not."""
    rng = random.Random(8)
    espaces = sorted(set(generated.votes["espace"]))
    selections = [*SELECTIONS, *((Level.ESPACE, e, None) for e in rng.sample(espaces, 3))]
    with session_factory(generated.engine)() as session:
        for start, end in [(None, None), (date(2023, 1, 1), date(2023, 1, 9)), *_periods(rng, 12)]:
            today = (end or date(2024, 6, 1)) - timedelta(days=rng.randrange(60))
            for level, code, kind in selections:
                for granularity in Granularity:
                    selection = Selection.make(session, level, code, start=start, end=end,
                                               include_misuse=rng.random() < 0.3, kind=kind)
                    got = indicators.satisfaction(session, selection, granularity, today=today)
                    expected = _satisfaction_in_pandas(session, selection, granularity, today)
                    assert got.total == expected.total
                    assert got.trend_pp == expected.trend_pp
                    if expected.series.empty:
                        assert got.series.empty and list(got.series.columns) == indicators.SERIES_COLUMNS
                    else:
                        pd.testing.assert_frame_equal(got.series, expected.series, check_exact=True)


def _ranking_in_pandas(session: Session, selection: Selection, by: str, min_votes: int,
                       limit: int | None) -> pd.DataFrame:
    """Session 5's :func:`indicators.ranking`: summed per espace in SQL, summarised, merged and sorted in pandas."""
    rows = session.connection().execute(indicators._totals_query(selection, DailyRollup, (DailyRollup.espace_id,)))
    counts = pd.DataFrame([tuple(r) for r in rows], columns=["espace_id", "votes", "satisfied", "points"])
    if counts.empty:
        return pd.DataFrame(columns=indicators.RANKING_COLUMNS)
    per_espace = _summarise_in_pandas(counts.astype({c: "int64" for c in ("votes", "satisfied", "points")}),
                                      ["espace_id"])
    per_espace = per_espace[per_espace["votes"] >= min_votes]
    names = pd.DataFrame([tuple(r) for r in session.connection().execute(
        select(Espace.id, Espace.name, Espace.departement, Espace.region).where(*selection.espace_filters()))],
        columns=["espace_id", "name", "departement", "region"])
    ranked = per_espace.merge(names, on="espace_id").sort_values([by, "votes", "espace_id"],
                                                                   ascending=[False, False, True])
    ranked.insert(0, "rank", range(1, len(ranked) + 1))
    ranked = ranked[indicators.RANKING_COLUMNS].reset_index(drop=True)
    return ranked.head(limit) if limit else ranked


def test_the_ranking_computed_a_column_at_a_time_equals_its_pandas_computation(generated: Generated) -> None:
    """The ranking's figures, order (ties by votes, then id), names, min_votes and limit: to the bit what session
    5's pandas computation gave."""
    rng = random.Random(9)
    with session_factory(generated.engine)() as session:
        for start, end in [(None, None), (date(2023, 1, 1), date(2023, 1, 9)), *_periods(rng, 10)]:
            for level, code, kind in SELECTIONS:
                for by in ("wilson_low", "rate", "index", "votes"):
                    selection = Selection.make(session, level, code, start=start, end=end,
                                               include_misuse=rng.random() < 0.3, kind=kind)
                    min_votes, limit = rng.choice([1, 1, 3, 20]), rng.choice([None, None, 1, 5])
                    got = indicators.ranking(session, selection, by=by, min_votes=min_votes, limit=limit)
                    expected = _ranking_in_pandas(session, selection, by, min_votes, limit)
                    if expected.empty:
                        assert got.empty and list(got.columns) == indicators.RANKING_COLUMNS
                    else:
                        pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_a_breakdown_is_its_zones_espaces_added_up(generated: Generated) -> None:
    """Per région, département or espace, through the département rollups or the espaces': the raw votes
    counted, the ranking's espaces of each zone added up, and the rate and index exact (the exact fraction
    rounded once), over random periods and selections."""
    rng = random.Random(5)
    votes = generated.votes
    with session_factory(generated.engine)() as session:
        for start, end in [(None, None), (date(2023, 1, 1), date(2023, 1, 9)), *_periods(rng, 12)]:
            for level, code, kind in SELECTIONS:
                misuse = rng.random() < 0.3
                selection = Selection.make(session, level, code, start=start, end=end, include_misuse=misuse,
                                           kind=kind)
                espaces = set(session.scalars(select(Espace.id).where(*selection.espace_filters())))
                chosen = votes[(votes["day"] >= (start or date.min)) & (votes["day"] < (end or date.max))
                               & (misuse | ~votes["misuse"]) & votes["espace"].isin(espaces)]
                ranked = indicators.ranking(session, selection, by="votes")
                for by, column in (("region", "region"), ("departement", "departement"), ("espace", "espace")):
                    got = indicators.breakdown(session, selection, by)
                    assert list(got.columns) == indicators.BREAKDOWN_COLUMNS
                    zones = sorted(chosen.groupby(column))
                    assert list(got["code"]) == [zone for zone, _ in zones]
                    assert list(got["votes"]) == [len(group) for _, group in zones]
                    assert list(got["rate"]) == [
                        float(Fraction(int((group["answer"] * 2 > group["scale"] + 1).sum()), len(group)))
                        for _, group in zones]
                    assert list(got["index"]) == [_exact_index(group) for _, group in zones]
                    ranked_column = "espace_id" if by == "espace" else by
                    added = ranked.groupby(ranked_column)[["votes", "satisfied"]].sum()
                    assert {c: (v, s) for c, v, s in zip(added.index, added["votes"], added["satisfied"],
                                                         strict=True)} == {
                        c: (v, s) for c, v, s in zip(got["code"], got["votes"], got["satisfied"], strict=True)}


def _records_of_objects(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Session 5's :func:`collector.kpi.export.records`: the frame as objects, row by row."""
    cleaned = frame.astype(object).where(pd.notna(frame), None)
    return [{str(k): (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
            for row in cleaned.to_dict(orient="records")]


def test_records_built_a_column_at_a_time_equal_those_of_a_frame_of_objects(generated: Generated) -> None:
    """The API's JSON rows: the same values and the same Python types as session 5's, whatever the columns hold."""
    mixed = pd.DataFrame({
        "day": [date(2024, 1, 1), None, date(2024, 3, 1)],
        "at": pd.to_datetime(["2024-01-01 10:00", None, "2024-02-01 00:00"]),
        "n": np.array([1, 2, 3], dtype="int64"), "x": [0.5, float("nan"), 1e-300], "ok": [True, False, True],
        "maybe": pd.array([1, None, 3], dtype="Int64"), "name": ["a", None, "c"], "seen": [None, True, False],
    })
    month = Selection(start=date(2024, 1, 1), end=date(2024, 2, 1))
    with session_factory(generated.engine)() as session:
        frames = [mixed, mixed.iloc[:0], indicators.ranking(session, month), indicators.heatmap(session, month),
                  indicators.satisfaction(session, month, "day", today=date(2024, 1, 20)).series,
                  indicators.participation(session, Selection(), "month"),
                  indicators.ranking(session, Selection(start=date(2030, 1, 1)))]
    for frame in frames:
        got, expected = export.records(frame), _records_of_objects(frame)
        assert got == expected
        assert [[type(v) for v in r.values()] for r in got] == [[type(v) for v in r.values()] for r in expected]


def test_the_apis_ranking_is_its_models_serialisation(generated: Generated) -> None:
    """The ranking's JSON is written without validating each row against ``RankedEspace`` again: the same bytes'
    meaning as the model's serialisation of the same rows (fields, order, values to the bit)."""
    model = TypeAdapter(list[RankedEspace])
    token = admin_token(generated.engine, "national")
    cases: list[dict[str, Any]] = [
        {"level": "national"}, {"level": "region", "code": "53", "by": "rate", "min_votes": 3},
        {"level": "departement", "code": "971", "from": "2024-01-01", "to": "2024-02-01"},
        {"level": "national", "from": "2030-01-01"}, {"level": "national", "limit": 2, "by": "index"}]
    with TestClient(create_app(generated.engine)) as client, session_factory(generated.engine)() as session:
        for params in cases:
            response = client.get("/api/v1/kpi/ranking", params=params, headers=bearer(token))
            assert response.status_code == 200 and response.headers["content-type"] == "application/json"
            selection = Selection.make(session, params["level"], params.get("code"),
                                       start=date.fromisoformat(params["from"]) if "from" in params else None,
                                       end=date.fromisoformat(params["to"]) if "to" in params else None)
            frame = indicators.ranking(session, selection, by=params.get("by", "wilson_low"),
                                       min_votes=params.get("min_votes", 1), limit=params.get("limit"))
            expected = model.dump_json(model.validate_python(export.records(frame)))
            assert response.json() == json.loads(expected)
            assert [list(r) for r in response.json()] == [list(RankedEspace.model_fields)] * len(frame)
