"""The embedded MQTT broker for small deployments: amqtt, in a process of its own.

It speaks MQTT 3.1.1 only: no shared subscriptions and no MQTT 5, so one collector at a time; national
deployments use Mosquitto (``deploy/``). Without an accounts file it is anonymous and listens on loopback only;
with one (written by :class:`collector.accounts.FileAccounts`) every client needs its own account and may use only
its own topics (:mod:`collector.broker_auth`), and it may listen on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

_LOG = logging.getLogger(__name__)


class PortTaken(OSError):
    """The port is already in use, often by a broker already running (Mosquitto listens on 1883)."""


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


class EmbeddedBroker:
    """Runs ``python -m collector.broker`` and stops it; a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, log_file: Path | None = None,
                 accounts_file: Path | None = None) -> None:
        self.host, self.port = host, port
        self.log_file = log_file
        self.accounts_file = accounts_file
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        if not port_free(self.host, self.port):
            raise PortTaken(
                f"port {self.port} on {self.host} is taken (another MQTT broker?); "
                f"choose another with --mqtt-port or BORNE_MQTT_PORT"
            )
        out = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        self._proc = subprocess.Popen(  # noqa: S603 - our own module, no shell
            [sys.executable, "-m", "collector.broker", self.host, str(self.port),
             *([str(self.accounts_file)] if self.accounts_file else [])],
            stdout=out, stderr=subprocess.STDOUT,
        )
        if not wait_port(self.host, self.port, timeout):
            self.stop()
            raise RuntimeError(f"the embedded broker did not start on {self.host}:{self.port}")
        _LOG.info("embedded broker listening on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _serve(host: str, port: int, accounts_file: str | None = None) -> None:
    from amqtt.broker import Broker

    plugins: dict[str, dict[str, object]] = {
        "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
    if accounts_file:
        plugins = {"collector.broker_auth.AccountsAuthPlugin": {"accounts_file": accounts_file},
                   "collector.broker_auth.AccountsTopicPlugin": {"accounts_file": accounts_file}}
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 5000}},
        "plugins": plugins,
    }
    broker = Broker(config)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # Ctrl-C in a terminal reaches the whole process group: the collector (or the demo) then stops its clients
    # first and us last (SIGTERM), instead of every client seeing its broker vanish as it is being stopped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    await stop.wait()
    await broker.shutdown()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s broker %(levelname)s %(message)s")
    host, port = sys.argv[1], int(sys.argv[2])
    accounts_file = sys.argv[3] if len(sys.argv) > 3 else None
    if host not in ("127.0.0.1", "localhost", "::1") and not accounts_file:
        # Anonymous access is only acceptable on loopback.
        sys.exit("borne: error: without accounts (BORNE_MQTT_ACCOUNTS=embedded) the embedded broker listens "
                 "on loopback only")
    asyncio.run(_serve(host, port, accounts_file))


if __name__ == "__main__":
    main()
