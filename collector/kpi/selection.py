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

    def whole_months(self) -> tuple[date | None, date | None] | None:
        """The whole local months of the period, ``[first, last)`` as first days (None: unbounded); None if none.

        The period is those months plus its edges, :meth:`before_months` and :meth:`after_months`, exactly.
        """
        first = self.start
        if first is not None and first.day != 1:
            first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        last = None if self.end is None else self.end.replace(day=1)
        if first is not None and last is not None and first >= last:
            return None
        return first, last

    def before_months(self, first: date | None) -> Selection | None:
        """This selection over the days before its whole months (``first`` from :meth:`whole_months`)."""
        if first is None or self.start is None or self.start >= first:
            return None
        return replace(self, end=first)

    def after_months(self, last: date | None) -> Selection | None:
        """This selection over the days after its whole months (``last`` from :meth:`whole_months`)."""
        if last is None or self.end is None or self.end <= last:
            return None
        return replace(self, start=last)

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
