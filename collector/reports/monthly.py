"""A zone's monthly report: its figures for the month, the daily curve against the target, its breakdown.

Figures come from :mod:`collector.kpi` (rollups), as on the dashboard; the month is a calendar month of local
days. The month before is given for comparison.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from sqlalchemy.orm import Session

from collector.auth import Level
from collector.dashboard.sheets import departement_name, departement_order, zone_name
from collector.dashboard.zones import zones
from collector.kpi import indicators
from collector.kpi.selection import Selection
from collector.kpi.stats import Granularity, period_end
from collector.reports.pdf import BLACK, BLUE, GREEN, GREY, LIGHT, RED, Document, Page

_LOG = logging.getLogger(__name__)

MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre"]
LEFT, RIGHT = 50.0, 545.0


@dataclass(frozen=True)
class Zone:
    level: Level
    code: str | None = None

    @property
    def key(self) -> str:
        return self.level.value if self.code is None else f"{self.level.value}-{self.code}"


def month_label(month: date) -> str:
    return f"{MONTHS[month.month - 1]} {month.year}"


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), 12 if month.month == 1 else month.month - 1, 1)


def _pct(rate: float | None) -> str:
    return "—" if rate is None or rate != rate else f"{rate * 100:.1f} %".replace(".", ",")


def _num(value: float) -> str:
    return f"{int(value):,}".replace(",", "\u00a0")


def build(session: Session, zone: Zone, month: date) -> bytes:
    """The PDF report of ``zone`` for the calendar month starting on ``month``."""
    month = month.replace(day=1)
    end = period_end(month, Granularity.MONTH)
    selection = Selection.make(session, zone.level, zone.code, start=month, end=end)
    result = indicators.satisfaction(session, selection, Granularity.DAY)
    before = indicators.satisfaction(session, Selection.make(session, zone.level, zone.code,
                                                             start=previous_month(month), end=month),
                                     Granularity.MONTH).total
    name = zone_name(session, zone.level, zone.code)
    doc = Document(f"Satisfaction des usagers, {name}, {month_label(month)}")
    page = doc.page()
    page.rect(0, 0, 595.28, 8, fill=BLUE)
    page.text(LEFT, 40, "France services · satisfaction des usagers", size=10, colour=GREY)
    page.text(LEFT, 66, f"Rapport mensuel : {name}", size=18, font="bold", colour=BLUE)
    page.text(LEFT, 86, f"{month_label(month).capitalize()} (jours locaux du {month:%d/%m/%Y} au "
              f"{end - timedelta(days=1):%d/%m/%Y})", size=11)
    _cards(page, result.total, before, result.target, y=110)
    _curve(page, result.series, result.target, month, end, y=215, height=210)
    _breakdown(page, session, selection, zone, result.target, y=492)
    page.text(LEFT, 815, "Chiffres du collecteur borne (rollups des votes, hors votes signalés comme abusifs). "
              "Taux = votes satisfaits / votes ; intervalle de Wilson à 95 %.", size=7, colour=GREY)
    return doc.bytes()


def _cards(page: Page, total: dict[str, object], before: dict[str, object], target: float, y: float) -> None:
    rate = total.get("rate")
    votes = int(total.get("votes") or 0)  # type: ignore[call-overload]
    rate_f = float(rate) if isinstance(rate, int | float) else None
    before_rate = before.get("rate")
    before_f = float(before_rate) if isinstance(before_rate, int | float) else None
    attained = rate_f is not None and rate_f * 100 >= target
    cards = [
        ("Taux de satisfaction", _pct(rate_f),
         f"intervalle : {_pct(total.get('wilson_low'))} – {_pct(total.get('wilson_high'))}"  # type: ignore[arg-type]
         if rate_f is not None else "aucun vote"),
        ("Votes", _num(votes), f"dont {_num(int(total.get('satisfied') or 0))} satisfaits"),  # type: ignore[call-overload]
        ("Objectif", f"{target:.1f} %".replace(".", ","),
         ("atteint" if attained else "non atteint") if rate_f is not None else "—"),
        ("Mois précédent", _pct(before_f),
         "écart : " + (f"{(rate_f - before_f) * 100:+.1f} pt".replace(".", ",")
                       if rate_f is not None and before_f is not None else "—")),
    ]
    width = (RIGHT - LEFT - 3 * 10) / 4
    for i, (title, value, sub) in enumerate(cards):
        x = LEFT + i * (width + 10)
        page.rect(x, y, width, 80, stroke=GREY)
        page.rect(x, y, width, 3, fill=BLUE)
        page.text(x + 8, y + 20, title, size=9, colour=GREY)
        colour = (GREEN if attained else RED) if title == "Objectif" and rate_f is not None else BLACK
        page.text(x + 8, y + 46, value, size=18, font="bold")
        page.text(x + 8, y + 66, sub, size=8, colour=colour)


def _curve(page: Page, series: pd.DataFrame, target: float, month: date, end: date, y: float,
           height: float) -> None:
    """Votes a day (bars) and the daily rate (line) against the target (dashed)."""
    page.text(LEFT, y - 8, "Taux de satisfaction et votes, jour par jour", size=12, font="bold", colour=BLUE)
    top, bottom = y + 10, y + height
    left, right = LEFT + 30, RIGHT - 30
    days = (end - month).days
    step = (right - left) / days
    lowest = min([target, *(r * 100 for r in series["rate"].dropna())]) if not series.empty else target
    floor = max(0.0, (int(lowest) // 5) * 5 - 5)
    most = max(1, int(series["votes"].max())) if not series.empty else 1

    def y_rate(rate: float) -> float:
        return bottom - (rate - floor) / (100 - floor) * (bottom - top)

    for tick in range(int(floor), 101, 5):
        page.line(left, y_rate(tick), right, y_rate(tick), colour=(0.87, 0.87, 0.87), width=0.5)
        page.text(left - 4, y_rate(tick) + 3, f"{tick} %", size=7, colour=GREY, align="right")
    page.text(right + 4, top + 3, _num(most), size=7, colour=GREY)
    page.text(right + 4, bottom + 3, "0 vote", size=7, colour=GREY)
    points: list[tuple[float, float]] = []
    segments: list[list[tuple[float, float]]] = [[]]
    last_index = -2
    for row in series.to_dict(orient="records"):
        index = (row["period"] - month).days
        x = left + index * step
        bar = int(row["votes"]) / most * (bottom - top)
        page.rect(x + step * 0.15, bottom - bar, step * 0.7, bar, fill=LIGHT)
        if row["rate"] is not None and row["rate"] == row["rate"]:
            if index != last_index + 1:  # a day without votes breaks the line: no rate to draw through
                segments.append([])
            segments[-1].append((x + step / 2, y_rate(float(row["rate"]) * 100)))
            points.append(segments[-1][-1])
            last_index = index
    for segment in segments:
        page.polyline(segment, colour=BLUE, width=1.8)
    for px, py in points:
        page.rect(px - 1.5, py - 1.5, 3, 3, fill=BLUE)
    page.line(left, y_rate(target), right, y_rate(target), colour=RED, width=1.2, dash=(4, 3))
    page.text(left + 4, y_rate(target) - 4, f"objectif {target:.1f} %".replace(".", ","), size=8, colour=RED)
    page.line(left, bottom, right, bottom, colour=GREY, width=0.8)
    for day in (1, 8, 15, 22, 29):
        if day <= days:
            page.text(left + (day - 1) * step + step / 2, bottom + 12, f"{day:02d}/{month:%m}", size=7,
                      colour=GREY, align="centre")
    page.rect(LEFT, bottom + 22, 8, 8, fill=LIGHT)
    page.text(LEFT + 12, bottom + 29, "votes du jour", size=8)
    page.line(LEFT + 90, bottom + 26, LEFT + 104, bottom + 26, colour=BLUE, width=1.8)
    page.text(LEFT + 108, bottom + 29, "taux de satisfaction du jour", size=8)


def _breakdown(page: Page, session: Session, selection: Selection, zone: Zone, target: float, y: float) -> None:
    """The zone's régions, départements or espaces (at most 16 rows), each with its votes, rate and attainment."""
    ranking = indicators.ranking(session, selection, by="votes")
    if zone.level is Level.NATIONAL:
        title, key = "Par région", "region"
    elif zone.level is Level.REGION:
        title, key = "Par département", "departement"
    else:
        title, key = "Par espace", "name"
    page.text(LEFT, y, title, size=12, font="bold", colour=BLUE)
    if ranking.empty:
        page.text(LEFT, y + 20, "Aucun vote sur le mois.", size=10)
        return
    grouped = ranking.groupby(key, as_index=False)[["votes", "satisfied"]].sum()
    names = zones()["regions"]
    grouped["label"] = [names.get(c, c) if key == "region" else departement_name(c) if key == "departement" else c
                        for c in grouped[key]]
    grouped["order"] = [departement_order(c) if key == "departement" else (0, str(label))
                        for c, label in zip(grouped[key], grouped["label"], strict=True)]
    grouped = grouped.sort_values("order").head(16)
    columns = [(LEFT + 4, "Zone", "left"), (LEFT + 300, "Votes", "right"), (LEFT + 380, "Taux", "right"),
               (RIGHT - 4, "Objectif", "right")]
    row_y = y + 14
    page.rect(LEFT, row_y, RIGHT - LEFT, 18, fill=(0.96, 0.96, 0.96))
    for x, header, align in columns:
        page.text(x, row_y + 12, header, size=9, font="bold", align=align)
    for row in grouped.to_dict(orient="records"):
        row_y += 18
        rate = row["satisfied"] / row["votes"] if row["votes"] else None
        reached = rate is not None and rate * 100 >= target
        page.line(LEFT, row_y + 18, RIGHT, row_y + 18, colour=(0.87, 0.87, 0.87), width=0.5)
        page.text(columns[0][0], row_y + 12, str(row["label"])[:60], size=9)
        page.text(columns[1][0], row_y + 12, _num(row["votes"]), size=9, align="right")
        page.text(columns[2][0], row_y + 12, _pct(rate), size=9, align="right")
        page.text(columns[3][0], row_y + 12, "atteint" if reached else "non atteint", size=9, align="right",
                  colour=GREEN if reached else RED)
