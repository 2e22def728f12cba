"""Départements and régions: the official INSEE codes (COG), and each département's time zone.

101 départements in 18 régions, with ``2A`` and ``2B`` for Corsica and ``971``-``976`` overseas. The ANCT
list also holds Saint-Martin (``978``), a collectivité d'outre-mer outside any région: it is counted under the
pseudo-région ``COM`` and in the national figures. Codes in the barometer's files: ``D01``, ``D2A``, ``D971``,
``R84``, ``FRANCE``.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

_LOG = logging.getLogger(__name__)

REGIONS: dict[str, str] = {
    "01": "Guadeloupe",
    "02": "Martinique",
    "03": "Guyane",
    "04": "La Réunion",
    "06": "Mayotte",
    "11": "Île-de-France",
    "24": "Centre-Val de Loire",
    "27": "Bourgogne-Franche-Comté",
    "28": "Normandie",
    "32": "Hauts-de-France",
    "44": "Grand Est",
    "52": "Pays de la Loire",
    "53": "Bretagne",
    "75": "Nouvelle-Aquitaine",
    "76": "Occitanie",
    "84": "Auvergne-Rhône-Alpes",
    "93": "Provence-Alpes-Côte d'Azur",
    "94": "Corse",
}
COM = "COM"

_REGION_DEPARTEMENTS: dict[str, tuple[str, ...]] = {
    "01": ("971",),
    "02": ("972",),
    "03": ("973",),
    "04": ("974",),
    "06": ("976",),
    "11": ("75", "77", "78", "91", "92", "93", "94", "95"),
    "24": ("18", "28", "36", "37", "41", "45"),
    "27": ("21", "25", "39", "58", "70", "71", "89", "90"),
    "28": ("14", "27", "50", "61", "76"),
    "32": ("02", "59", "60", "62", "80"),
    "44": ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88"),
    "52": ("44", "49", "53", "72", "85"),
    "53": ("22", "29", "35", "56"),
    "75": ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"),
    "76": ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"),
    "84": ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"),
    "93": ("04", "05", "06", "13", "83", "84"),
    "94": ("2A", "2B"),
}

DEPARTEMENT_REGION: dict[str, str] = {
    dep: region for region, deps in _REGION_DEPARTEMENTS.items() for dep in deps
}
#: Collectivités d'outre-mer found in the ANCT list.
COLLECTIVITES: dict[str, str] = {"975": "Saint-Pierre-et-Miquelon", "977": "Saint-Barthélemy", "978": "Saint-Martin"}

_TIMEZONES: dict[str, str] = {
    "971": "America/Guadeloupe",
    "972": "America/Martinique",
    "973": "America/Cayenne",
    "974": "Indian/Reunion",
    "975": "America/Miquelon",
    "976": "Indian/Mayotte",
    "977": "America/St_Barthelemy",
    "978": "America/Marigot",
}
PARIS = ZoneInfo("Europe/Paris")


class UnknownDepartement(ValueError):
    """Not an INSEE département code (nor a collectivité d'outre-mer of the ANCT list)."""


def normalise_departement(code: str) -> str:
    """``"1"`` -> ``"01"``, ``"2a"`` -> ``"2A"``; raise :class:`UnknownDepartement` for anything else."""
    text = str(code).strip().upper()
    if text.isdigit() and len(text) == 1:
        text = "0" + text
    if text in DEPARTEMENT_REGION or text in COLLECTIVITES:
        return text
    raise UnknownDepartement(f"unknown département code {code!r}")


def region_of(departement: str) -> str:
    dep = normalise_departement(departement)
    return DEPARTEMENT_REGION.get(dep, COM)


def timezone_of(departement: str) -> ZoneInfo:
    name = _TIMEZONES.get(departement)
    return ZoneInfo(name) if name else PARIS


def zone_id(level: str, code: str | None) -> str:
    """The barometer's zone id: ``D2A``, ``R84``, ``FRANCE``."""
    if level == "national":
        return "FRANCE"
    if code is None:
        raise ValueError(f"level {level} needs a code")
    return {"departement": "D", "region": "R"}[level] + code
