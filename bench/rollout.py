"""Publishing a rollout: a desired release retained for each kiosk of the national fleet, on one broker and on two.

What ``borne collector fleet update VERSION --all`` and the dashboard's buttons wait for
(:func:`collector.broker.releases.publish`, :mod:`collector.broker.publisher`): one short connection a broker, a
retained QoS 1 message a kiosk, every acknowledgement. With active-active brokers it publishes on each in turn.
Two Mosquittos of our own on free ports, both set-ups measured in turn in one run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from collector.broker import releases
from collector.config import Settings
from devtools.brokers import Mosquitto
from protocol.models import DesiredRelease


def main(quick: bool = False) -> None:
    kiosks, rounds = (300, 3) if quick else (2800, 5)
    desired = {f"k-{i:04d}": DesiredRelease(version="0.2.0", rollout=f"r-{i % 3}") for i in range(kiosks)}
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp) / "a") as a, Mosquitto(Path(tmp) / "b") as b:
        setups = {"one broker": Settings(data_dir=Path(tmp), mqtt_port=a.port),
                  "two brokers": Settings(data_dir=Path(tmp), mqtt_port=a.port,
                                          mqtt_more_brokers=f"127.0.0.1:{b.port}")}
        times: dict[str, list[float]] = {name: [] for name in setups}
        for _ in range(rounds):
            for name, settings in setups.items():
                started = time.perf_counter()
                releases.publish(settings, desired, timeout=60)
                times[name].append(time.perf_counter() - started)
    print(f"rollout: a desired release retained for {kiosks:,} kiosks, {rounds} rounds in turn")
    for name, samples in times.items():
        print(f"  {name:12s} median {statistics.median(samples):.2f} s  "
              f"({kiosks / statistics.median(samples):,.0f} kiosks/s; {', '.join(f'{s:.2f}' for s in samples)})")
