"""A collector with a small fleet in Bretagne, Paris and Marseille, its API served for real, and headless Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.config import Settings
from devtools.brokers import Mosquitto
from devtools.builders import migrated_engine
from devtools.dashboard import serve
from tests.dashboard.seed import Place, Seeded, seed

PLACES = [
    Place("fs-22a", "France services de Guingamp", "22", 0.97),
    Place("fs-22b", "France services de Lannion", "22", 0.85),
    Place("fs-29a", "France services de Morlaix", "29", 0.92),
    Place("fs-75a", "France services Paris 19e", "75", 0.90),
    Place("fs-13a", "France services de Marseille Nord", "13", 0.80),
]
USERS = {
    "partenaire": ("national", None),
    "prefecture-22": ("prefecture", "22"),
    "agent-morlaix": ("agent", "fs-29a"),
}


@dataclass
class World:
    url: str
    seeded: Seeded
    engine: Any = None
    broker_port: int = 0

    def token(self, user: str) -> str:
        return self.seeded.tokens[user]

    def api(self, user: str, path: str, **params: Any) -> Any:
        """What the API answers ``user`` (outside the browser)."""
        response = httpx.get(self.url + path, params={k: v for k, v in params.items() if v is not None},
                             headers={"Authorization": f"Bearer {self.token(user)}"}, timeout=30)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("dashboard")
    engine = migrated_engine(f"sqlite:///{folder / 'borne.sqlite3'}")
    seeded = seed(engine, PLACES, days=20, offline=("fs-29a",), unhappy_now=("fs-13a",), users=USERS)
    # A broker for what the dashboard publishes (a rollout paused or rolled back: the kiosks' desired release).
    with Mosquitto(folder / "broker") as broker:
        settings = Settings(database_url=str(engine.url), data_dir=folder / "collector", mqtt_host="127.0.0.1",
                            mqtt_port=broker.port)
        with serve(engine, {"settings": settings}) as url:
            yield World(url, seeded, engine, broker.port)
    engine.dispose()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab (empty sessionStorage), in French, on Paris time."""
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
        assert not errors, errors
    finally:
        context.close()


@pytest.fixture
def no_geojson(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BORNE_DEPARTEMENTS_GEOJSON", raising=False)


def squares_geojson(path: Path) -> Path:
    """Three squares standing for the Côtes-d'Armor, the Finistère and Paris, with ``insee_dep``."""
    import json

    def square(x: float, y: float) -> list[list[list[float]]]:
        return [[[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]]

    features = [
        {"type": "Feature", "properties": {"insee_dep": code, "lib_dep": name},
         "geometry": {"type": "Polygon", "coordinates": square(x, y)}}
        for code, name, x, y in [("22", "Côtes-d'Armor", -3.0, 48.0), ("29", "Finistère", -4.2, 48.0),
                                 ("75", "Paris", 2.0, 48.5)]
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
