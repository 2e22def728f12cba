"""systemd's watchdog, spoken directly: ``READY=1`` once up, ``WATCHDOG=1`` while healthy, no dependency.

systemd passes ``$NOTIFY_SOCKET`` (a datagram socket path, ``@`` for the abstract namespace) and, with
``WatchdogSec=`` in the unit, ``$WATCHDOG_USEC``. A kiosk that stops pinging for that long is killed and
restarted (``Restart=always``). Outside systemd there is no socket and every call is a no-op, so the kiosk runs
the same on a laptop.

The ping is only sent when the kiosk's own liveness check passes (see :meth:`kiosk.service.Kiosk.healthy`):
a process that is alive but stuck must *not* keep pinging.

Under the update supervisor (:mod:`kiosk.supervisor`, the unit's main process), the kiosk is a child: the
supervisor hands it the watchdog (it removes ``WATCHDOG_PID``, which names the supervisor, and the unit's
``NotifyAccess=all`` lets the child's pings count) and sets :data:`SUPERVISED`. A supervised kiosk does not say
``STOPPING=1`` when it exits: it may be exiting to be started again on another release, and systemd would take
the whole service for stopping and kill it at ``TimeoutStopSec``. The supervisor says it when it stops.
"""

from __future__ import annotations

import logging
import os
import socket

_LOG = logging.getLogger(__name__)

#: Set to ``1`` in the environment of a kiosk run by :mod:`kiosk.supervisor`.
SUPERVISED = "BORNE_SUPERVISED"


class Watchdog:
    """Sends sd_notify messages; ``interval`` is how often to ping (half of systemd's timeout), or ``None``."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        self.interval: float | None = None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        if usec and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.interval = int(usec) / 1e6 / 2
        self.supervised = env.get(SUPERVISED) == "1"
        self.sent = 0
        self.failures = 0

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Send one message (``KEY=value`` lines); False if there is no socket or sending failed."""
        if self.address is None:
            return False
        address = self.address
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(address)
                sock.sendall(message.encode("utf-8"))
        except OSError as exc:
            self.failures += 1
            _LOG.warning("sd_notify to %s failed: %s", self.address, exc)
            return False
        self.sent += 1
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def ping(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        """``STOPPING=1``, unless supervised: the supervisor, not its child, says when the service stops."""
        return False if self.supervised else self.notify("STOPPING=1")
