"""IND-246 in the barometer's open-data format, so that the programme's platform can take it as it is.

Columns ``indic_id, enforce_zone_id, metric_enforce_date, maille, indic_vi, indic_va, indic_vc, indic_ta``:
per zone (``D01``, ``D2A``, ``D971``; ``R84``; ``FRANCE``), one row with the initial value, one row a period
with the current value (the satisfaction rate, in %), the last of them with the rate of progress towards the
target, and one row with the target at its date. As in the published file, ``indic_ta`` is
``(va - vi) / (vc - vi) x 100`` bounded to [0, 100], and values are rounded to 2 decimals and written the
published way (``95.0``, ``97.5``, ``66.67``). A period not over yet (``collector.kpi.stats.is_complete``) is
left out: the format cannot mark it, and one day of a month must not stand for the month.
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.orm import Session

from collector.auth import Level
from collector.db.models import DailyRollup, Espace
from collector.kpi.export import csv_text
from collector.kpi.selection import Selection
from collector.kpi.stats import Granularity, is_complete, local_today, period_start, with_answer_columns
from collector.kpi.targets import target_for
from collector.registry.geography import COM, DEPARTEMENT_REGION, zone_id

_LOG = logging.getLogger(__name__)

INDICATOR = "IND-246"
COLUMNS = ["indic_id", "enforce_zone_id", "metric_enforce_date", "maille", "indic_vi", "indic_va", "indic_vc",
           "indic_ta"]
TARGET_DATE = date(2026, 12, 1)
_MAILLE = {Level.DEPARTEMENT: "DEPT", Level.REGION: "REG", Level.NATIONAL: "NAT"}


def progress(vi: float, va: float, vc: float) -> float | None:
    """The barometer's rate of progress towards the target, in % bounded to [0, 100]."""
    if vc == vi:
        return None
    return round(min(100.0, max(0.0, (va - vi) / (vc - vi) * 100.0)), 2)


def ind246(session: Session, start: date | None = None, end: date | None = None, *,
           granularity: Granularity | str = Granularity.MONTH, initial: float = 0.0,
           initial_date: date | None = None, target_date: date = TARGET_DATE,
           include_misuse: bool = False, today: date | None = None) -> pd.DataFrame:
    """IND-246 for every département, région and France with votes over ``[start, end)``.

    ``initial`` is the initial value (``indic_vi``), dated ``initial_date`` (default: the first period); the
    published IND-246 starts every zone at 0.0. Targets come from :mod:`collector.kpi.targets` (95 %).
    """
    granularity = Granularity(granularity)
    selection = Selection(start=start, end=end, include_misuse=include_misuse)
    rows = session.execute(
        select(Espace.departement, DailyRollup.day, DailyRollup.scale, DailyRollup.answer,
               cast(func.sum(DailyRollup.votes), BigInteger))
        .join(Espace, Espace.id == DailyRollup.espace_id)
        .where(*selection.rollup_filters(DailyRollup))
        .group_by(Espace.departement, DailyRollup.day, DailyRollup.scale, DailyRollup.answer)
    ).all()
    counts = with_answer_columns(pd.DataFrame([tuple(r) for r in rows],
                                              columns=["departement", "day", "scale", "answer", "votes"]))
    if counts.empty:
        return pd.DataFrame(columns=COLUMNS)
    counts["period"] = [period_start(d, granularity) for d in counts["day"]]
    today = today or local_today()
    counts = counts[[is_complete(p, granularity, today=today, end=end) for p in counts["period"]]]
    if counts.empty:
        return pd.DataFrame(columns=COLUMNS)
    counts["region"] = counts["departement"].map(lambda d: DEPARTEMENT_REGION.get(d, COM))
    first = initial_date or counts["period"].min()
    out: list[dict[str, object]] = []
    for level, key in ((Level.DEPARTEMENT, "departement"), (Level.REGION, "region"), (Level.NATIONAL, None)):
        frame = counts[counts["region"] != COM] if key == "region" else counts  # COM is no barometer zone
        by = ["period"] if key is None else [key, "period"]
        grouped = frame.groupby(by, as_index=False, sort=True)[["votes", "satisfied"]].sum()
        zones = [(None, grouped)] if key is None else list(grouped.groupby(key, sort=True))
        for code, zone in zones:
            code_text = None if code is None else str(code[0] if isinstance(code, tuple) else code)
            out.extend(_zone_rows(session, level, code_text, zone, initial, first, target_date))
    return pd.DataFrame(out, columns=COLUMNS)


def _zone_rows(session: Session, level: Level, code: str | None, zone: pd.DataFrame, initial: float,
               first: date, target_date: date) -> list[dict[str, object]]:
    zid = zone_id(level.value, code)
    maille = _MAILLE[level]
    target = target_for(session, level, code)
    base = {"indic_id": INDICATOR, "enforce_zone_id": zid, "maille": maille}
    rows: list[dict[str, object]] = [{**base, "metric_enforce_date": first.isoformat(), "indic_vi": initial}]
    zone = zone[zone["votes"] > 0].sort_values("period")
    for i, (period, votes, satisfied) in enumerate(zip(zone["period"], zone["votes"], zone["satisfied"],
                                                       strict=True)):
        va = round(100.0 * int(satisfied) / int(votes), 2)
        row: dict[str, object] = {**base, "metric_enforce_date": period.isoformat(), "indic_va": va}
        if i == len(zone) - 1:
            row["indic_ta"] = progress(initial, va, target)
        rows.append(row)
    rows.append({**base, "metric_enforce_date": target_date.isoformat(), "indic_vc": target})
    return rows


def published_number(value: float | None) -> str:
    """A value as the published file writes it: rounded to 2 decimals, shortest form (``95.0``, ``66.67``)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return repr(round(float(value), 2))


def to_csv(frame: pd.DataFrame) -> str:
    """The barometer's CSV: comma-separated, header first, empty fields for missing values."""
    out = frame.astype(object)
    for column in ("indic_vi", "indic_va", "indic_vc", "indic_ta"):
        out[column] = [published_number(v) for v in frame[column]]
    return csv_text(out)
