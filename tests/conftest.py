"""Fixtures: real brokers, real databases, gpiozero's mock pins."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")

from devtools import databases
from devtools.brokers import Mosquitto, embedded_broker
from devtools.databases import PostgresServer


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto on a free port, without persistence."""
    broker = Mosquitto(tmp_path / "mosquitto").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mosquitto_persistent(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto that saves its state (autosave every second)."""
    broker = Mosquitto(tmp_path / "mosquitto", persistence=True).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[object]:
    """The broker the collector starts itself (Mosquitto, configured by collector/broker/mosquitto.py), anonymous."""
    broker = embedded_broker(tmp_path / "embedded").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with databases.postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'collector.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'collector.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright, one for the whole session: Playwright's sync API runs an
    event loop of its own, and a second one opened while the first lives would find it running."""
    from devtools.dashboard import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_ENV

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=CHROMIUM_ENV)
        try:
            yield browser
        finally:
            browser.close()
