"""Real MQTT brokers for the tests: Mosquitto on a free port (killable), and the embedded one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from collector.broker.mosquitto import EmbeddedBroker, free_port, wait_port
from devtools import processes

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Mosquitto:
    """A Mosquitto of the test's own, with its own config file. ``kill()`` sends SIGKILL; ``start()`` again
    brings it back on the same port (with its persistence file, when ``persistence`` is on)."""

    def __init__(self, workdir: Path, *, port: int | None = None, persistence: bool = False,
                 extra_conf: str = "") -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        lines = [
            # Started as root, Mosquitto drops to its own user, which can neither write its persistence file
            # into the test's private folder nor read a config there: it would silently save nothing.
            *(["user root"] if os.geteuid() == 0 else []),
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            # The default of 1000 drops QoS 1 bursts silently.
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",
            "max_queued_bytes 0",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {workdir}/",
            "autosave_interval 1",
            extra_conf,
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Mosquitto:
        log = self.log.open("ab")
        self._proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT)
        if not wait_port("127.0.0.1", self.port, timeout):
            self.kill()
            raise RuntimeError(f"mosquitto did not start on {self.port}: {self.log.read_text()[-2000:]}")
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no goodbye, no save."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        processes.stop(proc, 5)

    def reload(self) -> None:
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGHUP)
            time.sleep(0.2)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def embedded_broker(workdir: Path, *, accounts: bool = False) -> EmbeddedBroker:
    """The broker the collector starts itself (:class:`collector.broker.EmbeddedBroker`), on a free port:
    anonymous on loopback, or with ``accounts`` (dynamic security, its admin in ``admin()``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return EmbeddedBroker("127.0.0.1", free_port(), data_dir=workdir, accounts=accounts)
