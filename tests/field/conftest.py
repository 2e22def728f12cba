"""Helpers for the field tests: a kiosk configuration file, and a registered kiosk with a running collector."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from collector.service import Collector
from devtools.brokers import Mosquitto
from devtools.builders import collector_settings, migrated_engine, register, start_collector


def write_kiosk_toml(path: Path, kiosk_id: str, data_dir: Path, port: int, **uplink: float) -> Path:
    values = {"heartbeat_s": 10, "confirm_timeout_s": 10, **uplink}
    path.write_text(
        f'kiosk_id = "{kiosk_id}"\n'
        f'data_dir = "{data_dir}"\n'
        "[broker]\n"
        'host = "127.0.0.1"\n'
        f"port = {port}\n"
        "reconnect_min_s = 0.2\n"
        "reconnect_max_s = 1.0\n"
        "[uplink]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()),
        encoding="utf-8",
    )
    return path


@dataclass
class Site:
    engine: Engine
    collector: Collector
    url: str
    port: int


@pytest.fixture
def site(mosquitto: Mosquitto, sqlite_url: str, tmp_path: Path) -> Iterator[Site]:
    """Kiosks k-1 and k-2 at espace fs-1 (Côtes-d'Armor), k-3 at fs-2, a collector on a real Mosquitto."""
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22"), "k-2": ("fs-1", "22"), "k-3": ("fs-2", "35")})
    collector = start_collector(collector_settings(sqlite_url, mosquitto.port, tmp_path / "collector"))
    try:
        yield Site(engine, collector, sqlite_url, mosquitto.port)
    finally:
        collector.close()
