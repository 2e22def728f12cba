"""Every KPI endpoint: 401 without a valid token, 403 outside the scope; exports in CSV and Parquet."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from borne.cli.errors import CliError
from collector.api.app import create_app
from collector.auth import revoke
from collector.db.engine import session_factory
from devtools.builders import admin_token, bearer, migrated_engine
from tests.kpi.fleet import Generated, build
from tests.provisioning.conftest import invoke

ENDPOINTS = ["/api/v1/kpi/satisfaction", "/api/v1/kpi/ranking", "/api/v1/kpi/breakdown", "/api/v1/kpi/heatmap",
             "/api/v1/kpi/participation"]


@pytest.fixture
def fleet(sqlite_url: str) -> Iterator[Generated]:
    engine = migrated_engine(sqlite_url)
    try:
        yield build(engine, n=300)
    finally:
        engine.dispose()


@pytest.fixture
def client(fleet: Generated) -> Iterator[TestClient]:
    with TestClient(create_app(fleet.engine)) as c:
        yield c


@pytest.mark.parametrize("path", [*ENDPOINTS, "/api/v1/kpi/ind-246", "/api/v1/alerts",
                                  "/api/v1/espaces/fs-22a/satisfaction"])
def test_401_without_a_valid_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers=bearer("borne_nope_nope")).status_code == 401
    assert client.get(path, headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code == 401


# (role, scope) -> {(level, code): allowed}
CASES = [
    (("admin", None), {("national", None): True, ("region", "53"): True, ("espace", "fs-971"): True}),
    (("national", None), {("national", None): True, ("departement", "2A"): True, ("espace", "fs-22a"): True}),
    (("prefecture", "22"), {("departement", "22"): True, ("espace", "fs-22a"): True, ("espace", "fs-22b"): True,
                            ("departement", "29"): False, ("espace", "fs-29"): False, ("region", "53"): False,
                            ("national", None): False}),
    (("agent", "fs-22a"), {("espace", "fs-22a"): True, ("espace", "fs-22b"): False, ("departement", "22"): False,
                           ("national", None): False}),
]


@pytest.mark.parametrize(("who", "cases"), CASES, ids=[c[0][0] for c in CASES])
def test_each_role_reads_its_scope_only(fleet: Generated, client: TestClient, who: tuple[str, str | None],
                                        cases: dict[tuple[str, str | None], bool]) -> None:
    headers = bearer(admin_token(fleet.engine, *who))
    for (level, code), allowed in cases.items():
        params = {"level": level, **({"code": code} if code else {})}
        for path in ENDPOINTS:
            response = client.get(path, params=params, headers=headers)
            assert response.status_code == (200 if allowed else 403), (path, level, code, response.text)
        if level == "espace":
            response = client.get(f"/api/v1/espaces/{code}/satisfaction", headers=headers)
            assert response.status_code == (200 if allowed else 403)
    ind = client.get("/api/v1/kpi/ind-246", headers=headers)
    assert ind.status_code == (200 if who[0] in ("admin", "national") else 403)
    assert client.post("/api/v1/alerts/evaluate", headers=headers).status_code == (200 if who[0] == "admin" else 403)


def test_revoked_token_is_refused(fleet: Generated, client: TestClient) -> None:
    token = admin_token(fleet.engine, "national")
    assert client.get(ENDPOINTS[0], headers=bearer(token)).status_code == 200
    with session_factory(fleet.engine)() as session, session.begin():
        assert revoke(session, token.split("_")[1]) == 1
    assert client.get(ENDPOINTS[0], headers=bearer(token)).status_code == 401


def test_tokens_are_stored_hashed(fleet: Generated) -> None:
    token = admin_token(fleet.engine)
    with fleet.engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM api_tokens"))
    secret = token.split("_", 2)[2]  # the random part (it may itself hold "_")
    assert token not in dump and secret not in dump


def test_bad_selection_and_unknown_espace(fleet: Generated, client: TestClient) -> None:
    headers = bearer(admin_token(fleet.engine))
    assert client.get(ENDPOINTS[0], params={"level": "departement", "code": "99"}, headers=headers).status_code == 422
    assert client.get(ENDPOINTS[0], params={"level": "espace", "code": "nope"}, headers=headers).status_code == 404
    assert client.get(ENDPOINTS[0], params={"from": "2024-03-01", "to": "2024-02-01"},
                      headers=headers).status_code == 422
    agent = bearer(admin_token(fleet.engine, "agent", "fs-22a"))
    assert client.get(ENDPOINTS[0], params={"level": "espace", "code": "nope"}, headers=agent).status_code == 403


def test_satisfaction_json_csv_parquet_agree(fleet: Generated, client: TestClient) -> None:
    headers = bearer(admin_token(fleet.engine))
    params = {"level": "region", "code": "53", "granularity": "month", "from": "2024-01-01", "to": "2024-06-01"}
    body = client.get(ENDPOINTS[0], params=params, headers=headers).json()
    assert body["zone_id"] == "R53" and body["from"] == "2024-01-01" and body["target"] == 95.0
    csv = client.get(ENDPOINTS[0], params={**params, "format": "csv"}, headers=headers)
    assert csv.headers["content-type"].startswith("text/csv")
    parquet = client.get(ENDPOINTS[0], params={**params, "format": "parquet"}, headers=headers)
    from_csv = pd.read_csv(io.StringIO(csv.text))
    from_parquet = pd.read_parquet(io.BytesIO(parquet.content))
    assert list(from_csv["votes"]) == [row["votes"] for row in body["series"]] == list(from_parquet["votes"])
    assert sum(from_csv["votes"]) == body["total"]["votes"]
    for path in ENDPOINTS[1:]:
        response = client.get(path, params={"format": "parquet"}, headers=headers)
        assert response.status_code == 200 and len(pd.read_parquet(io.BytesIO(response.content))) > 0


def test_openapi_documents_the_kpi_endpoints(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in [*ENDPOINTS, "/api/v1/kpi/ind-246", "/api/v1/alerts"]:
        assert path in spec["paths"], path
    params = {p["name"] for p in spec["paths"]["/api/v1/kpi/satisfaction"]["get"]["parameters"]}
    assert {"level", "code", "from", "to", "granularity", "format", "include_misuse"} <= params
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_a_breakdown_by_the_api_and_the_command_line(fleet: Generated, client: TestClient, tmp_path: Path) -> None:
    """Each of the API's breakdowns adds up to the zone's total; the command line writes the same rows; an unknown
    ``by`` is refused with its reason by both."""
    headers = bearer(admin_token(fleet.engine))
    params = {"level": "region", "code": "53", "from": "2024-01-01", "to": "2024-06-01"}
    total = client.get(ENDPOINTS[0], params=params, headers=headers).json()["total"]
    for by in ("region", "departement", "espace"):
        rows = client.get("/api/v1/kpi/breakdown", params={**params, "by": by}, headers=headers).json()
        assert rows and sum(r["votes"] for r in rows) == total["votes"], by
        assert sum(r["satisfied"] for r in rows) == total["satisfied"], by
        assert [r["code"] for r in rows] == sorted(r["code"] for r in rows)
    assert [r["code"] for r in client.get("/api/v1/kpi/breakdown", params=params, headers=headers).json()] == [
        "22", "29"]  # per département by default
    refused = client.get("/api/v1/kpi/breakdown", params={**params, "by": "canton"}, headers=headers)
    assert refused.status_code == 422 and "region|departement|espace" in refused.text
    out = tmp_path / "espaces.csv"
    database = str(fleet.engine.url.render_as_string(hide_password=False))
    result = invoke(["collector", "kpi", "export", "breakdown", "--by", "espace", "--level", "region", "--code", "53",
                     "--from", "2024-01-01", "--to", "2024-06-01", "-o", str(out), "--database-url", database])
    assert result.exit_code == 0, result.output
    api = client.get("/api/v1/kpi/breakdown", params={**params, "by": "espace", "format": "csv"}, headers=headers)
    assert out.read_text(encoding="utf-8") == api.text
    result = invoke(["collector", "kpi", "export", "breakdown", "--by", "canton", "-o", str(out),
                     "--database-url", database])
    assert isinstance(result.exception, CliError) and result.exception.exit_code == 2
    assert "cannot break a selection down by 'canton'" in str(result.exception)
