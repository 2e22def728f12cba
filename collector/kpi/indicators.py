"""The indicators: satisfaction over time, resolution of the follow-up, ranking, breakdown, heatmap, participation.

Each function reads rollups (``rollup_daily``, ``rollup_hourly``, ``rollup_followup_daily``) grouped in SQL,
or, for a département, a région or the nation without a filter on espaces, the same counts kept per
département and national (``rollup_departement_daily``, ``rollup_national_daily`` and their follow-up
twins, ``rollup_departement_hourly``, ``rollup_national_hourly``), or, for counts over a long period (the
ranking, the participation), ``rollup_yearly`` and ``rollup_monthly`` (``rollup_departement_monthly`` for an
area) plus or minus days of the daily rollups (:mod:`collector.kpi.periods`). Counts are summed in SQL down to a
row a day (the satisfaction), a weekday and hour (the heatmap) or an espace (the ranking), then finished in plain
Python and numpy, a column at a time: periods, rates, Wilson intervals, index (from integer sums: exact). Pandas'
frames on a few hundred rows cost more than the sums (two thirds of a query, profiled), so they only hold the
results. Whichever rollup answers, the result is the same to the last bit. Results are DataFrames, which the API
turns into JSON, CSV or Parquet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Integer, case, cast, extract, func, select, union_all
from sqlalchemy.orm import Session

from collector.auth import Level
from collector.db.models import (
    DailyRollup,
    DepartementActivity,
    Espace,
    EspaceActivity,
    FollowupRollup,
    HourlyRollup,
)
from collector.ingest.rollups import AREA_ROLLUPS, PERIOD_ROLLUPS
from collector.kpi import periods
from collector.kpi.selection import Selection
from collector.kpi.stats import (
    INDEX_UNITS,
    Granularity,
    is_complete,
    local_today,
    period_start,
    summary_columns,
    trend,
)
from collector.kpi.targets import target_for
from collector.registry.geography import COLLECTIVITES, DEPARTEMENT_REGION, region_of

_LOG = logging.getLogger(__name__)

SERIES_COLUMNS = ["period", "votes", "satisfied", "rate", "wilson_low", "wilson_high", "index",
                  "followup_asked", "followup_yes", "followup_no", "resolution_rate", "attained", "complete"]
RANKING_COLUMNS = ["rank", "espace_id", "name", "departement", "region", "votes", "satisfied", "rate",
                   "wilson_low", "wilson_high", "index"]
HEATMAP_COLUMNS = ["weekday", "hour", "votes", "satisfied", "rate", "wilson_low", "wilson_high", "index"]
BREAKDOWN_COLUMNS = ["code", "votes", "satisfied", "rate", "wilson_low", "wilson_high", "index"]
#: What :func:`breakdown` splits a selection into.
BREAKDOWN_LEVELS = ("region", "departement", "espace")


@dataclass
class Satisfaction:
    """Satisfaction of a selection: the whole period (``total``, one row) and one row a period (``series``)."""

    selection: Selection
    granularity: Granularity
    target: float
    total: dict[str, Any]
    series: pd.DataFrame
    trend_pp: float | None




def _area_query(selection: Selection, table: Any, extra: tuple[Any, ...]) -> tuple[Any, list[Any]] | None:
    """The area rollup answering a query on ``table`` grouped by ``extra``, with its columns; None if none can.

    It can when the selection is a département, a région or the nation with no filter on espaces, and the
    query groups by columns the area rollup has (day, hour) and by département at most (not by espace).
    """
    areas = AREA_ROLLUPS.get(table)
    if areas is None or not selection.by_area:
        return None
    national = selection.level is Level.NATIONAL and not any(c is Espace.departement for c in extra)
    area = areas[1] if national else areas[0]
    if area is None:
        return None
    columns = []
    for c in extra:
        if c is not Espace.departement and (getattr(c, "class_", None) is not table or c.key == "espace_id"
                                            or c.key not in area.__table__.columns):
            return None
        columns.append(getattr(area, c.key))
    return area, columns


def _sums(votes: Any, scale: Any, answer: Any, totals: bool) -> list[Any]:
    """The aggregates of a grouped query: ``votes`` summed, and with ``totals`` also the satisfied votes and the
    index points (the integers of :func:`~collector.kpi.stats.with_answer_columns`)."""
    out = [cast(func.sum(votes), BigInteger).label("votes")]
    if totals:
        satisfied = case((answer * 2 > scale + 1, votes), else_=0)
        points = votes * (answer - 1) * (INDEX_UNITS // (scale - 1))
        out += [cast(func.sum(satisfied), BigInteger).label("satisfied"),
                cast(func.sum(points), BigInteger).label("points")]
    return out


def _period_query(selection: Selection, table: Any, extra: tuple[Any, ...], keys: list[str],
                  totals: bool) -> Any | None:
    """Sums of ``votes`` grouped by ``extra`` and ``keys`` (or :func:`_sums`'s totals grouped by ``extra``): whole
    years and months from the yearly and monthly rollups, plus or minus days of ``table``, as
    :func:`~collector.kpi.periods.plan` adds them up to the period; None if they cannot answer (the query groups by
    day) or if the days alone are cheaper.
    """
    rollups = PERIOD_ROLLUPS.get(table)
    if rollups is None or any(c is table.day for c in extra):
        return None
    spans = periods.plan(selection.start, selection.end)
    if all(span.unit == "day" for span in spans):
        return None
    names = [c.key for c in extra]
    carried = ["scale", "answer"] if totals else keys

    def part(span: periods.Span) -> Any:
        source = table if span.unit == "day" else rollups[span.unit]
        columns = [getattr(source, c.key) if getattr(c, "class_", None) is table else c for c in extra]
        columns += [getattr(source, k) for k in carried]
        votes = source.votes if span.sign > 0 else -source.votes
        where = selection.span_filters(source, getattr(source, span.unit), span.start, span.end)
        query = select(*(c.label(n) for c, n in zip(columns, names + carried, strict=True)), votes.label("votes"))
        return _with_espaces(query, source, selection, extra).where(*where)

    rows = union_all(*(part(span) for span in spans)).subquery()
    grouped = [rows.c[n] for n in (names if totals else names + keys)]
    sums = _sums(rows.c.votes, rows.c.scale if totals else None, rows.c.answer if totals else None, totals)
    # Days taken away can leave a group with no vote: the rollups never hold such a group, so neither does this.
    # (Counts per scale and answer are never negative, so a group's total is 0 only if each of them is.)
    return select(*grouped, *sums).group_by(*grouped).having(sums[0] > 0).order_by(*grouped)


def _grouped_query(selection: Selection, table: Any, extra: tuple[Any, ...], keys: list[str], *,
                   totals: bool = False) -> Any:
    """The query of :func:`_grouped`: its columns named after ``extra`` and ``keys``, then ``votes``; with
    ``totals``, grouped by ``extra`` alone, then ``votes``, ``satisfied`` and ``points`` (:func:`_sums`).

    Rows come in the order of their groups, whichever rollup answers. Every figure computed from them is exact
    (integer sums, one division: :func:`~collector.kpi.stats.summary_columns`), so every rollup gives the same to
    the last bit.
    """
    keys = [] if totals else keys
    routed = _area_query(selection, table, extra)
    if routed is not None:
        area, columns = routed
        columns = [*columns, *(getattr(area, k) for k in keys)]
        return (select(*columns, *_sums(area.votes, area.scale, area.answer, totals))
                .where(*selection.area_filters(area))
                .group_by(*columns).order_by(*columns))
    query = _period_query(selection, table, extra, keys, totals)
    if query is not None:
        return query
    columns = [*extra, *(getattr(table, k) for k in keys)]
    query = select(*columns, *_sums(table.votes, table.scale, table.answer, totals))
    return (_with_espaces(query, table, selection, extra).where(*selection.rollup_filters(table))
            .group_by(*columns).order_by(*columns))


def _with_espaces(query: Any, table: Any, selection: Selection, columns: tuple[Any, ...]) -> Any:
    """``query`` on a per-espace rollup ``table``, joined to ``espaces`` only if the selection's conditions or
    ``columns`` need it (:attr:`Selection.joins_espaces`): the nation's queries read the rollup alone."""
    if selection.joins_espaces or any(getattr(c, "class_", None) is Espace for c in columns):
        return query.join(Espace, Espace.id == table.espace_id)
    return query.select_from(table)


def _grouped(session: Session, selection: Selection, table: Any, extra: tuple[Any, ...],
             keys: list[str]) -> list[Any]:
    """Sums of ``votes`` grouped by ``extra`` and then ``keys`` (columns of ``table``), from the smallest rollup.

    Run on the session's connection (SQLAlchemy Core rows): the ORM's row handling would double the time of a
    national ranking's 12,000 rows, for plain tuples all the same.
    """
    return list(session.connection().execute(_grouped_query(selection, table, extra, keys)).all())


def _counts(session: Session, selection: Selection, table: Any, *extra: Any) -> pd.DataFrame:
    rows = _grouped(session, selection, table, extra, ["scale", "answer"])
    names = [c.key for c in extra] + ["scale", "answer", "votes"]
    return pd.DataFrame([tuple(r) for r in rows], columns=names)


def _totals_query(selection: Selection, table: Any, extra: tuple[Any, ...], *, weekday: bool = False) -> Any:
    """Votes, satisfied votes and index points summed in SQL per group of ``extra`` (:func:`_grouped_query` with
    ``totals``); with ``weekday``, the first of ``extra`` (a day) then summed into its weekday, as ``dow``
    (0 = Sunday): a day's rows are summed first, along the rollup's key, so that the weekday is worked out once a
    day and hour rather than once a row.

    Integer sums: the same whichever rollup, and in whichever order, answered; Python gets a row a group.
    """
    query = _grouped_query(selection, table, extra, [], totals=True)
    if not weekday:
        return query
    days = query.order_by(None).subquery()
    groups = [cast(extract("dow", days.c[extra[0].key]), Integer).label("dow"), *(days.c[c.key] for c in extra[1:])]
    return (select(*groups, *(cast(func.sum(days.c[n]), BigInteger).label(n) for n in ("votes", "satisfied", "points")))
            .group_by(*groups).order_by(*groups))


def satisfaction(session: Session, selection: Selection, granularity: Granularity | str = Granularity.MONTH,
                 target: float | None = None, *, today: date | None = None) -> Satisfaction:
    """Satisfaction rate, Wilson interval, index, follow-up resolution and target attainment of a selection.

    Each period says whether it is ``complete`` (over by ``today``, default :func:`local_today`, and not cut
    short by the selection's end); the trend reads complete periods only.

    A day's votes, satisfied votes and index points are summed in SQL (a row a day), then a period's in plain
    Python: a few hundred rows, on which pandas' frames would cost more than the sums (two thirds of the time,
    profiled). The figures are :func:`~collector.kpi.stats.summary_columns`' (integer sums, one division).
    """
    granularity = Granularity(granularity)
    today = today or local_today()
    target = target_for(session, selection.level, selection.code) if target is None else target
    connection = session.connection()
    sums: dict[date, list[int]] = {}
    for day, votes, satisfied, points in connection.execute(_totals_query(selection, DailyRollup,
                                                                           (DailyRollup.day,))):
        counts = sums.setdefault(period_start(day, granularity), [0, 0, 0])
        counts[0] += votes
        counts[1] += satisfied
        counts[2] += points
    answers: dict[date, list[int]] = {}
    for day, followup, votes in connection.execute(_grouped_query(selection, FollowupRollup, (FollowupRollup.day,),
                                                                  ["followup"])):
        answers.setdefault(period_start(day, granularity), [0, 0, 0])[_FOLLOWUPS[followup]] += votes

    starts = sorted(sums)
    series = pd.DataFrame({
        "period": pd.Series(starts, dtype=object),
        **summary_columns(*_transposed([sums[p] for p in starts])),
        **_resolution([answers.get(p, [0, 0, 0]) for p in starts]),
    })
    # The whole selection: a single group, every period's sums (and every follow-up answer) added up.
    whole = {**summary_columns(*([sum(c)] for c in _transposed(list(sums.values())))),
             **_resolution([[sum(c) for c in _transposed(list(answers.values()))]])}
    total = {k: _plain(v[0]) for k, v in whole.items()}
    total["attained"] = _attained(total["rate"], target)
    series["attained"] = [_attained(r, target) for r in series["rate"]]  # bool, or object with a None
    complete = [is_complete(p, granularity, today=today, end=selection.end) for p in starts]
    series["complete"] = pd.Series(complete, dtype=bool)
    return Satisfaction(selection, granularity, target, total, series[SERIES_COLUMNS],
                        trend(((p, r) for p, r, c in zip(starts, series["rate"], complete, strict=True) if c),
                              granularity))


#: Where a follow-up answer is counted in :func:`_resolution`'s triples.
_FOLLOWUPS = {"yes": 0, "no": 1, "skipped": 2}


def _transposed(rows: list[list[int]]) -> list[list[int]]:
    """Columns of rows of three counts (three empty columns for no row)."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[], [], []]


def _resolution(answers: list[list[int]]) -> dict[str, Any]:
    """Follow-up counts per group from its (yes, no, skipped) votes: asked (the three), yes, no, and the
    resolution rate yes / (yes + no) (NaN when no one answered yes or no)."""
    yes, no, skipped = (np.asarray(c, dtype="int64") for c in _transposed(answers))
    answered = yes + no
    return {"followup_asked": yes + no + skipped, "followup_yes": yes, "followup_no": no,
            "resolution_rate": yes / np.where(answered > 0, answered, np.nan)}


def _attained(rate: float | None, target: float) -> bool | None:
    return None if rate is None or rate != rate else bool(rate * 100 >= target)


def ranking(session: Session, selection: Selection, *, by: str = "wilson_low", min_votes: int = 1,
            limit: int | None = None) -> pd.DataFrame:
    """The espaces of a selection, best first by ``by`` (``wilson_low``, ``rate``, ``index`` or ``votes``).

    Ranking by the Wilson lower bound keeps an espace with 3 votes out of 3 from leading one with 980 of 1000.
    Each espace's counts are summed in SQL (a row an espace: 3,000 for the nation), its figures computed a column
    at a time (:func:`~collector.kpi.stats.summary_columns`), then ranked: ties by votes, then by id.
    """
    if by not in ("wilson_low", "rate", "index", "votes"):
        raise ValueError(f"cannot rank by {by!r}")
    connection = session.connection()
    counts = [r for r in connection.execute(_totals_query(selection, DailyRollup, (DailyRollup.espace_id,)))
              if r[1] >= min_votes]
    if not counts:
        return pd.DataFrame(columns=RANKING_COLUMNS)
    # The selection's espaces (those with votes among them are kept), not thousands of ids bound.
    names = {r[0]: tuple(r[1:]) for r in connection.execute(
        select(Espace.id, Espace.name, Espace.departement, Espace.region).where(*selection.espace_filters()))}
    counts = [r for r in counts if r[0] in names]
    ids = [r[0] for r in counts]
    figures = summary_columns(*([r[i] for r in counts] for i in (1, 2, 3)))
    key, votes = figures[by].tolist(), figures["votes"].tolist()
    order = sorted(range(len(ids)), key=lambda i: (-key[i], -votes[i], ids[i]))[:limit or None]
    about = [names[ids[i]] for i in order]
    taken = np.asarray(order, dtype="int64")
    return pd.DataFrame({
        "rank": np.arange(1, len(order) + 1, dtype="int64"),
        "espace_id": [ids[i] for i in order],
        "name": [a[0] for a in about],
        "departement": [a[1] for a in about],
        "region": [a[2] for a in about],
        **{column: values[taken] for column, values in figures.items()},
    })


def breakdown(session: Session, selection: Selection, by: str) -> pd.DataFrame:
    """The selection's votes and satisfaction per région, département or espace (``by``) that has votes, by code.

    What the map and the overview show of a zone's parts: the nation's départements are about a hundred rows,
    summed in SQL from the département rollups (whole months, plus or minus days), where the ranking of its
    espaces is 3,000 rows to be added up. Régions are their départements' integer counts added up, so a row is
    exactly what the ranking's espaces of that zone sum to.
    """
    if by not in BREAKDOWN_LEVELS:
        raise ValueError(f"cannot break a selection down by {by!r}")
    connection = session.connection()
    if by == "espace":
        rows = [tuple(r) for r in connection.execute(
            _totals_query(selection, DailyRollup, (DailyRollup.espace_id,)))]
    else:
        rows = [tuple(r) for r in connection.execute(_departement_totals_query(selection))]
    if by == "region":
        regions: dict[str, list[int]] = {}
        for code, *sums in rows:
            total = regions.setdefault(region_of(code), [0, 0, 0])
            for i, value in enumerate(sums):
                total[i] += value
        rows = [(code, *sums) for code, sums in regions.items()]
    rows.sort(key=lambda r: r[0])
    if not rows:
        return pd.DataFrame(columns=BREAKDOWN_COLUMNS)
    return pd.DataFrame({"code": [r[0] for r in rows],
                         **summary_columns(*([r[i] for r in rows] for i in (1, 2, 3)))})


def _departement_totals_query(selection: Selection) -> Any:
    """Votes, satisfied votes and index points per département (:func:`_sums`): from the département rollups
    when they can answer (an area, no filter on espaces), whole months of ``rollup_departement_monthly`` plus or
    minus days of ``rollup_departement_daily`` as :func:`~collector.kpi.periods.plan` adds them up; otherwise
    from the espaces' rollups, joined to ``espaces``."""
    if not selection.by_area:
        return _totals_query(selection, DailyRollup, (Espace.departement,))
    parts = _departement_spans(selection, periods.plan(selection.start, selection.end, units=("month", "day")),
                               lambda source, bucket: [(source.departement, "departement"), (source.scale, "scale"),
                                                       (source.answer, "answer")])
    rows = union_all(*parts).subquery()
    sums = _sums(rows.c.votes, rows.c.scale, rows.c.answer, True)
    # Days taken away can leave a département with no vote: left out, as the rollups leave it out.
    return (select(rows.c.departement, *sums).group_by(rows.c.departement).having(sums[0] > 0)
            .order_by(rows.c.departement))


def _departement_spans(selection: Selection, spans: list[periods.Span],
                       keys: Callable[[Any, Any], list[tuple[Any, str]]]) -> list[Any]:
    """A query a span (whole months of ``rollup_departement_monthly``, days of ``rollup_departement_daily``):
    votes summed per group of ``keys(source, bucket)`` (columns and their names; ``bucket`` the span's month or
    day column), negative for days taken away; for an area without a filter on espaces."""
    daily: Any = AREA_ROLLUPS[DailyRollup][0]
    parts = []
    for span in spans:
        source = daily if span.unit == "day" else PERIOD_ROLLUPS[daily][span.unit]
        bucket = getattr(source, span.unit)
        groups = keys(source, bucket)
        votes = (cast(func.sum(source.votes), BigInteger) * span.sign).label("votes")
        parts.append(select(*(column.label(name) for column, name in groups), votes)
                     .where(*selection.area_span_filters(source, bucket, span.start, span.end))
                     .group_by(*(column for column, _ in groups)))
    return parts


def heatmap(session: Session, selection: Selection) -> pd.DataFrame:
    """Votes and satisfaction per local weekday (0 = Monday) and hour (0-23), from the hourly rollup.

    The days are summed into weekdays in SQL (integer counts: the index is computed from them exactly), so Python
    gets at most 168 rows whatever the period.
    """
    rows = sorted(((int(dow) + 6) % 7, int(hour), votes, satisfied, points)  # SQL's 0 is Sunday, Python's Monday
                  for dow, hour, votes, satisfied, points in session.connection().execute(
                      _totals_query(selection, HourlyRollup, (HourlyRollup.day, HourlyRollup.hour), weekday=True)))
    if not rows:
        return pd.DataFrame(columns=HEATMAP_COLUMNS)
    return pd.DataFrame({
        "weekday": np.asarray([r[0] for r in rows], dtype="int64"),
        "hour": np.asarray([r[1] for r in rows], dtype="int64"),
        **summary_columns(*([r[i] for r in rows] for i in (2, 3, 4))),
    })


def participation(session: Session, selection: Selection,
                  granularity: Granularity | str = Granularity.MONTH) -> pd.DataFrame:
    """Votes per act carried out, per period of at least a month.

    Acts come from the espace's monthly figures at the espace level; above it, from the départements'
    figures (IND-323), or, for a département and month without one, from the sum of its espaces' figures.
    """
    granularity = Granularity(granularity)
    if granularity in (Granularity.DAY, Granularity.WEEK):
        raise ValueError("acts are counted per month: participation needs month, quarter or year")
    votes = _votes_by_departement(session, selection)
    # An object column even with no vote (a list's default would be float64, which the merge below refuses).
    votes["month"] = pd.Series([d.replace(day=1) for d in votes["day"]], index=votes.index, dtype=object)
    votes = votes.groupby(["departement", "month"], as_index=False)["votes"].sum()
    votes = votes[votes["votes"] != 0].reset_index(drop=True)  # a month whose days taken away were all its votes
    acts = _acts(session, selection)
    merged = votes.merge(acts, on=["departement", "month"], how="outer")
    merged["period"] = [period_start(m, granularity) for m in merged["month"]]
    out = merged.groupby("period", as_index=False)[["votes", "actes"]].sum(min_count=1)
    out["votes"] = out["votes"].fillna(0).astype("int64")
    out["participation"] = out["votes"] / out["actes"].where(out["actes"] > 0)
    return out.sort_values("period").reset_index(drop=True)


def _votes_by_departement(session: Session, selection: Selection) -> pd.DataFrame:
    """Votes per département and local day (``departement``, ``day``, ``votes``), or, where whole months of
    ``rollup_monthly`` (``rollup_departement_monthly`` for an area without a filter on espaces) answer, per
    département and month (``day`` the month's first day) plus or minus days, as
    :func:`~collector.kpi.periods.plan` adds them up to the period (votes of days taken away negative).
    """
    spans = periods.plan(selection.start, selection.end, units=("month", "day"))
    if all(span.unit == "day" for span in spans):
        return _counts(session, selection, DailyRollup, DailyRollup.day, Espace.departement)
    if selection.by_area:  # a département, a région or the nation without a filter on espaces: no join
        parts = _departement_spans(selection, spans, lambda source, bucket: [(source.departement, "departement"),
                                                                             (bucket, "day")])
    else:
        parts = []
        for span in spans:
            source = DailyRollup if span.unit == "day" else PERIOD_ROLLUPS[DailyRollup][span.unit]
            bucket = getattr(source, span.unit)
            votes = (cast(func.sum(source.votes), BigInteger) * span.sign).label("votes")
            parts.append(select(Espace.departement, bucket.label("day"), votes)
                         .join(Espace, Espace.id == source.espace_id)
                         .where(*selection.span_filters(source, bucket, span.start, span.end))
                         .group_by(Espace.departement, bucket))
    rows = session.connection().execute(union_all(*parts)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["departement", "day", "votes"])


def _acts(session: Session, selection: Selection) -> pd.DataFrame:
    def in_period(table: Any) -> list[Any]:
        where = []
        if selection.start is not None:
            where.append(table.month >= selection.start.replace(day=1))
        if selection.end is not None:
            where.append(table.month < selection.end)
        return where

    per_espace = pd.DataFrame(
        [tuple(r) for r in session.execute(
            select(Espace.departement, EspaceActivity.month, cast(func.sum(EspaceActivity.actes), BigInteger))
            .join(Espace, Espace.id == EspaceActivity.espace_id)
            .where(*selection.espace_filters(), *in_period(EspaceActivity))
            .group_by(Espace.departement, EspaceActivity.month)
        )],
        columns=["departement", "month", "actes"],
    )
    if selection.level is Level.ESPACE or selection.espace_format or selection.kind:
        return per_espace
    dep_where: list[Any] = in_period(DepartementActivity)
    if selection.level is Level.DEPARTEMENT:
        dep_where.append(DepartementActivity.departement == selection.code)
    elif selection.level is Level.REGION:
        deps = [d for d, r in DEPARTEMENT_REGION.items() if r == selection.code]
        if selection.code == "COM":
            deps = list(COLLECTIVITES)
        dep_where.append(DepartementActivity.departement.in_(deps))
    per_dep = pd.DataFrame(
        [tuple(r) for r in session.execute(
            select(DepartementActivity.departement, DepartementActivity.month, DepartementActivity.actes)
            .where(*dep_where)
        )],
        columns=["departement", "month", "actes"],
    )
    if per_espace.empty:
        return per_dep
    keys = set(zip(per_dep["departement"], per_dep["month"], strict=True))
    fallback = per_espace[[(d, m) not in keys for d, m in zip(per_espace["departement"], per_espace["month"],
                                                                 strict=True)]]
    return pd.concat([per_dep, fallback], ignore_index=True) if not per_dep.empty else per_espace


def _plain(value: Any) -> Any:
    """A numpy scalar as a plain Python value; NaN as None."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and value != value:
            return None
    return value
