"""A national collector's accounts bound to their client ids: its ingest and each ingest worker, one account each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from collector.broker import releases, remote_config
from collector.broker.publisher import PublishFailed, publish_retained
from collector.config import Settings
from collector.ingest.workers import worker_client_id, worker_username
from devtools.dynsec import DynsecMosquitto
from protocol.models import DesiredRelease, RemoteConfig
from protocol.topics import TopicKind, kiosk_topic
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


def test_the_publisher_account_publishes_rollouts_and_nothing_else(dynsec_mosquitto: DynsecMosquitto,
                                                                    tmp_path: Path) -> None:
    """A collector whose account is bound (as national collectors run) publishes rollouts and configurations with
    the publisher account the command also makes: its own account, bound to the ingest's client id, cannot."""
    broker = dynsec_mosquitto
    result = invoke(["provision", "broker", "collector-account", "--port", str(broker.port),
                     "--client-id", "borne-collector-h1"],
                    env={"BORNE_MQTT_ADMIN_USERNAME": broker.admin_user,
                         "BORNE_MQTT_ADMIN_PASSWORD": broker.admin_password})
    assert result.exit_code == 0, result.output
    printed = dict(line.split("=", 1) for line in result.output.split() if line.startswith("BORNE_MQTT_"))
    assert printed["BORNE_MQTT_PUBLISHER_USERNAME"] == "borne-collector-publisher"
    bound = Settings(data_dir=tmp_path, mqtt_port=broker.port, mqtt_username="borne-collector",
                     mqtt_password=printed["BORNE_MQTT_PASSWORD"], mqtt_client_id="borne-collector-h1")
    desired = {"k-a": DesiredRelease(version="0.2.0", rollout="r-1")}
    with pytest.raises(PublishFailed, match="refused"):
        releases.publish(bound, desired)  # what the API did before the publisher account: refused, bound
    publisher = bound.model_copy(update={
        "mqtt_publisher_username": printed["BORNE_MQTT_PUBLISHER_USERNAME"],
        "mqtt_publisher_password": SecretStr(printed["BORNE_MQTT_PUBLISHER_PASSWORD"])})
    releases.publish(publisher, desired)
    remote_config.publish(publisher, ["k-a"], remote_config.build(scale=4))
    assert isinstance(remote_config.retained(publisher, ["k-a"])["k-a"], RemoteConfig)
    # Nothing else: not a vote, not a receipt (MQTT 5 tells a refused publication).
    for kind in (TopicKind.VOTES, TopicKind.RECEIPTS):
        with pytest.raises(PublishFailed, match="Not authorized"):
            publish_retained(publisher, {kiosk_topic("k-a", kind): b"{}"}, "test")


def test_workers_need_a_client_id_to_bind_to(dynsec_mosquitto: DynsecMosquitto) -> None:
    broker = dynsec_mosquitto
    result = invoke(["provision", "broker", "collector-account", "--port", str(broker.port), "--workers", "2"],
                    env={"BORNE_MQTT_ADMIN_USERNAME": broker.admin_user,
                         "BORNE_MQTT_ADMIN_PASSWORD": broker.admin_password})
    assert result.exit_code != 0 and "give --client-id" in str(result.exception), result.output


def test_two_collector_hosts_keep_each_their_grants(dynsec_mosquitto: DynsecMosquitto) -> None:
    """Made one after the other, the second host's accounts leave the first's able to read the kiosks."""
    broker = dynsec_mosquitto
    env = {"BORNE_MQTT_ADMIN_USERNAME": broker.admin_user, "BORNE_MQTT_ADMIN_PASSWORD": broker.admin_password}
    passwords = {}
    for host in ("a", "b"):
        result = invoke(["provision", "broker", "collector-account", "--port", str(broker.port), "--username",
                         f"borne-collector-{host}", "--client-id", f"collector-{host}"], env=env)
        assert result.exit_code == 0, result.output
        passwords[host] = result.output.split("BORNE_MQTT_PASSWORD=")[1].split()[0]
    for host in ("a", "b"):
        assert subscribe_reason(broker.port, f"borne-collector-{host}", passwords[host], f"collector-{host}",
                                "$share/borne/fs/v1/kiosks/+/votes") == "granted", host


def subscribe_reason(port: int, username: str, password: str, client_id: str, topic: str) -> str:
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    answer: list[str] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    client.on_connect = lambda c, u, f, reason, p: c.subscribe(topic, qos=1)

    def on_subscribe(c: mqtt.Client, userdata: object, mid: int, reasons: Any, props: object) -> None:
        answer.append("refused" if any(getattr(r, "is_failure", False) for r in reasons) else "granted")
        done.set()

    client.on_subscribe = on_subscribe
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return answer[0] if answer else "no answer"
