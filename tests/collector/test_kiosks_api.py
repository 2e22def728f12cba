"""GET /api/v1/kiosks: online, then offline from the Last Will when the kiosk's connection dies."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi.testclient import TestClient

from collector.api.app import create_app
from devtools.brokers import Mosquitto
from devtools.builders import admin_token, bearer, collector_settings, migrated_engine, register, start_collector
from devtools.kiosk_sim import wait_until
from devtools.sim.fleet import Fleet, FleetOptions, kiosk_ids, register_fleet


def test_kiosks_online_then_offline_by_last_will(mosquitto: Mosquitto, database_url: str, tmp_path: Path) -> None:
    engine = migrated_engine(database_url)
    register_fleet(engine, kiosk_ids("sim", 2))
    collector = start_collector(collector_settings(database_url, mosquitto.port, tmp_path))
    api = TestClient(create_app(engine), headers=bearer(admin_token(engine)))

    def states() -> dict[str, dict[str, object]]:
        response = api.get("/api/v1/kiosks")
        assert response.status_code == 200
        return {k["id"]: k for k in response.json()}

    loop = asyncio.new_event_loop()
    fleet = Fleet(FleetOptions(port=mosquitto.port, kiosks=2, votes_per_hour=0))
    try:
        loop.run_until_complete(fleet.connect_all())
        loop.run_until_complete(fleet.kiosks[0].heartbeat())
        assert wait_until(lambda: all(k["online"] for k in states().values()), 20), states()
        assert wait_until(lambda: states()["sim-00000"]["outbox_depth"] == 0, 20), states()
        first = states()["sim-00000"]
        assert first["version"] == "sim-1" and first["last_seen"] is not None
        assert str(first["last_seen"]).endswith(("+00:00", "Z")), "times are served with their offset"

        killed = fleet.kiosks[0].connection
        assert killed is not None
        killed.kill()  # no goodbye: the broker publishes the Will
        loop.run_until_complete(asyncio.sleep(0.1))  # the loop closes the socket
        assert wait_until(lambda: states()["sim-00000"]["status"] == "offline", 30), states()
        assert states()["sim-00001"]["online"] is True
        offline = api.get("/api/v1/kiosks", params={"status": "offline"}).json()
        assert [k["id"] for k in offline] == ["sim-00000"]
    finally:
        fleet.kiosks[0].connection = None
        loop.run_until_complete(fleet.close())
        loop.close()
        collector.close()
        engine.dispose()


def test_kiosks_need_a_token_and_are_scoped(sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-22": ("fs-22", "22"), "k-29": ("fs-29", "29"), "k-22b": ("fs-22b", "22")})
    api = TestClient(create_app(engine))
    assert api.get("/api/v1/kiosks").status_code == 401
    assert api.get("/api/v1/kiosks", headers=bearer("not-a-token")).status_code == 401

    def ids(token: str) -> list[str]:
        response = api.get("/api/v1/kiosks", headers=bearer(token))
        assert response.status_code == 200
        return [k["id"] for k in response.json()]

    assert ids(admin_token(engine, "national")) == ["k-22", "k-22b", "k-29"]
    assert ids(admin_token(engine, "prefecture", "22")) == ["k-22", "k-22b"]
    assert ids(admin_token(engine, "agent", "fs-29")) == ["k-29"]


def test_kiosks_sharing_a_connection_each_vote_and_get_their_receipts(mosquitto: Mosquitto, sqlite_url: str,
                                                                      tmp_path: Path) -> None:
    """``borne sim --per-connection 2``: two kiosks on one MQTT connection (the open-file limit's way out)."""
    engine = migrated_engine(sqlite_url)
    register_fleet(engine, kiosk_ids("sim", 4))
    collector = start_collector(collector_settings(sqlite_url, mosquitto.port, tmp_path))
    api = TestClient(create_app(engine), headers=bearer(admin_token(engine)))
    loop = asyncio.new_event_loop()
    fleet = Fleet(FleetOptions(port=mosquitto.port, kiosks=4, votes_per_hour=0, backlog=5, per_connection=2))

    async def confirmed(timeout: float) -> bool:
        for _ in range(int(timeout * 10)):
            if fleet.unconfirmed() == 0:
                return True
            await asyncio.sleep(0.1)
        return False

    try:
        fleet.make_backlog()
        loop.run_until_complete(fleet.connect_all())
        assert fleet.stats.connected == 4
        assert [k.leads for k in fleet.kiosks] == [True, False, True, False]
        assert fleet.kiosks[1].connection is fleet.kiosks[0].connection
        loop.run_until_complete(fleet.send_backlogs())
        assert loop.run_until_complete(confirmed(30)), "every kiosk's receipts reach it on the shared connection"
        assert fleet.stats.votes_confirmed == 20
        states = {k["id"]: k for k in api.get("/api/v1/kiosks").json()}
        assert wait_until(lambda: all(k["online"] for k in api.get("/api/v1/kiosks").json()), 20), states
    finally:
        loop.run_until_complete(fleet.close())
        loop.close()
        collector.close()
        engine.dispose()
