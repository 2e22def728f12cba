"""The dashboard's server side without a browser: pages, static files, the map's GeoJSON, who is signed in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.api.app import create_app
from collector.auth import add_user, issue_token
from collector.dashboard import geojson
from collector.db.engine import session_factory
from collector.registry.espaces import add_espace
from devtools.builders import migrated_engine
from tests.dashboard.conftest import squares_geojson


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    engine = migrated_engine(f"sqlite:///{tmp_path / 'borne.sqlite3'}")
    with session_factory(engine)() as session, session.begin():
        add_espace(session, "fs-22a", "France services de Guingamp", "22")
        add_espace(session, "fs-29a", "France services de Morlaix", "29")
        tokens = {name: issue_token(session, add_user(session, name, role, scope))
                  for name, role, scope in [("n", "national", None), ("p", "prefecture", "22"),
                                            ("a", "agent", "fs-29a")]}
    with TestClient(create_app(engine)) as test_client:
        yield test_client, tokens
    engine.dispose()


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/classement", "/dashboard/affluence", "/dashboard/carte",
                                  "/dashboard/parc", "/dashboard/alertes", "/dashboard/connexion"])
def test_pages_are_french_shells_with_a_strict_policy(client: tuple[TestClient, dict[str, str]], path: str) -> None:
    response = client[0].get(path)
    assert response.status_code == 200
    assert '<html lang="fr"' in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in response.text  # no inline script: every script is a file of ours


def test_root_and_unknown_pages(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client = client[0]
    assert test_client.get("/", follow_redirects=False).headers["location"] == "/dashboard/"
    assert test_client.get("/dashboard", follow_redirects=False).headers["location"] == "/dashboard/"
    assert test_client.get("/dashboard/nope").status_code == 404


@pytest.mark.parametrize("path", ["../routes.py", "..%2Froutes.py", "vendor/../../geojson.py", "nope.js"])
def test_static_files_stay_in_their_folder(client: tuple[TestClient, dict[str, str]], path: str) -> None:
    assert client[0].get(f"/dashboard/static/{path}").status_code == 404


def test_the_charting_library_is_served_by_the_collector_gzipped(client: tuple[TestClient, dict[str, str]]) -> None:
    response = client[0].get("/dashboard/static/vendor/echarts/echarts.min.js", headers={"accept-encoding": "gzip"})
    assert response.status_code == 200 and response.headers["content-encoding"] == "gzip"
    assert "javascript" in response.headers["content-type"] and "max-age" in response.headers["cache-control"]
    plain = client[0].get("/dashboard/static/vendor/echarts/echarts.min.js", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and b"echarts" in plain.content[:2000]
    assert client[0].get("/dashboard/static/vendor/echarts/LICENSE").status_code == 200


def test_session_and_espaces_follow_the_tokens_scope(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client, tokens = client
    assert test_client.get("/dashboard/api/session").status_code == 401
    assert test_client.get("/dashboard/api/session", headers={"Authorization": "Bearer borne_x_y"}).status_code == 401

    def get(path: str, who: str) -> Any:
        response = test_client.get(path, headers={"Authorization": f"Bearer {tokens[who]}"})
        response.raise_for_status()
        return response.json()

    national, prefecture = get("/dashboard/api/session", "n"), get("/dashboard/api/session", "p")
    assert (national["role_label"], national["level"], national["code"]) == ("partenaire national", "national", None)
    assert (prefecture["role_label"], prefecture["level"], prefecture["code"]) == ("référent préfecture",
                                                                                   "departement", "22")
    assert [e["id"] for e in get("/dashboard/api/espaces", "n")] == ["fs-22a", "fs-29a"]
    assert [e["id"] for e in get("/dashboard/api/espaces", "p")] == ["fs-22a"]
    assert [e["id"] for e in get("/dashboard/api/espaces", "a")] == ["fs-29a"]


def test_the_boundaries_ship_with_the_collector(client: tuple[TestClient, dict[str, str]],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(geojson.SETTING, raising=False)
    response = client[0].get("/dashboard/api/departements.geojson")
    assert response.status_code == 200
    codes = {f["properties"]["insee_dep"] for f in response.json()["features"]}
    assert len(codes) == 101 and {"01", "2A", "2B", "75", "971", "976"} <= codes
    shipped = Path(geojson.__file__).parent / "data"
    assert (shipped / "departements.geojson").stat().st_size < 500_000  # simplified, not the 1 MB original
    licence = (shipped / "LICENCE-departements.md").read_text(encoding="utf-8")
    assert "Licence Ouverte" in licence and "Etalab" in licence
    pyproject = (Path(geojson.__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"data/*"' in pyproject  # in the package, so that every install has the map


def test_a_setting_points_the_map_elsewhere(client: tuple[TestClient, dict[str, str]], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(geojson.SETTING, str(squares_geojson(tmp_path / "deps.geojson")))
    response = client[0].get("/dashboard/api/departements.geojson")
    assert response.status_code == 200
    assert [f["properties"]["insee_dep"] for f in response.json()["features"]] == ["22", "29", "75"]
    monkeypatch.setenv(geojson.SETTING, str(tmp_path / "missing.geojson"))
    assert client[0].get("/dashboard/api/departements.geojson").status_code == 503


def test_a_geojson_keeps_only_features_naming_a_departement(tmp_path: Path) -> None:
    path = tmp_path / "deps.geojson"
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    features = [
        {"type": "Feature", "properties": {"insee_dep": "2a"}, "geometry": square},  # normalised to 2A
        {"type": "Feature", "properties": {"insee_dep": "1"}, "geometry": square},  # to 01
        {"type": "Feature", "properties": {"insee_dep": "99"}, "geometry": square},  # not a département
        {"type": "Feature", "properties": {"nom": "x"}, "geometry": square},  # no code
        {"type": "Feature", "properties": {"insee_dep": "22"}},  # no geometry
        "not a feature",
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    assert geojson.load(path).departements == ("01", "2A")
    for bad in ('{"type": "Feature"}', "not json", '{"type": "FeatureCollection", "features": []}'):
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(geojson.GeoJsonInvalid):
            geojson.load(path)


def test_what_the_browser_inflates_is_the_file_itself(client: tuple[TestClient, dict[str, str]]) -> None:
    response = client[0].get("/dashboard/static/app.js", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"  # httpx inflates it below
    assert response.content == (Path(geojson.__file__).parent / "static" / "app.js").read_bytes()
