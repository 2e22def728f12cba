"""``/healthz`` answers within about a second whatever the database does: up, frozen, killed, back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from collector.api.app import create_app
from collector.db.engine import make_engine
from devtools.databases import ThrowAwayPostgres


@pytest.fixture
def cluster() -> Iterator[ThrowAwayPostgres]:
    cluster = ThrowAwayPostgres()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.freeze(False)
        cluster.stop()


def _health(client: TestClient) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    response = client.get("/healthz")
    return response.status_code, response.json(), time.monotonic() - started


def test_healthz_through_a_frozen_then_killed_database(cluster: ThrowAwayPostgres) -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/postgres", connect_timeout_s=2)
    client = TestClient(create_app(engine))
    try:
        code, body, _ = _health(client)
        assert (code, body["status"], body["database"]) == (200, "ok", "ok")

        cluster.freeze(True)
        try:
            answers = [_health(client) for _ in range(3)]
        finally:
            cluster.freeze(False)
        for code, body, seconds in answers:
            assert code == 503 and body["status"] == "degraded", body
            assert str(body["database"]).startswith("not answering"), body
            assert seconds < 5, seconds  # bounded by the probe's timeout (0.8 s), not by the freeze

        deadline = time.monotonic() + 15
        while _health(client)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _health(client)[0] == 200

        cluster.kill()
        code, body, seconds = _health(client)
        assert code == 503 and seconds < 5, (body, seconds)
        cluster.restart()
        deadline = time.monotonic() + 15
        while _health(client)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        code, body, _ = _health(client)
        assert code == 200, body
    finally:
        engine.dispose()
