"""Simplify the public départements GeoJSON into the small file the collector ships.

    python dev/tools/simplify_geojson.py ../shared/data/france-services/geom_dep.geojson \
        collector/dashboard/data/departements.geojson

Douglas-Peucker on each ring (tolerance in degrees, 0.004 by default: about 300-400 m, invisible on a map of
France), coordinates rounded to 3 decimals; rings that collapse to fewer than 4 points are dropped, and only the
``insee_dep`` and ``lib_dep`` properties are kept. Development tooling: the collector never runs it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any

_LOG = logging.getLogger(__name__)

Point = tuple[float, float]


def _distance(p: Point, a: Point, b: Point) -> float:
    """Distance from ``p`` to the segment ``a``-``b``."""
    (x, y), (x1, y1), (x2, y2) = p, a, b
    dx, dy = x2 - x1, y2 - y1
    if dx == dy == 0:
        return math.hypot(x - x1, y - y1)
    t = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)))
    return math.hypot(x - (x1 + t * dx), y - (y1 + t * dy))


def douglas_peucker(points: list[Point], tolerance: float) -> list[Point]:
    """The points kept by Douglas-Peucker (iterative, so that long rings need no deep recursion)."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            d = _distance(points[i], points[first], points[last])
            if d > worst:
                worst, index = d, i
        if index >= 0 and worst > tolerance:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def simplify_ring(ring: list[list[float]], tolerance: float, digits: int) -> list[list[float]] | None:
    points = douglas_peucker([(float(x), float(y)) for x, y, *_ in ring], tolerance)
    rounded: list[list[float]] = []
    for x, y in points:
        point = [round(x, digits), round(y, digits)]
        if not rounded or rounded[-1] != point:
            rounded.append(point)
    if rounded and rounded[0] != rounded[-1]:
        rounded.append(rounded[0])
    return rounded if len(rounded) >= 4 else None


def simplify_geometry(geometry: dict[str, Any], tolerance: float, digits: int) -> dict[str, Any] | None:
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    kept = []
    for polygon in polygons:
        rings = [simplify_ring(r, tolerance, digits) for r in polygon]
        if rings and rings[0] is not None:
            kept.append([r for r in rings if r is not None])
    if not kept:
        return None
    if len(kept) == 1:
        return {"type": "Polygon", "coordinates": kept[0]}
    return {"type": "MultiPolygon", "coordinates": kept}


def simplify(data: dict[str, Any], tolerance: float, digits: int) -> dict[str, Any]:
    features = []
    for feature in data["features"]:
        geometry = simplify_geometry(feature["geometry"], tolerance, digits)
        if geometry is None:
            _LOG.warning("%s vanished at this tolerance", feature["properties"].get("insee_dep"))
            continue
        properties = {k: feature["properties"][k] for k in ("insee_dep", "lib_dep") if k in feature["properties"]}
        features.append({"type": "Feature", "properties": properties, "geometry": geometry})
    return {"type": "FeatureCollection", "features": features}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.004)
    parser.add_argument("--digits", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = simplify(json.loads(args.source.read_text(encoding="utf-8")), args.tolerance, args.digits)
    args.target.write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    _LOG.info("%d départements, %d bytes -> %s", len(out["features"]), args.target.stat().st_size, args.target)


if __name__ == "__main__":
    main()
