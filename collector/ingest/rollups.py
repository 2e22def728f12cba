"""The rollups: the one definition of the counts kept at ingest, which KPIs read instead of raw votes.

The tables are declared with the schema in :mod:`collector.db.models` (Alembic compares that metadata with the
migrations); this module says what they are to the vote path and to their readers, once:

- :data:`ROLLUPS`, the tables the store bumps, in the order it bumps them, each with its key columns and their
  database types (read from the tables themselves, not typed again);
- :data:`AREA_ROLLUPS`, which per-espace rollup each département and national rollup sums (the KPIs read those
  for a département, a région or the nation);
- :data:`PERIOD_ROLLUPS`, which monthly and yearly rollups sum each daily one (the KPIs read those for whole
  months and years when they do not group by day: the ranking, the participation, see
  :mod:`collector.kpi.periods`);
- :data:`BACKFILL`, how the area rollups are filled from the per-espace ones (the migration that created them
  ran it), :func:`long_period_backfill`, how the monthly, yearly and national hourly rollups are, and
  :func:`departement_hours_months_backfill`, the département hourly and monthly ones (likewise);
- :func:`bump`, adding a group's new votes to every rollup in one statement per table.

Guarantee: the rollups are bumped in the store's transaction, by exactly the votes that transaction inserted, so
a rollup never counts a vote twice nor one that was rolled back. Rows are taken in sorted order, so that two
collectors bumping the same rows lock them in the same order and cannot deadlock.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Boolean, Connection, Date, SmallInteger, String

from collector.db.models import (
    DailyRollup,
    DepartementDailyRollup,
    DepartementFollowupRollup,
    DepartementHourlyRollup,
    DepartementMonthlyRollup,
    FollowupRollup,
    HourlyRollup,
    MonthlyRollup,
    NationalDailyRollup,
    NationalFollowupRollup,
    NationalHourlyRollup,
    YearlyRollup,
)

_LOG = logging.getLogger(__name__)


def _key_types(model: Any) -> dict[str, str]:
    """A rollup's key columns, in the table's order, mapped to the types PostgreSQL's ``unnest`` casts to."""
    types: dict[str, str] = {}
    for column in model.__table__.primary_key.columns:
        kind = column.type
        if isinstance(kind, Boolean):
            types[column.name] = "bool"
        elif isinstance(kind, SmallInteger):
            types[column.name] = "int2"
        elif isinstance(kind, Date):
            types[column.name] = "date"
        elif isinstance(kind, String):
            types[column.name] = "varchar"
        else:  # pragma: no cover - a new key type must be named here
            raise TypeError(f"{model.__tablename__}.{column.name}: no type for {kind!r}")
    return types


#: The rollups kept at ingest: daily counts (KPIs), hourly (the heatmap), follow-up answers (resolution rate),
#: monthly and yearly counts (the ranking), then the same daily, follow-up, hourly and monthly counts per
#: département, and daily, follow-up and hourly counts national (area KPIs read those). The national rows, which
#: every group bumps, come last: their locks are held for the shortest time.
ROLLUP_MODELS: tuple[Any, ...] = (DailyRollup, HourlyRollup, FollowupRollup, MonthlyRollup, YearlyRollup,
                                  DepartementDailyRollup, DepartementFollowupRollup, DepartementHourlyRollup,
                                  DepartementMonthlyRollup, NationalDailyRollup, NationalFollowupRollup,
                                  NationalHourlyRollup)
ROLLUPS: tuple[tuple[str, dict[str, str]], ...] = tuple((m.__tablename__, _key_types(m)) for m in ROLLUP_MODELS)

#: Per-espace rollup -> the same counts per département (None: not kept), and national.
AREA_ROLLUPS: dict[Any, tuple[Any | None, Any]] = {
    DailyRollup: (DepartementDailyRollup, NationalDailyRollup),
    FollowupRollup: (DepartementFollowupRollup, NationalFollowupRollup),
    HourlyRollup: (DepartementHourlyRollup, NationalHourlyRollup),
}

#: Daily rollup -> the same counts per month, and year (their column named after the unit, holding the local
#: month's or year's first day): per espace, and per département (months only).
PERIOD_ROLLUPS: dict[Any, dict[str, Any]] = {DailyRollup: {"month": MonthlyRollup, "year": YearlyRollup},
                                             DepartementDailyRollup: {"month": DepartementMonthlyRollup}}

