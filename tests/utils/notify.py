"""systemd's side of sd_notify for the tests: a datagram socket that collects what a unit's processes send."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path


class NotifySocket:
    """Bound at ``path`` (pass it as ``NOTIFY_SOCKET``); ``messages`` holds each datagram received, in order, and
    ``received`` the same with the monotonic time it arrived."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append((time.monotonic(), data.decode()))

    @property
    def messages(self) -> list[str]:
        return [m for _, m in list(self.received)]

    def count(self, text: str) -> int:
        """How many messages contain ``text``."""
        return sum(text in m for m in self.messages)

    def times(self, line: str) -> list[float]:
        """When each message holding the line ``line`` (``WATCHDOG=1``) arrived."""
        return [t for t, m in list(self.received) if line in m.splitlines()]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
