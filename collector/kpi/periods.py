"""How a period of local days is read from rollups of years, months and days, exactly and reading few rows.

A period ``[start, end)`` is a sum of :class:`Span`: whole years of a yearly rollup, whole months of a monthly
one and days of a daily one, each added or taken away. At each unit the period's start and end are rounded down or
up to the unit's first day, whichever reads fewer rows; the days between a rounded bound and the real one are then
read at the next finer unit, added (inside the period, outside the rounded span) or taken away (inside the
rounded span, outside the period). Counts are integers: the sum is exactly that of the period's days.

So the last 365 days ending on 2 December read one year, two months and two days an espace, instead of 365 days
(or 11 months and 31 days).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

_LOG = logging.getLogger(__name__)

#: The units, coarsest first, and the rows a bucket of each holds for an espace, about: one per answer given
#: for a day (a few votes a day), one per possible answer for a month or a year.
UNITS = ("year", "month", "day")
_ROWS = {"year": 4.0, "month": 4.0, "day": 1.0}
_DAYS = {"year": 365.0, "month": 30.0, "day": 1.0}
#: What an open end counts as, in days: many, so that it is read in the coarsest unit.
_OPEN_DAYS = 1e6


@dataclass(frozen=True, slots=True)
class Span:
    """Buckets of ``unit`` from ``start`` to ``end`` (their first days; None: unbounded), added or taken away."""

    unit: str
    start: date | None
    end: date | None
    sign: int  # 1: added, -1: taken away


def plan(start: date | None, end: date | None, units: tuple[str, ...] = UNITS) -> list[Span]:
    """The spans whose signed sum is ``[start, end)`` exactly, reading the fewest rows; ``units`` ends with day."""
    if units[-1] != "day":
        raise ValueError("the finest unit must be day")
    return _best(start, end, 1, units)[0]


def _floor(day: date, unit: str) -> date:
    return date(day.year, 1, 1) if unit == "year" else day.replace(day=1) if unit == "month" else day


def _next(day: date, unit: str) -> date:
    if unit == "year":
        return date(day.year + 1, 1, 1)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _bounds(day: date | None, unit: str) -> list[date | None]:
    """``day`` rounded down and up to ``unit`` (once if it is a first day already)."""
    if day is None:
        return [None]
    floor = _floor(day, unit)
    return [floor] if floor == day else [floor, _next(floor, unit)]


def _cost(start: date | None, end: date | None, unit: str) -> float:
    if start is None or end is None:
        return _ROWS[unit] * _OPEN_DAYS / _DAYS[unit]
    if unit == "year":
        count = end.year - start.year
    elif unit == "month":
        count = (end.year - start.year) * 12 + end.month - start.month
    else:
        count = (end - start).days
    return _ROWS[unit] * count


def _best(start: date | None, end: date | None, sign: int, units: tuple[str, ...]) -> tuple[list[Span], float]:
    if start is not None and end is not None and start >= end:
        return [], 0.0
    unit, finer = units[0], units[1:]
    if not finer:
        return [Span(unit, start, end, sign)], _cost(start, end, unit)
    best = _best(start, end, sign, finer)  # not reading this unit at all
    for first in _bounds(start, unit):
        for last in _bounds(end, unit):
            if first is not None and last is not None and first >= last:
                continue
            spans, cost = [Span(unit, first, last, sign)], _cost(first, last, unit)
            for bound, rounded, inside in ((start, first, True), (end, last, False)):
                if bound is None or rounded is None or bound == rounded:
                    continue
                # Days of the period outside the rounded span are added; days of the span outside it, taken away.
                added = bound < rounded if inside else rounded < bound
                gap, gap_cost = _best(min(bound, rounded), max(bound, rounded), sign if added else -sign, finer)
                spans += gap
                cost += gap_cost
            if cost < best[1]:
                best = (spans, cost)
    return best
