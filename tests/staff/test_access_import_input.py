"""Bad input to the access list's API is refused with a reason, never a 500 (found by schemathesis)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from collector.api.app import create_app
from devtools.builders import admin_token, bearer, migrated_engine


@pytest.mark.parametrize("body", ["\r0", 'email,id_fs\n"a@b.fr,fs-1\n', "email\0,id_fs\nx", "", "\ufeff;;;\r\r"])
def test_an_unreadable_csv_is_refused_with_a_reason(sqlite_url: str, body: str) -> None:
    engine = migrated_engine(sqlite_url)
    client = TestClient(create_app(engine), headers=bearer(admin_token(engine)))
    response = client.post("/api/v1/staff/access/import", content=body.encode(), headers={"Content-Type": "text/csv"})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert not response.json()["added"]
    engine.dispose()


def test_an_id_past_what_the_database_binds_is_a_422(sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    client = TestClient(create_app(engine), headers=bearer(admin_token(engine)))
    assert client.patch(f"/api/v1/staff/access/{2**64}", json={"disabled": True}).status_code == 422
    assert client.get("/api/v1/staff/audit", params={"before": 2**64}).status_code == 422
    engine.dispose()
