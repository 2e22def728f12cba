"""The départements' boundaries for the map: a GeoJSON file, checked once and cached.

The collector ships the public file (``geom_dep.geojson`` of the ANCT's cartography, Licence Ouverte / Etalab
2.0) simplified to ``data/departements.geojson`` (see ``data/LICENCE-departements.md``), so that every install
shows the map. ``BORNE_DEPARTEMENTS_GEOJSON`` may point at another FeatureCollection whose features carry an
``insee_dep`` property (``01``, ``2A``, ``971``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.registry.geography import UnknownDepartement, normalise_departement

_LOG = logging.getLogger(__name__)

SETTING = "BORNE_DEPARTEMENTS_GEOJSON"
PROPERTY = "insee_dep"
SHIPPED = Path(__file__).parent / "data" / "departements.geojson"


class DashboardSettings(BaseSettings):
    """The dashboard's own settings, read from the environment at each use (so that a change needs no restart)."""

    model_config = SettingsConfigDict(env_prefix="BORNE_", extra="ignore")

    departements_geojson: Path | None = Field(
        None, description="A GeoJSON FeatureCollection of the départements, with an 'insee_dep' property "
                          "(default: the simplified boundaries shipped with the collector)."
    )


class GeoJsonInvalid(ValueError):
    """The configured file is not a usable GeoJSON of départements; the message says why."""


@dataclass(frozen=True)
class Boundaries:
    path: Path
    body: bytes  # the file as served: features with a known insee_dep, normalised
    departements: tuple[str, ...]


_cache: dict[tuple[str, int, int], Boundaries] = {}


def configured_path() -> Path | None:
    """The setting's file, or the shipped one (None only if an install lost it)."""
    path = DashboardSettings().departements_geojson
    if path is not None:
        return path
    return SHIPPED if SHIPPED.exists() else None


def load(path: Path) -> Boundaries:
    """The checked boundaries in ``path``; cached until the file changes."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise GeoJsonInvalid(f"{path}: {exc.strerror or exc}") from None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _cache:
        _cache.clear()
        _cache[key] = _read(path)
    return _cache[key]


def _read(path: Path) -> Boundaries:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise GeoJsonInvalid(f"{path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise GeoJsonInvalid(f"{path} is not a GeoJSON FeatureCollection")
    kept: list[dict[str, Any]] = []
    skipped = 0
    for feature in data.get("features") or []:
        properties = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(properties, dict) or not isinstance(feature.get("geometry"), dict):
            skipped += 1
            continue
        try:
            code = normalise_departement(str(properties.get(PROPERTY)))
        except UnknownDepartement:
            skipped += 1
            continue
        kept.append({"type": "Feature", "properties": {**properties, PROPERTY: code}, "geometry": feature["geometry"]})
    if not kept:
        raise GeoJsonInvalid(f"{path} has no feature with an '{PROPERTY}' property naming a département")
    if skipped:
        _LOG.warning("%s: %d feature(s) without a known '%s' left out of the map", path, skipped, PROPERTY)
    body = json.dumps({"type": "FeatureCollection", "features": kept}, separators=(",", ":")).encode()
    departements = tuple(sorted(f["properties"][PROPERTY] for f in kept))
    _LOG.info("map of %d départements loaded from %s", len(departements), path)
    return Boundaries(path=path, body=body, departements=departements)
