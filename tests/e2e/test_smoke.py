"""The vote's path, once, through a real Mosquitto and a real embedded broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.builders import (
    collector_settings,
    migrated_engine,
    register,
    start_collector,
    vote_counts,
)
from devtools.kiosk_sim import SimulatedKiosk, simulated_config, wait_until


@pytest.mark.parametrize("broker_kind", ["mosquitto", "embedded"])
def test_one_press_reaches_the_api_count(broker_kind: str, request: pytest.FixtureRequest, tmp_path: Path,
                                         sqlite_url: str) -> None:
    broker = request.getfixturevalue(broker_kind)
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22")})
    extra = {"mqtt_protocol": "3.1.1", "mqtt_share_group": ""} if broker_kind == "embedded" else {}
    collector = start_collector(collector_settings(sqlite_url, broker.port, tmp_path, **extra))
    config = simulated_config("k-1", tmp_path / "kiosks", "127.0.0.1", broker.port)
    try:
        with SimulatedKiosk(config) as kiosk:
            kiosk.press(4)
            assert wait_until(lambda: vote_counts(engine).get("fs-1") == 1, 15)
            assert wait_until(lambda: kiosk.kiosk.outbox.depth() == 0, 15), "no receipt came back"
    finally:
        collector.close()
