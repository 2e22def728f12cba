"""The arithmetic of the indicators: Wilson intervals, periods, the 0-100 index, the trend.

Pure functions on numbers and pandas frames, so that they can be checked on tables.

Periods are calendar periods: the trend's slope is in points per calendar period, so a period without votes
still counts as one. A period is **complete** once its last day is over everywhere (in the time zone furthest
behind, Saint-Pierre-et-Miquelon's or the Antilles') and within the selection's ``to``; a period not complete is
listed, marked, but never weighed as a full one (left out of the trend and of IND-246).
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from collector.registry.geography import PARIS, timezone_of
from protocol.scales import MAX_SIZE

_LOG = logging.getLogger(__name__)

#: The normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054


class Granularity(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion ``successes / n`` (None, None when ``n`` is 0)."""
    if n <= 0:
        return None, None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_bounds(successes: pd.Series | np.ndarray, n: pd.Series | np.ndarray,
                  z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """:func:`wilson` for whole columns at once (NaN where ``n`` is 0): the same operations in the same order on
    floats, so the same bounds to the last bit, without a Python call a row (3,000 espaces in a national ranking).
    """
    k = np.asarray(successes, dtype="float64")
    total = np.asarray(n, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / total
        denominator = 1 + z * z / total
        centre = (p + z * z / (2 * total)) / denominator
        half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
        low, high = np.maximum(0.0, centre - half), np.minimum(1.0, centre + half)
    empty = total <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def period_start(day: date, granularity: Granularity) -> date:
    """The first day of the period ``day`` falls in; weeks start on Monday (ISO)."""
    if granularity is Granularity.DAY:
        return day
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    if granularity is Granularity.QUARTER:
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def period_number(day: date, granularity: Granularity) -> int:
    """The calendar period ``day`` falls in, as a count of periods: consecutive periods differ by 1."""
    if granularity is Granularity.DAY:
        return day.toordinal()
    if granularity is Granularity.WEEK:
        return (day.toordinal() - 1) // 7  # date(1, 1, 1) was a Monday
    if granularity is Granularity.MONTH:
        return day.year * 12 + day.month - 1
    if granularity is Granularity.QUARTER:
        return day.year * 4 + (day.month - 1) // 3
    return day.year


def period_end(start: date, granularity: Granularity) -> date:
    """The first day after the period that starts on ``start``."""
    if granularity is Granularity.DAY:
        return start + timedelta(days=1)
    if granularity is Granularity.WEEK:
        return start + timedelta(days=7)
    months = {Granularity.MONTH: 1, Granularity.QUARTER: 3, Granularity.YEAR: 12}[granularity]
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


#: Every time zone an espace can be in (``collector.registry.geography``).
_ZONES: tuple[ZoneInfo, ...] = (PARIS, *(timezone_of(d) for d in ("971", "972", "973", "974", "975", "976",
                                                                    "977", "978")))


def local_today(now: datetime | None = None) -> date:
    """Today's date where it is earliest: a day is over for every espace only once it is over there."""
    now = now or datetime.now(UTC)
    return min(now.astimezone(zone).date() for zone in _ZONES)


def is_complete(period: date, granularity: Granularity, *, today: date, end: date | None = None) -> bool:
    """Whether the period starting on ``period`` is over (before ``today``) and not cut short by ``end``."""
    stop = period_end(period, granularity)
    return stop <= today and (end is None or stop <= end)


#: An answer's index weight in these units is an integer on every scale: (answer - 1) x INDEX_UNITS / (size - 1),
#: of INDEX_UNITS for the top answer (12: the sizes less one, 1 to 4, all divide it).
INDEX_UNITS = math.lcm(*range(1, MAX_SIZE))


def with_answer_columns(counts: pd.DataFrame) -> pd.DataFrame:
    """Add ``satisfied`` (votes of satisfied answers) and ``points`` (votes x index weight, in
    :data:`INDEX_UNITS`: an integer) to rollup counts.

    ``counts`` has the columns ``scale``, ``answer`` and ``votes``; the definitions are those of
    :mod:`protocol.scales`: satisfied strictly above the middle, weights evenly spaced from 0 to 100.
    """
    out = counts.copy()
    scale = out["scale"].astype("int64")
    answer = out["answer"].astype("int64")
    votes = out["votes"].astype("int64")
    out["votes"] = votes
    out["satisfied"] = votes.where(answer * 2 > scale + 1, 0)
    out["points"] = votes * (answer - 1) * (INDEX_UNITS // (scale - 1))
    return out


def summary_columns(votes: Sequence[int] | np.ndarray, satisfied: Sequence[int] | np.ndarray,
                    points: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
    """Votes, satisfied votes, rate, Wilson bounds and index of groups whose integer sums (``points``: votes x
    index weight, as :func:`with_answer_columns` counts them) are given; NaN where a group has no vote.

    Every figure comes from integer sums with one division at the end, so it is the same whichever rows, in
    whichever order, added up to those sums: the index is the exact mean weight, rounded once.
    """
    votes = np.asarray(votes, dtype="int64")
    satisfied = np.asarray(satisfied, dtype="int64")
    points = np.asarray(points, dtype="int64")
    counted = np.where(votes > 0, votes, np.nan)
    low, high = wilson_bounds(satisfied, votes)
    index = (points * 100) / (counted * INDEX_UNITS)  # integers far below 2**53: one correctly rounded division
    return {"votes": votes, "satisfied": satisfied, "rate": satisfied / counted, "wilson_low": low,
            "wilson_high": high, "index": index}


def trend(rates: Iterable[tuple[date, float | None]], granularity: Granularity) -> float | None:
    """The least-squares slope of per-period rates, in percentage points a calendar period.

    ``rates`` are (period start, rate) pairs; a period missing from them (no votes) still counts as a period
    between its neighbours. None under 2 rates.
    """
    points: Sequence[tuple[int, float]] = [
        (period_number(p, granularity), float(r)) for p, r in rates if r is not None and not math.isnan(r)]
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return sxy / sxx * 100.0
