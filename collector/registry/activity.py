"""Acts carried out, the denominator of participation (votes per act).

Two formats, told apart by their header:

- per espace and month: ``espace_id,month,actes`` (``month`` as ``2024-03`` or ``2024-03-01``);
- per département and month: the barometer's IND-323 file (``indic_id,enforce_zone_id,metric_enforce_date,
  maille,indic_vi,indic_va,...``); its ``DEPT`` rows are kept (the value is ``indic_va``, or ``indic_vi`` on the
  initial row), régions and France being sums of départements.

Re-importing replaces a month's figure, so an import is idempotent. Bad rows are reported (line, reason).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from collector.db.models import DepartementActivity, Espace, EspaceActivity
from collector.registry.espaces_import import BadRow, ImportFailed, read_csv, read_source
from collector.registry.geography import UnknownDepartement, normalise_departement

_LOG = logging.getLogger(__name__)

_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
MAX_COUNT = 2**31 - 1  # the column is an INTEGER


@dataclass
class ActivityReport:
    kind: str = ""
    rows: int = 0
    imported: int = 0
    skipped: int = 0
    bad: list[BadRow] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.kind}: {self.rows} rows, {self.imported} imported, {self.skipped} skipped, "
                f"{len(self.bad)} bad")


def parse_month(text: str) -> date:
    match = _MONTH.match(text.strip())
    if not match:
        raise ValueError(f"month {text[:20]!r} is not YYYY-MM or YYYY-MM-DD")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise ValueError(f"month {text[:20]!r} does not exist")
    return date(year, month, 1)


def parse_count(text: str) -> int:
    try:
        value = float(text.strip().replace(" ", ""))
    except ValueError:
        raise ValueError(f"actes {text[:20]!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or value > MAX_COUNT or value != int(value):
        raise ValueError(f"actes {text[:20]!r} is not a count")
    return int(value)


def import_activity(session: Session, source: str | Path | bytes, *, now: datetime | None = None) -> ActivityReport:
    """Import acts per espace or per département (IND-323), whichever ``source`` holds."""
    data = source if isinstance(source, bytes) else read_source(source)
    frame, bad = read_csv(data)
    now = now or datetime.now(UTC)
    if {"espace_id", "month", "actes"} <= set(frame.columns):
        report = _per_espace(session, frame, now)
    elif {"indic_id", "enforce_zone_id", "metric_enforce_date", "maille"} <= set(frame.columns):
        report = _per_departement(session, frame, now)
    else:
        raise ImportFailed("neither 'espace_id,month,actes' nor the barometer's IND-323 columns")
    report.rows += len(bad)
    report.bad = sorted([*bad, *report.bad], key=lambda b: b.line)
    return report


def _per_espace(session: Session, frame: pd.DataFrame, now: datetime) -> ActivityReport:
    report = ActivityReport(kind="acts per espace", rows=len(frame))
    known = set(session.scalars(select(Espace.id)))
    values: dict[tuple[str, date], dict[str, Any]] = {}
    for row in frame.to_dict(orient="records"):
        line, espace_id = int(row["_line"]), row["espace_id"].strip()
        try:
            if espace_id not in known:
                raise ValueError(f"unknown espace {espace_id[:40]!r}")
            month, actes = parse_month(row["month"]), parse_count(row["actes"])
        except ValueError as exc:
            report.bad.append(BadRow(line, espace_id or None, str(exc)))
            continue
        values[(espace_id, month)] = {"espace_id": espace_id, "month": month, "actes": actes, "imported_at": now}
    _upsert(session, EspaceActivity, ["espace_id", "month"], list(values.values()))
    report.imported = len(values)
    return report


def _per_departement(session: Session, frame: pd.DataFrame, now: datetime) -> ActivityReport:
    report = ActivityReport(kind="acts per département (IND-323)", rows=len(frame))
    values: dict[tuple[str, date], dict[str, Any]] = {}
    for row in frame.to_dict(orient="records"):
        line, zone = int(row["_line"]), row["enforce_zone_id"].strip()
        value = (row.get("indic_va") or "").strip() or (row.get("indic_vi") or "").strip()
        if row["maille"].strip() != "DEPT" or not value:
            report.skipped += 1  # régions and France are sums; target rows carry no count
            continue
        try:
            if row["indic_id"].strip() != "IND-323":
                raise ValueError(f"indicator {row['indic_id'][:20]!r} is not IND-323")
            if not zone.startswith("D"):
                raise ValueError(f"zone {zone[:20]!r} is not a département")
            departement = normalise_departement(zone[1:])
            month, actes = parse_month(row["metric_enforce_date"]), parse_count(value)
        except (ValueError, UnknownDepartement) as exc:
            report.bad.append(BadRow(line, zone or None, str(exc)))
            continue
        values[(departement, month)] = {"departement": departement, "month": month, "actes": actes,
                                        "imported_at": now}
    _upsert(session, DepartementActivity, ["departement", "month"], list(values.values()))
    report.imported = len(values)
    return report


def _upsert(session: Session, model: Any, keys: list[str], values: list[dict[str, Any]]) -> None:
    if not values:
        return
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101 - narrows the type for mypy
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=keys,
                                      set_={"actes": stmt.excluded.actes, "imported_at": stmt.excluded.imported_at})
    for start in range(0, len(values), 1000):
        session.execute(stmt, values[start:start + 1000])
