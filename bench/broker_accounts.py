"""Kiosks' broker accounts: what authentication costs when a fleet reconnects, and what provisioning costs.

- the embedded broker's password check: the collector's SHA-256 of a random secret, against argon2 (first
  check, then remembered), which after a broker restart would cost ~argon2 x kiosks of a blocked event loop;
- connections to the embedded broker, anonymous vs with accounts (the plugins in the loop);
- one kiosk account made through Mosquitto's dynamic security API (connect, command, answer, disconnect).
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

from collector.accounts import DynsecAccounts, FileAccounts, hash_secret, new_secret
from collector.broker import EmbeddedBroker, free_port
from collector.broker_auth import _Accounts

_LOG = logging.getLogger(__name__)


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _password_check(n: int) -> None:
    from argon2 import PasswordHasher

    argon2 = PasswordHasher()
    with tempfile.TemporaryDirectory() as tmp:
        accounts = FileAccounts(Path(tmp) / "accounts.json")
        secrets_by_kiosk = {f"k-{i}": new_secret() for i in range(n)}
        for i, (kiosk_id, secret) in enumerate(secrets_by_kiosk.items()):
            # Half with the collector's hash (SHA-256), half with argon2 (as for a password a person chose).
            accounts.create(kiosk_id, secret, hash_secret(secret) if i % 2 else argon2.hash(secret))
        checker = _Accounts(str(accounts.path))
        fast: list[float] = []
        first: list[float] = []
        again: list[float] = []
        for i, (kiosk_id, secret) in enumerate(secrets_by_kiosk.items()):
            t = time.perf_counter()
            assert checker.check_password(kiosk_id, secret)
            (fast if i % 2 else first).append(time.perf_counter() - t)
            if not i % 2:
                t = time.perf_counter()
                assert checker.check_password(kiosk_id, secret)
                again.append(time.perf_counter() - t)
    s, f, a = _median_ms(fast), _median_ms(first), _median_ms(again)
    print(f"password check, {n} kiosks: sha256 median {s:.4f} ms; argon2 first median {f:.2f} ms "
          f"({f / s:.0f}x), argon2 remembered median {a:.4f} ms")


def _connects(port: int, n: int, credentials: dict[str, str] | None) -> list[float]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    samples = []
    for i in range(n):
        done = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{i}", protocol=mqtt.MQTTv311)
        if credentials:
            client.username_pw_set(f"k-{i % len(credentials)}", credentials[f"k-{i % len(credentials)}"])
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
        anonymous = EmbeddedBroker("127.0.0.1", free_port(), log_file=Path(tmp) / "a.log")
        with anonymous:
            plain = _connects(anonymous.port, n, None)
        accounts = FileAccounts(Path(tmp) / "accounts.json")
        creds = {f"k-{i}": new_secret() for i in range(10)}
        for kiosk_id, secret in creds.items():
            accounts.create(kiosk_id, secret, hash_secret(secret))
        with EmbeddedBroker("127.0.0.1", free_port(), log_file=Path(tmp) / "b.log",
                            accounts_file=accounts.path) as broker:
            _connects(broker.port, 10, creds)  # first connections: argon2
            authed = _connects(broker.port, n, creds)
    p, a = _median_ms(plain), _median_ms(authed)
    print(f"embedded broker, {n} sequential connects: anonymous median {p:.2f} ms, with accounts median "
          f"{a:.2f} ms, ratio {a / p:.2f}")


def _dynsec(n: int) -> None:
    try:
        from tests.utils.dynsec import DynsecMosquitto, dynsec_available
    except ImportError:
        print("dynsec: tests.utils not importable, skipped")
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
