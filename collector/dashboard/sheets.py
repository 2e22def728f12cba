"""The table behind each dashboard view, built from the same functions as the API answers, for the exports.

Each builder takes what the API's route would read (a checked :class:`Selection`, or the user's kiosks and
alerts as the API lists them) and returns a :class:`collector.dashboard.exports.Sheet` with French headers.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.auth import Level
from collector.dashboard.exports import Column, Kind, Sheet, period_label
from collector.dashboard.zones import DEPARTEMENT_NAMES, zones
from collector.db.models import Espace
from collector.kpi import indicators
from collector.kpi.selection import Selection
from collector.kpi.targets import target_for
from collector.registry.geography import PARIS

_LOG = logging.getLogger(__name__)

WEEKDAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
STEPS = {"day": "jour", "week": "semaine", "month": "mois", "quarter": "trimestre", "year": "année"}
STATES = {"online": "en ligne", "offline": "hors ligne", "unknown": "jamais vue"}
RULES = {"unhappy": "usagers mécontents", "offline": "borne hors ligne", "rollout": "déploiement bloqué"}
BOUNDS = (Column("Intervalle à 95 % : borne basse (%)", Kind.RATE),
          Column("Intervalle à 95 % : borne haute (%)", Kind.RATE))


def departement_name(code: str) -> str:
    return f"{DEPARTEMENT_NAMES.get(code, 'Département')} ({code})"


def zone_name(session: Session, level: Level, code: str | None) -> str:
    """« France entière », « Bretagne », « Côtes-d'Armor (22) » or the espace's name."""
    if level is Level.NATIONAL or code is None:
        return "France entière"
    if level is Level.REGION:
        return str(zones()["regions"].get(code, f"Région {code}"))
    if level is Level.DEPARTEMENT:
        return departement_name(code)
    espace = session.get(Espace, code)
    return espace.name if espace is not None else f"Espace {code}"


def _period(selection: Selection) -> str:
    return period_label(selection.start, selection.end)


def satisfaction(session: Session, selection: Selection, granularity: str) -> Sheet:
    result = indicators.satisfaction(session, selection, granularity)
    sheet = Sheet("Satisfaction", zone_name(session, selection.level, selection.code), _period(selection), [
        Column("Pas"), Column("Début de la période"), Column("Période complète"), Column("Votes", Kind.INT),
        Column("Satisfaits", Kind.INT), Column("Taux de satisfaction (%)", Kind.RATE),
        *BOUNDS,
        Column("Indice (0-100)", Kind.NUMBER), Column("Démarche résolue (%)", Kind.RATE),
        Column("Objectif (%)", Kind.NUMBER), Column("Objectif atteint"),
    ])
    for row in result.series.to_dict(orient="records"):
        sheet.rows.append([STEPS[result.granularity.value], row["period"], bool(row["complete"]), row["votes"],
                           row["satisfied"], row["rate"], row["wilson_low"], row["wilson_high"], row["index"],
                           row["resolution_rate"], result.target, _bool(row["attained"])])
    return sheet


def ranking(session: Session, selection: Selection, by: str, min_votes: int) -> Sheet:
    frame = indicators.ranking(session, selection, by=by, min_votes=min_votes)
    sheet = Sheet("Classement", zone_name(session, selection.level, selection.code), _period(selection), [
        Column("Rang", Kind.INT), Column("Espace"), Column("Identifiant (id_fs)"), Column("Département"),
        Column("Votes", Kind.INT), Column("Satisfaits", Kind.INT), Column("Taux de satisfaction (%)", Kind.RATE),
        *BOUNDS,
        Column("Indice (0-100)", Kind.NUMBER),
    ])
    for row in frame.to_dict(orient="records"):
        sheet.rows.append([row["rank"], row["name"], row["espace_id"], departement_name(row["departement"]),
                           row["votes"], row["satisfied"], row["rate"], row["wilson_low"], row["wilson_high"],
                           row["index"]])
    return sheet


def heatmap(session: Session, selection: Selection) -> Sheet:
    frame = indicators.heatmap(session, selection)
    sheet = Sheet("Heures et jours", zone_name(session, selection.level, selection.code), _period(selection), [
        Column("Jour"), Column("Heure locale"), Column("Votes", Kind.INT), Column("Satisfaits", Kind.INT),
        Column("Taux de satisfaction (%)", Kind.RATE), Column("Indice (0-100)", Kind.NUMBER),
    ])
    for row in frame.sort_values(["weekday", "hour"]).to_dict(orient="records"):
        sheet.rows.append([WEEKDAYS[int(row["weekday"])], f"{int(row['hour']):02d} h", row["votes"],
                           row["satisfied"], row["rate"], row["index"]])
    return sheet


def departements(session: Session, selection: Selection) -> Sheet:
    """The map's table: the zone's départements with votes, their rate and the zone's target."""
    frame = indicators.breakdown(session, selection, "departement")
    target = target_for(session, selection.level, selection.code)
    sheet = Sheet("Carte", zone_name(session, selection.level, selection.code), _period(selection), [
        Column("Département"), Column("Votes", Kind.INT), Column("Satisfaits", Kind.INT),
        Column("Taux de satisfaction (%)", Kind.RATE), Column("Objectif (%)", Kind.NUMBER),
        Column("Objectif atteint"),
    ])
    if frame.empty:
        return sheet
    for row in sorted(frame.itertuples(index=False), key=lambda r: departement_order(r.code)):
        rate = float(row.rate)  # a département is listed only with votes
        sheet.rows.append([departement_name(row.code), int(row.votes), int(row.satisfied), rate, target,
                           rate * 100 >= target])
    return sheet


