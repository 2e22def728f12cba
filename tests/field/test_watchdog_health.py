"""systemd's watchdog over a real datagram socket, the heartbeat's health readings, and the fault proxy."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.brokers import Mosquitto
from devtools.faultproxy import FaultProxy
from devtools.kiosk_sim import wait_until
from kiosk.clock import ManualClock
from kiosk.config import KioskConfig
from kiosk.health import cpu_temp_c, disk_state, free_disk_bytes
from kiosk.service import Kiosk
from kiosk.watchdog import Watchdog
from tests.utils.notify import NotifySocket


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    try:
        yield sock
    finally:
        sock.close()


def test_watchdog_speaks_sd_notify(notify: NotifySocket) -> None:
    dog = Watchdog({"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "4000000"})
    assert dog.enabled and dog.interval == 2.0
    assert dog.ready("up") and dog.ping() and dog.stopping()
    assert wait_until(lambda: len(notify.messages) == 3, 5)
    assert notify.messages == ["READY=1\nSTATUS=up", "WATCHDOG=1", "STOPPING=1"]


@pytest.mark.parametrize("environ", [{}, {"NOTIFY_SOCKET": "/nonexistent/notify"}])
def test_watchdog_outside_systemd_is_harmless(environ: dict[str, str]) -> None:
    dog = Watchdog(environ)
    assert dog.ping() is False
    assert dog.interval is None


def test_watchdog_ignores_another_process_s_timeout() -> None:
    assert Watchdog({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).interval is None


def test_a_stuck_kiosk_stops_pinging(notify: NotifySocket, mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = KioskConfig.of(kiosk_id="k-1", data_dir=tmp_path / "k-1", broker={"port": mosquitto.port})
    dog = Watchdog({"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "200000"})
    with Kiosk(config, clock=ManualClock(), watchdog=dog) as kiosk:
        assert wait_until(lambda: notify.count("READY=1") == 1 and notify.count("WATCHDOG=1") >= 3, 10)
        assert kiosk.uplink is not None
        kiosk.uplink._stop.set()  # the sender thread dies (a bug, a deadlock): no more pings
        kiosk.uplink.wake()
        assert wait_until(lambda: not kiosk.healthy(), 10)
        time.sleep(0.3)
        pings = notify.count("WATCHDOG=1")
        time.sleep(0.5)
        assert notify.count("WATCHDOG=1") == pings


def test_health_readings(tmp_path: Path) -> None:
    zones = tmp_path / "thermal"
    for name, kind, millis in [("thermal_zone0", "gpu-thermal", "61000"), ("thermal_zone1", "cpu-thermal", "48312")]:
        (zones / name).mkdir(parents=True)
        (zones / name / "type").write_text(kind + "\n")
        (zones / name / "temp").write_text(millis + "\n")
    assert cpu_temp_c(zones) == 48.3
    (zones / "thermal_zone1" / "temp").write_text("garbage")
    assert cpu_temp_c(zones) == 61.0
    assert cpu_temp_c(tmp_path / "none") is None
    assert (free_disk_bytes(tmp_path / "not" / "yet") or 0) > 0
    assert disk_state(tmp_path, low_bytes=2**62).low is True


def test_the_heartbeat_carries_the_field_readings(tmp_path: Path) -> None:
    config = KioskConfig.of(kiosk_id="k-1", data_dir=tmp_path / "k-1")
    with Kiosk(config, clock=ManualClock(synced=False), connect=False, boot_id="boot-a") as kiosk:
        health = kiosk.health()
    assert health["boot_id"] == "boot-a" and health["votes_refused"] == 0
    assert isinstance(health["free_disk_bytes"], int) and health["config_version"] is None


# -- the fault proxy itself -------------------------------------------------------------------------------------


@pytest.fixture
def echo() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=lambda c=conn: _echo(c), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def _echo(conn: socket.socket) -> None:
    with conn, contextlib.suppress(OSError):  # the proxy resets connections on purpose
        while data := conn.recv(4096):
            conn.sendall(data)


def _roundtrip(port: int, data: bytes = b"ping", timeout: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(data)
        return c.recv(4096)


def test_fault_proxy_forwards_delays_blackholes_refuses_and_cuts(echo: int) -> None:
    with FaultProxy("127.0.0.1", echo) as proxy:
        assert _roundtrip(proxy.port) == b"ping"
        proxy.set_delay(0.2)
        t = time.monotonic()
        assert _roundtrip(proxy.port) == b"ping"
        assert time.monotonic() - t >= 0.4  # 0.2 each way: a lower bound, safe on a slow machine
        proxy.heal()
        proxy.blackhole(True)
        with pytest.raises(TimeoutError):
            _roundtrip(proxy.port, timeout=0.5)
        proxy.blackhole(False)
        proxy.refuse(True)
        with pytest.raises((ConnectionError, OSError)):
            data = _roundtrip(proxy.port)
            if not data:
                raise ConnectionResetError("closed")
        assert proxy.stats.refused >= 1
        proxy.refuse(False)
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as c:
            c.sendall(b"a")
            assert c.recv(10) == b"a"
            assert wait_until(lambda: proxy.open_connections == 1, 5)
            assert proxy.cut() == 1
            with pytest.raises((ConnectionError, OSError)):
                c.sendall(b"b")
                if not c.recv(10):
                    raise ConnectionResetError("closed")
        port = proxy.port
        proxy.stop()
        proxy.start()  # same port again, as a broker restarting
        assert proxy.port == port and _roundtrip(port) == b"ping"