#: The area rollups filled from the per-espace ones, each espace's counts going to its département.
BACKFILL = (
    "INSERT INTO rollup_departement_daily (departement, day, scale, answer, misuse, votes) "
    "SELECT e.departement, r.day, r.scale, r.answer, r.misuse, sum(r.votes) "
    "FROM rollup_daily r JOIN espaces e ON e.id = r.espace_id "
    "GROUP BY e.departement, r.day, r.scale, r.answer, r.misuse",
    "INSERT INTO rollup_departement_followup_daily (departement, day, scale, answer, misuse, followup, votes) "
    "SELECT e.departement, r.day, r.scale, r.answer, r.misuse, r.followup, sum(r.votes) "
    "FROM rollup_followup_daily r JOIN espaces e ON e.id = r.espace_id "
    "GROUP BY e.departement, r.day, r.scale, r.answer, r.misuse, r.followup",
    "INSERT INTO rollup_national_daily (day, scale, answer, misuse, votes) "
    "SELECT day, scale, answer, misuse, sum(votes) FROM rollup_departement_daily "
    "GROUP BY day, scale, answer, misuse",
    "INSERT INTO rollup_national_followup_daily (day, scale, answer, misuse, followup, votes) "
    "SELECT day, scale, answer, misuse, followup, sum(votes) FROM rollup_departement_followup_daily "
    "GROUP BY day, scale, answer, misuse, followup",
)


def long_period_backfill(postgres: bool) -> tuple[str, ...]:
    """The monthly, yearly and national hourly rollups filled from the per-espace daily and hourly ones."""
    def start_of(unit: str) -> str:
        return f"CAST(date_trunc('{unit}', day) AS date)" if postgres else f"date(day, 'start of {unit}')"

    return (
        *(f"INSERT INTO rollup_{table} (espace_id, {unit}, scale, answer, misuse, votes) "  # noqa: S608 - constants
          f"SELECT espace_id, {start_of(unit)}, scale, answer, misuse, sum(votes) FROM rollup_daily "
          f"GROUP BY espace_id, {start_of(unit)}, scale, answer, misuse"
          for table, unit in (("monthly", "month"), ("yearly", "year"))),
        "INSERT INTO rollup_national_hourly (day, hour, scale, answer, misuse, votes) "
        "SELECT day, hour, scale, answer, misuse, sum(votes) FROM rollup_hourly "
        "GROUP BY day, hour, scale, answer, misuse",
    )


def departement_hours_months_backfill(postgres: bool) -> tuple[str, ...]:
    """The département hourly and monthly rollups filled from the per-espace hourly one and the département
    daily one."""
    month = "CAST(date_trunc('month', day) AS date)" if postgres else "date(day, 'start of month')"
    return (
        "INSERT INTO rollup_departement_hourly (departement, day, hour, scale, answer, misuse, votes) "
        "SELECT e.departement, r.day, r.hour, r.scale, r.answer, r.misuse, sum(r.votes) "
        "FROM rollup_hourly r JOIN espaces e ON e.id = r.espace_id "
        "GROUP BY e.departement, r.day, r.hour, r.scale, r.answer, r.misuse",
        "INSERT INTO rollup_departement_monthly (departement, month, scale, answer, misuse, votes) "  # noqa: S608
        f"SELECT departement, {month}, scale, answer, misuse, sum(votes) FROM rollup_departement_daily "
        f"GROUP BY departement, {month}, scale, answer, misuse",
    )


class CountedVote(Protocol):
    """What a rollup needs of a vote: where and when (local day and hour) it was cast, and its answer."""

    @property
    def espace_id(self) -> str: ...
    @property
    def departement(self) -> str: ...
    @property
    def day(self) -> date: ...
    @property
    def hour(self) -> int: ...
    @property
    def scale(self) -> int: ...
    @property
    def answer(self) -> int: ...
    @property
    def misuse(self) -> bool: ...
    @property
    def followup(self) -> str | None: ...


