"""The tests' Mosquitto with persistence really keeps what it holds across a restart, as root too."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devtools.brokers import Mosquitto


def _client(port: int, client_id: str, received: list[bytes] | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    if received is not None:
        client.on_message = lambda c, u, m: received.append(bytes(m.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _subscribe(client: mqtt.Client, topic: str) -> None:
    done = threading.Event()
    client.on_subscribe = lambda *a: done.set()
    client.subscribe(topic, qos=1)
    assert done.wait(5)


def test_a_persistent_broker_keeps_sessions_and_retained_messages(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mosquitto", persistence=True).start()
    try:
        collector = _client(broker.port, "collector")
        _subscribe(collector, "votes/#")
        collector.disconnect()
        collector.loop_stop()
        kiosk = _client(broker.port, "kiosk")
        kiosk.publish("status/k-1", b"online", qos=1, retain=True).wait_for_publish(5)
        kiosk.publish("votes/k-1", b"vote while the collector is away", qos=1).wait_for_publish(5)
        kiosk.disconnect()
        kiosk.loop_stop()
        broker.stop()  # SIGTERM: Mosquitto saves at exit
        assert list((tmp_path / "mosquitto").glob("*.db")), "mosquitto saved nothing"
        broker.start()
        received: list[bytes] = []
        collector = _client(broker.port, "collector", received)
        later = _client(broker.port, "later", received)
        _subscribe(later, "status/#")
        deadline = threading.Event()
        for _ in range(50):
            if b"vote while the collector is away" in received and b"online" in received:
                break
            deadline.wait(0.1)
        collector.disconnect()
        later.disconnect()
        assert b"vote while the collector is away" in received, received
        assert b"online" in received, received
    finally:
        broker.stop()
