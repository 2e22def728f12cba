"""A national collector's accounts bound to their client ids: its ingest and each ingest worker, one account each."""

from __future__ import annotations

from pathlib import Path

from collector.config import Settings
from collector.ingest.workers import worker_client_id, worker_username
from devtools.dynsec import DynsecMosquitto
from tests.provisioning.conftest import connect_reason, invoke


def test_collector_accounts_are_bound_to_their_client_ids(dynsec_mosquitto: DynsecMosquitto, tmp_path: Path) -> None:
    broker = dynsec_mosquitto
    result = invoke(["provision", "broker", "collector-account", "--port", str(broker.port),
                     "--client-id", "borne-collector-h1", "--workers", "2"],
                    env={"BORNE_MQTT_ADMIN_USERNAME": broker.admin_user,
                         "BORNE_MQTT_ADMIN_PASSWORD": broker.admin_password})
    assert result.exit_code == 0, result.output
    assert "BORNE_MQTT_WORKER_ACCOUNTS=true" in result.output
    password = result.output.split("BORNE_MQTT_PASSWORD=")[1].split()[0]

    # What the collector and its workers connect with (collector/ingest/workers.py) is what was made.
    settings = Settings(data_dir=tmp_path, mqtt_username="borne-collector", mqtt_client_id="borne-collector-h1",
                        mqtt_worker_accounts=True, ingest_workers=2)
    sessions = {"borne-collector": "borne-collector-h1"}
    sessions.update({str(worker_username(settings, n)): worker_client_id(settings, n) for n in (1, 2)})
    assert sessions == {"borne-collector": "borne-collector-h1", "borne-collector-1": "borne-collector-h1-1",
                        "borne-collector-2": "borne-collector-h1-2"}
    for username, client_id in sessions.items():
        assert connect_reason(broker.port, username, password, client_id=client_id) == "Success", username
        # Its password alone takes no other session: not another's client id, not a made-up one.
        assert connect_reason(broker.port, username, password, client_id="kiosk-k-a") != "Success", username
        assert connect_reason(broker.port, username, password, client_id=f"{client_id}-x") != "Success", username


def test_workers_need_a_client_id_to_bind_to(dynsec_mosquitto: DynsecMosquitto) -> None:
    broker = dynsec_mosquitto
    result = invoke(["provision", "broker", "collector-account", "--port", str(broker.port), "--workers", "2"],
                    env={"BORNE_MQTT_ADMIN_USERNAME": broker.admin_user,
                         "BORNE_MQTT_ADMIN_PASSWORD": broker.admin_password})
    assert result.exit_code != 0 and "give --client-id" in str(result.exception), result.output
