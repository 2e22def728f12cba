"""The embedded broker: Mosquitto started by the collector, against amqtt 0.12.1, the embedded broker before it.

For each broker, in one run: start time (process spawned -> port accepting), resident memory idle and after the
load, and one-vote throughput: one kiosk publishing one-vote batches at QoS 1 (100 in flight), one collector-like
subscriber at QoS 1; timed from the first publish to the last message received. Medians of ``ROUNDS`` runs.

amqtt is measured only when ``BORNE_BENCH_OLD_CHECKOUT`` names a checkout of borne from before the change (its
``collector/broker.py`` ran amqtt) and amqtt is importable: ``git worktree add /tmp/borne-old <commit>`` or
``git archive <commit> | tar -x -C /tmp/borne-old``, then ``BORNE_BENCH_OLD_CHECKOUT=/tmp/borne-old python -m
bench embedded_broker``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from collector.broker.accounts import DynsecAccounts, hash_secret, kiosk_username, new_secret
from collector.broker.mosquitto import EmbeddedBroker, free_port, wait_port
from devtools.builders import wire_batch
from protocol.codec import encode
from protocol.topics import TopicKind, kiosk_client_id, kiosk_filter, kiosk_topic

_LOG = logging.getLogger(__name__)

ROUNDS = 3
KIOSK = "k-bench"


@dataclass
class Running:
    port: int
    pid: int
    started_s: float
    kiosk: tuple[str, str, str] | None = None  # user, password, client id
    collector: tuple[str, str] | None = None  # user, password


def _rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


@contextlib.contextmanager
def _amqtt(old_checkout: Path, workdir: Path) -> Iterator[Running]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(old_checkout)}
    started = time.perf_counter()
    with (workdir / "amqtt.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "collector.broker", "127.0.0.1", str(port)],
                                env=env, cwd=old_checkout, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_port("127.0.0.1", port, 30):
            raise RuntimeError("amqtt did not start")
        yield Running(port, proc.pid, time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def _mosquitto(workdir: Path, accounts: bool) -> Iterator[Running]:
    broker = EmbeddedBroker("127.0.0.1", free_port(), data_dir=workdir, accounts=accounts)
    started = time.perf_counter()
    broker.start()
    took = time.perf_counter() - started
    try:
        assert broker.pid is not None
        running = Running(broker.port, broker.pid, took)
        if accounts:
            user, password, host, port = broker.admin()
            admin = DynsecAccounts(host, port, user, password)
            kiosk_secret, collector_secret = new_secret(), new_secret()
            admin.create(KIOSK, kiosk_secret, hash_secret(kiosk_secret))
            admin.ensure_collector("borne-collector", collector_secret, "bench-collector")
            running.kiosk = (kiosk_username(KIOSK), kiosk_secret, kiosk_client_id(KIOSK))
            running.collector = ("borne-collector", collector_secret)
        yield running
    finally:
        broker.stop()


def _throughput(running: Running, messages: int) -> float:
    """One-vote messages a second, publisher to subscriber, both at QoS 1."""
    payloads = [encode(wire_batch(KIOSK, [4], start_seq=i + 1)) for i in range(messages)]
    received = threading.Event()
    count = [0]
    subscribed = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-collector", protocol=mqtt.MQTTv311)
    if running.collector:
        sub.username_pw_set(*running.collector)

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        count[0] += 1
        if count[0] >= messages:
            received.set()

    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_connect = lambda c, *a: c.subscribe(kiosk_filter(TopicKind.VOTES), 1)
    sub.connect("127.0.0.1", running.port)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=running.kiosk[2] if running.kiosk else "bench-kiosk",
                      protocol=mqtt.MQTTv311)
    if running.kiosk:
        pub.username_pw_set(running.kiosk[0], running.kiosk[1])
    pub.max_inflight_messages_set(100)
    pub.connect("127.0.0.1", running.port)
    pub.loop_start()
    try:
        if not subscribed.wait(10):
            raise RuntimeError("the subscriber was not subscribed")
        topic = kiosk_topic(KIOSK, TopicKind.VOTES)
        started = time.perf_counter()
        for payload in payloads:
            pub.publish(topic, payload, qos=1)
        if not received.wait(120):
            raise RuntimeError(f"only {count[0]} of {messages} messages arrived")
        return messages / (time.perf_counter() - started)
    finally:
        for client in (pub, sub):
            client.disconnect()
            client.loop_stop()


def _measure(name: str, start: Callable[[Path], contextlib.AbstractContextManager[Running]],
             messages: int) -> tuple[str, float, float, float, float]:
    starts, idle, loaded, rates = [], [], [], []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as tmp, start(Path(tmp)) as running:
            starts.append(running.started_s)
            time.sleep(0.5)
            idle.append(_rss_mb(running.pid))
            rates.append(_throughput(running, messages))
            loaded.append(_rss_mb(running.pid))
    return (name, statistics.median(starts) * 1000, statistics.median(idle), statistics.median(loaded),
            statistics.median(rates))


def main(quick: bool = False) -> None:
    messages = 2000 if quick else 10000
    cases: list[tuple[str, Callable[[Path], contextlib.AbstractContextManager[Running]]]] = []
    old = os.environ.get("BORNE_BENCH_OLD_CHECKOUT")
    if old and importlib.util.find_spec("amqtt") is not None:
        cases.append(("amqtt 0.12.1, anonymous (before)", lambda d: _amqtt(Path(old), d)))
    else:
        print("amqtt: skipped (set BORNE_BENCH_OLD_CHECKOUT to a checkout from before, with amqtt installed)")
    cases.append(("mosquitto, anonymous", lambda d: _mosquitto(d, accounts=False)))
    cases.append(("mosquitto, dynsec accounts (now)", lambda d: _mosquitto(d, accounts=True)))
    rows = [_measure(name, start, messages) for name, start in cases]
    print(f"{messages} one-vote messages at QoS 1, medians of {ROUNDS} rounds")
    print(f"{'broker':36} {'start ms':>9} {'RSS idle MB':>12} {'RSS loaded MB':>14} {'votes/s':>9}")
    for name, start_ms, idle, loaded, rate in rows:
        print(f"{name:36} {start_ms:9.0f} {idle:12.1f} {loaded:14.1f} {rate:9.0f}")


if __name__ == "__main__":
    main()