def upsert_counts_sql(table: str, keys: dict[str, str], postgres: bool) -> str:
    """``INSERT ... ON CONFLICT DO UPDATE`` adding counts to a rollup; ``keys`` maps its key columns to types."""
    names = ", ".join(keys)
    if postgres:
        arrays = ", ".join(f"%s::{t}[]" for t in keys.values())
        source = f"SELECT * FROM unnest({arrays}, %s::int8[])"  # noqa: S608 - constants only
    else:
        source = f"VALUES ({', '.join('?' * (len(keys) + 1))})"
    return (f"INSERT INTO {table} ({names}, votes) {source} "
            f"ON CONFLICT ({names}) DO UPDATE SET votes = {table}.votes + excluded.votes")


def upsert_statements(postgres: bool) -> dict[str, str]:
    """Each rollup's upsert, for one dialect (built once per store)."""
    return {table: upsert_counts_sql(table, keys, postgres) for table, keys in ROLLUPS}


def counts(rows: Iterable[CountedVote]) -> tuple[Counter[tuple[Any, ...]], ...]:
    """The votes ``rows`` counted per key of each rollup, in the order of :data:`ROLLUPS`."""
    daily: Counter[tuple[Any, ...]] = Counter()
    hourly: Counter[tuple[Any, ...]] = Counter()
    followups: Counter[tuple[Any, ...]] = Counter()
    departement_of: dict[str, str] = {}
    for r in rows:
        departement_of[r.espace_id] = r.departement
        daily[(r.espace_id, r.day, r.scale, r.answer, r.misuse)] += 1
        hourly[(r.espace_id, r.day, r.hour, r.scale, r.answer, r.misuse)] += 1
        if r.followup is not None:
            followups[(r.espace_id, r.day, r.scale, r.answer, r.misuse, r.followup)] += 1
    monthly: Counter[tuple[Any, ...]] = Counter()
    yearly: Counter[tuple[Any, ...]] = Counter()
    for (espace, day, *key), n in daily.items():
        monthly[(espace, day.replace(day=1), *key)] += n
        yearly[(espace, day.replace(month=1, day=1), *key)] += n
    departements: Counter[tuple[Any, ...]] = Counter()
    departement_followups: Counter[tuple[Any, ...]] = Counter()
    departement_hourly: Counter[tuple[Any, ...]] = Counter()
    departement_monthly: Counter[tuple[Any, ...]] = Counter()
    for (espace, *key), n in daily.items():
        departements[(departement_of[espace], *key)] += n
    for (espace, *key), n in followups.items():
        departement_followups[(departement_of[espace], *key)] += n
    for (espace, *key), n in hourly.items():
        departement_hourly[(departement_of[espace], *key)] += n
    for (departement, day, *key), n in departements.items():
        departement_monthly[(departement, day.replace(day=1), *key)] += n
    national: Counter[tuple[Any, ...]] = Counter()
    national_followups: Counter[tuple[Any, ...]] = Counter()
    for (_, *key), n in departements.items():
        national[tuple(key)] += n
    for (_, *key), n in departement_followups.items():
        national_followups[tuple(key)] += n
    national_hourly: Counter[tuple[Any, ...]] = Counter()
    for (_, *key), n in hourly.items():
        national_hourly[tuple(key)] += n
    return (daily, hourly, followups, monthly, yearly, departements, departement_followups, departement_hourly,
            departement_monthly, national, national_followups, national_hourly)


def bump(conn: Connection, rows: Iterable[CountedVote], statements: dict[str, str], *, postgres: bool) -> None:
    """Add ``rows`` (votes just inserted in ``conn``'s transaction) to every rollup."""
    for (table, _), table_counts in zip(ROLLUPS, counts(rows), strict=True):
        if not table_counts:
            continue
        # Sorted, so that two collectors bumping the same rows lock them in the same order.
        items = sorted(table_counts.items())
        sql = statements[table]
        if postgres:
            columns = [list(c) for c in zip(*(k for k, _ in items), strict=True)]
            driver: Any = conn.connection.driver_connection  # psycopg's, in the same transaction
            with driver.cursor(binary=True) as cur:
                cur.execute(sql, (*columns, [n for _, n in items]), binary=True)
        else:
            conn.exec_driver_sql(sql, [
                (*(v.isoformat() if isinstance(v, date) else v for v in k), n) for k, n in items
            ])
