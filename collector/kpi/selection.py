"""What an indicator is computed over: a level and its code, a period of local days, and filters.

Every query of :mod:`collector.kpi` reads rollups joined to ``espaces`` and restricted by a
:class:`Selection` (or, for a département, a région or the nation without a filter on espaces, the area
rollups, which need no join); none reads the raw votes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from collector.auth import Level
from collector.db.models import Espace
from collector.registry.geography import (
    COLLECTIVITES,
    COM,
    DEPARTEMENT_REGION,
    REGIONS,
    UnknownDepartement,
    normalise_departement,
    region_of,
    zone_id,
)

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
    def joins_espaces(self) -> bool:
        """Whether a per-espace rollup's conditions (:meth:`rollup_filters`, :meth:`span_filters`) name columns of
        ``espaces``: a département, a région, or a filter on espaces. Otherwise the rollup is read alone (its
        ``espace_id`` refers to an espace, which is never deleted): for the nation, a join of 90,000 rows saved."""
        return self.level in (Level.DEPARTEMENT, Level.REGION) or bool(self.espace_format or self.kind)

    def _rollup_espace_filters(self, espace_id: Any) -> list[ColumnElement[bool]]:
        """:meth:`espace_filters` on a per-espace rollup whose espace column is ``espace_id``."""
        if self.joins_espaces:
            return self.espace_filters()
        return [espace_id == self.code] if self.level is Level.ESPACE else []

    @property
    def by_area(self) -> bool:
        """Whether the département and national rollups can answer: an area level, no filter on espaces."""
        return self.level is not Level.ESPACE and not self.espace_format and not self.kind

    def area_filters(self, table: Any) -> list[ColumnElement[bool]]:
        """Conditions on a département rollup (``departement``, ``day``, ``misuse``), or a national one."""
        return self._departement_filters(table) + self._period_filters(table)

    def area_span_filters(self, table: Any, column: Any, start: date | None,
                          end: date | None) -> list[ColumnElement[bool]]:
        """Conditions on a département rollup for ``start <= column < end`` (a span of
        :func:`collector.kpi.periods.plan`)."""
        where = self._departement_filters(table)
        if self.level is Level.NATIONAL:
            # Every espace's département (every row's, then): the primary key (département, day, ...) is walked
            # département by département for a few days, instead of scanned whole (PostgreSQL: 42 -> 8 ms a day).
            where.append(table.departement.in_(select(Espace.departement).distinct()))
        if start is not None:
            where.append(column >= start)
        if end is not None:
            where.append(column < end)
        if not self.include_misuse:
            where.append(table.misuse.is_(False))
        return where

    def _departement_filters(self, table: Any) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.level is Level.DEPARTEMENT:
            where.append(table.departement == self.code)
        elif self.level is Level.REGION:
            # The région's départements: the same espaces as ``espace_filters`` selects, since the registry sets
            # an espace's région from its département (``region_of``). Named, not a subquery on ``espaces``: the
            # planner then knows how few they are (PostgreSQL, guessing about a hundred, scanned a whole rollup).
            where.append(table.departement.in_(region_departements(self.code or "")))
        return where

    def span_filters(self, table: Any, column: Any, start: date | None, end: date | None) -> list[ColumnElement[bool]]:
        """Conditions on a per-espace rollup ``table`` for ``start <= column < end`` (a span of
        :func:`collector.kpi.periods.plan`); joined to ``espaces`` if :attr:`joins_espaces`."""
        where = self._rollup_espace_filters(table.espace_id)
        misuse = table.misuse
        if start is not None:
            where.append(column >= start)
        if end is not None:
            where.append(column < end)
        if not self.include_misuse:
            where.append(misuse.is_(False))
        return where

    def rollup_filters(self, table: Any) -> list[ColumnElement[bool]]:
        """Conditions on a per-espace rollup table (``espace_id``, ``day``, ``misuse`` columns) for the level,
        period and misuse; joined to ``espaces`` if :attr:`joins_espaces`."""
        return self._rollup_espace_filters(table.espace_id) + self._period_filters(table)

    def _period_filters(self, table: Any) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.start is not None:
            where.append(table.day >= self.start)
        if self.end is not None:
            where.append(table.day < self.end)
        if not self.include_misuse:
            where.append(table.misuse.is_(False))
        return where


def region_departements(region: str) -> list[str]:
    """The départements (and collectivités) of a région, as :func:`region_of` assigns them; sorted."""
    return sorted(d for d in (*DEPARTEMENT_REGION, *COLLECTIVITES) if region_of(d) == region)
