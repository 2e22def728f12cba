"""Kiosks' broker accounts: what authentication costs when a fleet reconnects, and what provisioning costs.

- the collector's check of a kiosk's secret (:func:`collector.broker.accounts.verify_secret`): SHA-256 of a random
  secret, against argon2 (a password a person chose);
- connections to the embedded broker (Mosquitto), anonymous vs with accounts (dynamic security: PBKDF2-SHA512
  and the client id binding in the loop);
- one kiosk account made through Mosquitto's dynamic security API (connect, commands, answer, disconnect).
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

from collector.broker.accounts import DynsecAccounts, hash_secret, kiosk_username, new_secret, verify_secret
from collector.broker.mosquitto import EmbeddedBroker, free_port
from protocol.topics import kiosk_client_id

_LOG = logging.getLogger(__name__)


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _password_check(n: int) -> None:
    from argon2 import PasswordHasher

    argon2 = PasswordHasher()
    secrets_by_kiosk = [new_secret() for _ in range(n)]
    fast: list[float] = []
    slow: list[float] = []
    for secret in secrets_by_kiosk:
        sha, slow_hash = hash_secret(secret), argon2.hash(secret)
        t = time.perf_counter()
        assert verify_secret(sha, secret)
        fast.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert verify_secret(slow_hash, secret)
        slow.append(time.perf_counter() - t)
    s, f = _median_ms(fast), _median_ms(slow)
    print(f"secret check, {n} kiosks: sha256 median {s:.4f} ms; argon2 median {f:.2f} ms ({f / s:.0f}x)")


def _connects(port: int, n: int, credentials: dict[str, str] | None) -> list[float]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    samples = []
    for i in range(n):
        done = threading.Event()
        if credentials:
            kiosk_id = f"k-{i % len(credentials)}"
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=kiosk_client_id(kiosk_id),
                                 protocol=mqtt.MQTTv311)
            client.username_pw_set(kiosk_username(kiosk_id), credentials[kiosk_id])
        else:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{i}", protocol=mqtt.MQTTv311)
        client.on_connect = lambda *args, done=done: done.set()
        t = time.perf_counter()
        client.connect("127.0.0.1", port)
        client.loop_start()
        if not done.wait(10):
            raise RuntimeError("no CONNACK")
        samples.append(time.perf_counter() - t)
        client.disconnect()
        client.loop_stop()
    return samples


def _embedded_connects(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with EmbeddedBroker("127.0.0.1", free_port(), data_dir=Path(tmp) / "a", accounts=False) as anonymous:
            plain = _connects(anonymous.port, n, None)
        with EmbeddedBroker("127.0.0.1", free_port(), data_dir=Path(tmp) / "b") as broker:
            user, password, host, port = broker.admin()
            accounts = DynsecAccounts(host, port, user, password)
            creds = {f"k-{i}": new_secret() for i in range(10)}
            for kiosk_id, secret in creds.items():
                accounts.create(kiosk_id, secret, hash_secret(secret))
            authed = _connects(broker.port, n, creds)
    p, a = _median_ms(plain), _median_ms(authed)
    print(f"embedded broker (mosquitto), {n} sequential connects: anonymous median {p:.2f} ms, with accounts "
          f"median {a:.2f} ms, ratio {a / p:.2f}")


def _dynsec(n: int) -> None:
    try:
        from devtools.dynsec import DynsecMosquitto, dynsec_available
    except ImportError:
        print("dynsec: devtools not importable, skipped")
        return
    if not dynsec_available():
        print("dynsec: Mosquitto's dynamic security plugin not installed, skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        broker = DynsecMosquitto(Path(tmp))
        broker.start()
        try:
            accounts = DynsecAccounts("127.0.0.1", broker.port, broker.admin_user, broker.admin_password)
            samples = []
            for i in range(n):
                t = time.perf_counter()
                accounts.create(f"k-{i}", new_secret(), "")
                samples.append(time.perf_counter() - t)
        finally:
            broker.stop()
    print(f"dynsec: one kiosk account made, median {_median_ms(samples):.1f} ms over {n}")


def main(quick: bool = False) -> None:
    _password_check(5 if quick else 20)
    _embedded_connects(30 if quick else 200)
    _dynsec(5 if quick else 30)


if __name__ == "__main__":
    main()
