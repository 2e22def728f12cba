"""The failed-login limiter and ``X-Forwarded-For``: a header anyone can write is not an address.

A real collector serves its API with uvicorn on a free port; httpx sends what an attacker on the same host (or
behind the same NAT) would: wrong tokens, each claiming another client address. The failures count against the
real peer, and a valid token is accepted all along: the limiter slows failed attempts, never a correct token.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from collector.api.deps import AppState
from collector.broker.mosquitto import free_port, wait_port
from collector.config import Settings
from collector.service import Collector
from devtools.brokers import Mosquitto
from devtools.builders import admin_token, bearer, collector_settings, start_collector

PATH = "/api/v1/kiosks"


def _collector(sqlite_url: str, mosquitto: Mosquitto, tmp_path: Path, **settings: object) -> Collector:
    config: Settings = collector_settings(sqlite_url, mosquitto.port, tmp_path / "collector", api_port=free_port(),
                                          **settings)
    collector = start_collector(config, api=True)
    assert wait_port("127.0.0.1", config.api_port, 15), "the API did not start"
    return collector


@pytest.mark.timeout(120)
def test_spoofed_forwarded_for_is_not_trusted(sqlite_url: str, mosquitto: Mosquitto, tmp_path: Path) -> None:
    collector = _collector(sqlite_url, mosquitto, tmp_path)
    try:
        assert collector.engine is not None
        token = admin_token(collector.engine)
        with httpx.Client(base_url=collector.api_url, timeout=10) as http:
            victim = "198.51.100.7"
            for i in range(25):
                spoofed = {"X-Forwarded-For": victim if i % 2 else f"203.0.113.{i}", "X-Real-IP": victim,
                           "Forwarded": f"for={victim}"}
                answer = http.get(PATH, headers={**bearer(f"borne_x_{secrets.token_hex(8)}"), **spoofed})
                assert answer.status_code in (401, 429)
            # The failures are the real peer's: it is the one slowed down, under no spoofed name.
            state = _state(collector)
            assert state.auth_limiter.retry_after("127.0.0.1") > 0
            assert state.auth_limiter.retry_after(victim) == 0
            assert all(state.auth_limiter.retry_after(f"203.0.113.{i}") == 0 for i in range(25))
            # A wrong token from the blocked peer is still refused, without a database look-up's answer.
            assert http.get(PATH, headers=bearer("borne_x_guess")).status_code == 429
            # A valid token is accepted, from the blocked peer too, and under the name it spoofed.
            assert http.get(PATH, headers=bearer(token)).status_code == 200
            assert http.get(PATH, headers={**bearer(token), "X-Forwarded-For": victim}).status_code == 200
        metrics = collector.metrics
        assert metrics.get("auth_failures") >= 10 and metrics.get("auth_blocks") == 1
    finally:
        collector.close()


@pytest.mark.timeout(120)
def test_a_configured_proxy_is_trusted(sqlite_url: str, mosquitto: Mosquitto, tmp_path: Path) -> None:
    """With ``trusted_proxies`` naming the proxy (here: loopback), the address it forwards is the client's."""
    collector = _collector(sqlite_url, mosquitto, tmp_path, trusted_proxies="127.0.0.1")
    try:
        with httpx.Client(base_url=collector.api_url, timeout=10) as http:
            for _ in range(12):
                http.get(PATH, headers={**bearer("borne_x_nope"), "X-Forwarded-For": "192.0.2.44"})
        state = _state(collector)
        assert state.auth_limiter.retry_after("192.0.2.44") > 0
        assert state.auth_limiter.retry_after("127.0.0.1") == 0
    finally:
        collector.close()


def _state(collector: Collector) -> AppState:
    assert collector.server is not None
    state = getattr(collector.server.config.app, "state").borne  # noqa: B009 - uvicorn types it as any ASGI app
    assert isinstance(state, AppState)
    return state
