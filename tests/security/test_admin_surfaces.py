"""Admin surfaces of the API: tokens that expire, and ``/metrics`` closed to whoever should not read it.

From outside: users are made with ``borne collector users add`` as an admin makes them, the API is the real
collector's (uvicorn on a free port) read with httpx, and the clock is the real one.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from collector.broker.mosquitto import free_port, wait_port
from collector.db.engine import session_factory
from collector.db.models import ApiToken
from collector.service import Collector
from devtools.brokers import Mosquitto
from devtools.builders import bearer, collector_settings, migrated_engine, start_collector
from tests.provisioning.conftest import invoke


def _token(output: str) -> str:
    match = re.search(r"borne_[0-9a-f]{8}_\S+", output)
    assert match, output
    return match.group(0)


def _collector(url: str, mosquitto: Mosquitto, tmp_path: Path, **settings: object) -> Collector:
    config = collector_settings(url, mosquitto.port, tmp_path / "collector", api_port=free_port(), **settings)
    collector = start_collector(config, api=True)
    assert wait_port(config.api_host, config.api_port, 15), "the API did not start"
    return collector


@pytest.mark.timeout(120)
def test_an_expired_token_is_refused_with_its_reason(database_url: str, mosquitto: Mosquitto, tmp_path: Path) -> None:
    engine = migrated_engine(database_url)
    db = ["--database-url", database_url]
    soon = invoke(["collector", "users", "add", "reader", "--role", "national", "--expires", "90d", *db])
    assert soon.exit_code == 0, soon.output
    dated = invoke(["collector", "users", "add", "auditor", "--role", "national", "--expires-at",
                    (datetime.now(UTC) + timedelta(days=3)).date().isoformat(), *db])
    assert dated.exit_code == 0, dated.output
    forever = invoke(["collector", "users", "add", "ops", "--role", "admin", *db])
    reader, auditor, ops = _token(soon.output), _token(dated.output), _token(forever.output)
    wrong = (["--expires", "soon"], ["--expires-at", "2001-01-01"], ["--expires", "1d", "--expires-at", "2099-01-01"])
    for bad in wrong:
        refused = invoke(["collector", "users", "add", f"bad-{secrets.token_hex(2)}", "--role", "national", *bad,
                          *db])
        assert refused.exit_code != 0 and "expires" in str(refused.exception), refused.output
    # The reader's token reaches its expiry (moved to a second ago, as time would).
    with session_factory(engine)() as session, session.begin():
        session.execute(update(ApiToken).where(ApiToken.prefix == reader.split("_")[1])
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    listing = invoke(["collector", "users", "list", *db])
    lines = {line.split("\t")[0]: line for line in listing.output.splitlines()}
    assert f"{reader.split('_')[1]} (expired " in lines["reader"]
    in_three_days = (datetime.now(UTC) + timedelta(days=3)).date()
    assert f"{auditor.split('_')[1]} (expires {in_three_days} 23:59)" in lines["auditor"]
    assert "expire" not in lines["ops"]

    collector = _collector(database_url, mosquitto, tmp_path)
    try:
        with httpx.Client(base_url=collector.api_url, timeout=10) as http:
            path = "/api/v1/kpi/satisfaction"
            expired = http.get(path, headers=bearer(reader))
            assert expired.status_code == 401
            assert "expired" in expired.json()["detail"] and 'error="invalid_token"' in \
                expired.headers["WWW-Authenticate"]
            assert http.get(path, headers=bearer(auditor)).status_code == 200
            assert http.get(path, headers=bearer(ops)).status_code == 200
            for _ in range(12):  # a genuine but expired token is not a guess: never blocks its address
                assert http.get(path, headers=bearer(reader)).status_code == 401
            assert collector.metrics.get("auth_expired") == 13
            assert collector.metrics.get("auth_failures") == 0
    finally:
        collector.close()
        engine.dispose()


@pytest.mark.timeout(120)
def test_metrics_need_their_token(sqlite_url: str, mosquitto: Mosquitto, tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    token_file = tmp_path / "metrics-token"
    token_file.write_text(token + "\n")
    collector = _collector(sqlite_url, mosquitto, tmp_path, metrics_token_file=token_file)
    try:
        with httpx.Client(base_url=collector.api_url, timeout=10) as http:
            assert http.get("/metrics").status_code == 401
            assert http.get("/metrics", headers=bearer("not-it")).status_code == 401
            assert http.get("/metrics", headers={"Authorization": f"Basic {token}"}).status_code == 401
            answer = http.get("/metrics", headers=bearer(token))
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert re.search(r"^borne_\w+ \d+$", answer.text, re.MULTILINE), answer.text[:500]
            assert token not in answer.text
    finally:
        collector.close()


@pytest.mark.timeout(120)
def test_metrics_without_a_token_only_on_loopback(sqlite_url: str, mosquitto: Mosquitto, tmp_path: Path) -> None:
    local = _collector(sqlite_url, mosquitto, tmp_path / "local")
    try:
        assert httpx.get(f"{local.api_url}/metrics", timeout=10).status_code == 200  # the demo's, the tests'
    finally:
        local.close()
    exposed = _collector(sqlite_url, mosquitto, tmp_path / "exposed", api_host="0.0.0.0")
    try:
        port = exposed.settings.api_port
        answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert answer.status_code == 403 and "BORNE_METRICS_TOKEN" in answer.json()["detail"]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    finally:
        exposed.close()