def departement_order(code: str) -> tuple[int, str]:
    """Département codes in the INSEE order: 19, 2A, 2B, 21 ... 95, 971."""
    if code in ("2A", "2B"):
        return 20, code
    digits = re.sub(r"\D", "", code) or "0"
    return int(digits), code


def kiosks(session: Session, rows: list[Any], zone: str) -> Sheet:
    """The fleet page's table, from the API's kiosks (``KioskPublic``)."""
    names = _espace_names(session, {k.espace_id for k in rows})
    sheet = Sheet("Parc de bornes", zone, _now_label(), [
        Column("Borne"), Column("Espace"), Column("Département"), Column("État"),
        Column("Dernier contact (heure de Paris)"), Column("Votes en attente", Kind.INT), Column("Version"),
        Column("Logiciel installé"), Column("Logiciel demandé"), Column("Dernière mise à jour"),
    ])
    for k in sorted(rows, key=lambda k: (k.last_seen is not None, k.last_seen or datetime.min, k.id)):
        sheet.rows.append([k.id, names.get(k.espace_id, k.espace_id), departement_name(k.departement),
                           STATES.get(k.status or "unknown", k.status), _paris(k.last_seen), k.outbox_depth,
                           k.version, k.release or "usine", k.release_desired or "", k.update_result or ""])
    return sheet


def alerts(session: Session, rows: list[Any], zone: str) -> Sheet:
    """The alerts page's table, from the API's alerts (``AlertPublic``)."""
    names = _espace_names(session, {a.espace_id for a in rows if a.espace_id})
    sheet = Sheet("Alertes", zone, _now_label(), [
        Column("Déclenchée le (heure de Paris)"), Column("Terminée le (heure de Paris)"), Column("Règle"),
        Column("Espace"), Column("Borne"), Column("Détail"),
    ])
    for a in rows:
        rule = next((label for key, label in RULES.items() if key in a.rule), a.rule)
        sheet.rows.append([_paris(a.raised_at), _paris(a.cleared_at), rule,
                           names.get(a.espace_id, a.espace_id or ""), a.kiosk_id or "", a.detail])
    return sheet


def _espace_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {i: n for i, n in session.execute(select(Espace.id, Espace.name).where(Espace.id.in_(ids)))}


def _paris(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(PARIS)


def _now_label() -> str:
    return f"état au {datetime.now(UTC).astimezone(PARIS):%d/%m/%Y %H:%M} (heure de Paris)"


def _bool(value: Any) -> bool | None:
    return None if value is None or pd.isna(value) else bool(value)
