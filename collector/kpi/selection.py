"""What an indicator is computed over: a level and its code, a period of local days, and filters.

Every query of :mod:`collector.kpi` reads rollups joined to ``espaces`` and restricted by a
:class:`Selection` (or, for a département, a région or the nation without a filter on espaces, the area
rollups, which need no join); none reads the raw votes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from collector.auth import Level
from collector.db.models import Espace
from collector.registry.geography import COM, REGIONS, UnknownDepartement, normalise_departement, zone_id

_LOG = logging.getLogger(__name__)

#: What reading a month's counts costs, in days' counts: a day's row per answer given, a month's per answer
#: possible (about four a day's, at a few votes a day and espace).
_MONTH_COST = 4


class SelectionError(ValueError):
    """A level, code or period that does not make sense; the message says why."""


class UnknownEspace(SelectionError):
    """No espace has this id."""


@dataclass(frozen=True, slots=True)
class Selection:
    """``level``/``code`` over local days ``[start, end)``; misuse-flagged votes left out unless asked."""

    level: Level = Level.NATIONAL
    code: str | None = None
    start: date | None = None
    end: date | None = None
    include_misuse: bool = False
    espace_format: str | None = None  # fixed, bus, itinerant
    kind: str | None = None  # Principal, Antenne

    @classmethod
    def make(cls, session: Session | None, level: Level | str, code: str | None = None, **kwargs: Any) -> Selection:
        """A checked selection: the code normalised (``2a`` -> ``2A``), an espace's existence checked."""
        level = Level(level)
        if level is Level.NATIONAL:
            code = None
        elif not code:
            raise SelectionError(f"level {level.value} needs a code")
        elif level is Level.DEPARTEMENT:
            try:
                code = normalise_departement(code)
            except UnknownDepartement as exc:
                raise SelectionError(str(exc)) from None
        elif level is Level.REGION:
            code = code.strip().upper()
            if code not in REGIONS and code != COM:
                raise SelectionError(f"unknown région code {code!r}")
        elif session is not None and session.get(Espace, code) is None:
            raise UnknownEspace(f"unknown espace {code}")
        selection = cls(level=level, code=code, **kwargs)
        if selection.start and selection.end and selection.start >= selection.end:
            raise SelectionError("'from' must come before 'to'")
        return selection

    @property
    def zone_id(self) -> str | None:
        """The barometer's zone id (``D2A``, ``R84``, ``FRANCE``); None for an espace."""
        if self.level is Level.ESPACE:
            return None
        return zone_id(self.level.value, self.code)

    def espace_filters(self) -> list[ColumnElement[bool]]:
        """Conditions on ``espaces`` for this level, code and filters."""
        where: list[ColumnElement[bool]] = []
        if self.level is Level.ESPACE:
            where.append(Espace.id == self.code)
        elif self.level is Level.DEPARTEMENT:
            where.append(Espace.departement == self.code)
        elif self.level is Level.REGION:
            where.append(Espace.region == self.code)
        if self.espace_format:
            where.append(Espace.format == self.espace_format)
        if self.kind:
            where.append(Espace.kind == self.kind)
        return where

    @property
    def by_area(self) -> bool:
        """Whether the département and national rollups can answer: an area level, no filter on espaces."""
        return self.level is not Level.ESPACE and not self.espace_format and not self.kind

    def area_filters(self, table: Any) -> list[ColumnElement[bool]]:
        """Conditions on a département rollup (``departement``, ``day``, ``misuse``), or a national one."""
        where: list[ColumnElement[bool]] = []
        if self.level is Level.DEPARTEMENT:
            where.append(table.departement == self.code)
        elif self.level is Level.REGION:
            # The départements of the région's espaces: the same espaces as ``espace_filters`` selects.
            where.append(table.departement.in_(
                select(Espace.departement).where(Espace.region == self.code).distinct()))
        return where + self._period_filters(table)

    def month_plan(self) -> tuple[date | None, date | None, list[tuple[Selection, int]]] | None:
        """The period as local months ``[first, last)`` (first days; None: unbounded) plus or minus some days.

        Returns ``(first, last, days)``: ``days`` are this selection over day ranges, each with ``1`` (to add:
        days of the period outside those months) or ``-1`` (to take away: days of those months outside the
        period); the months' counts plus and minus those days' are the period's, exactly. The months are chosen
        to read the fewest rows (a month's row per answer, four for a day's): the period's start and end each
        rounded down or up to a month's first day. None when reading the period's days alone is cheaper.
        """
        def month_number(day: date) -> int:
            return day.year * 12 + day.month - 1

        def month_start(number: int) -> date:
            return date(number // 12, number % 12 + 1, 1)

        def bounds(day: date | None) -> list[date | None]:
            if day is None:
                return [None]
            floor = day.replace(day=1)
            return [floor] if floor == day else [floor, month_start(month_number(floor) + 1)]

        def days_between(a: date | None, b: date | None) -> int:
            return 0 if a is None or b is None else abs((b - a).days)

        best: tuple[int, date | None, date | None] | None = None
        for first in bounds(self.start):
            for last in bounds(self.end):
                if first is not None and last is not None and first >= last:
                    continue
                months = (10**6 if last is None else month_number(last)) - (0 if first is None else month_number(first))
                cost = _MONTH_COST * months + days_between(first, self.start) + days_between(self.end, last)
                if best is None or cost < best[0]:
                    best = (cost, first, last)
        bounded = self.start is not None and self.end is not None
        if best is None or (bounded and days_between(self.start, self.end) <= best[0]):
            return None
        _, first, last = best
        days: list[tuple[Selection, int]] = []
        if first is not None and self.start is not None and first != self.start:
            days.append((replace(self, start=min(first, self.start), end=max(first, self.start)),
                         1 if self.start < first else -1))
        if last is not None and self.end is not None and last != self.end:
            days.append((replace(self, start=min(last, self.end), end=max(last, self.end)),
                         1 if last < self.end else -1))
        return first, last, days

    def month_filters(self, table: Any, first: date | None, last: date | None) -> list[ColumnElement[bool]]:
        """Conditions on a monthly rollup (``month``, ``misuse`` columns) for the whole months ``[first, last)``."""
        where = list(self.espace_filters())
        if first is not None:
            where.append(table.month >= first)
        if last is not None:
            where.append(table.month < last)
        if not self.include_misuse:
            where.append(table.misuse.is_(False))
        return where

    def rollup_filters(self, table: Any) -> list[ColumnElement[bool]]:
        """Conditions on a rollup table (``day``, ``misuse`` columns) for the period and misuse."""
        return list(self.espace_filters()) + self._period_filters(table)

    def _period_filters(self, table: Any) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.start is not None:
            where.append(table.day >= self.start)
        if self.end is not None:
            where.append(table.day < self.end)
        if not self.include_misuse:
            where.append(table.misuse.is_(False))
        return where
