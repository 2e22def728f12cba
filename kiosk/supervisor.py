"""The update supervisor: starts the kiosk on its current release, and switches back from one that fails.

    python -m kiosk.supervisor [-v] run -c FILE [--ui gpio|touch]

What systemd runs when a kiosk takes updates. A small parent (the standard library, :mod:`kiosk.config` and
:mod:`kiosk.releases`; about 10 MB) that runs the kiosk proper as its child, ``python -m kiosk run ...``, with the
current release's ``site`` first on ``PYTHONPATH`` (none: the factory install) and ``BORNE_RELEASE`` set to its
version. It owns the A/B state machine of :mod:`kiosk.releases`:

- at its start, a pending release that was already started once and never confirmed (a power cut, a crash, a
  kill while it came up) is switched back: the kiosk starts on the release before; a switch cut short is made
  again;
- a child that exits while its release is pending is switched back, and the previous release started;
- a pending release not confirmed within ``update.confirm_s`` is stopped (SIGTERM, then SIGKILL) and switched
  back;
- a child that exits with :data:`RESTART` (the update agent switched releases) is started again at once;
- any other exit is the supervisor's own exit code, for systemd's ``Restart=``.

SIGTERM and SIGINT are passed on to the child; the supervisor exits with it.

systemd's watchdog (``WatchdogSec=`` in the unit, :mod:`kiosk.watchdog`): the child pings it, the supervisor
handing it over (``WATCHDOG_PID`` removed from the child's environment, :data:`kiosk.watchdog.SUPERVISED` set;
``NotifyAccess=all``). While a child it started again (a switch of releases, a switch back) comes up, the
supervisor pings for it for :data:`START_GRACE_S` at most, since the service is running meanwhile and a Pi takes
tens of seconds to start Python and Kivy; the first start needs none (systemd arms the watchdog at ``READY=1``).
The supervisor says ``STOPPING=1`` when it stops, the child never does.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from kiosk.entry import RESTART
from kiosk.watchdog import SUPERVISED, Watchdog

_LOG = logging.getLogger(__name__)

_COMMAND = ("run",)

#: How long the supervisor pings systemd's watchdog for a child it started again, while that child comes up.
START_GRACE_S = 90.0


class Supervisor:
    """Runs ``python -m kiosk`` on the current release until told to stop."""

    def __init__(self, config: Path, ui: str | None, root: Path, confirm_s: float, *, verbose: bool = False,
                 poll_s: float = 0.2) -> None:
        from kiosk.releases import Releases

        self.config = config
        self.ui = ui
        self.verbose = verbose
        self.releases = Releases(root).ensure()
        self.confirm_s = confirm_s
        self.poll_s = poll_s
        self.stopping = threading.Event()
        self.child: subprocess.Popen[bytes] | None = None
        self.watchdog = Watchdog()
        self.starts = 0

    def command(self) -> list[str]:
        return [sys.executable, "-m", "kiosk", *(["-v"] if self.verbose else []), "run", "-c", str(self.config),
                *(["--ui", self.ui] if self.ui else [])]

    def environment(self, version: str | None) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("BORNE_RELEASE", None)
        if env.get("WATCHDOG_PID") == str(os.getpid()):
            env.pop("WATCHDOG_PID")  # the watchdog is the child's to ping (NotifyAccess=all)
        env[SUPERVISED] = "1"
        if version is not None:
            site = str(self.releases.site(version))
            env["PYTHONPATH"] = os.pathsep.join(p for p in (site, env.get("PYTHONPATH")) if p)
            env["BORNE_RELEASE"] = version
        return env

    def recover(self) -> None:
        """A release left pending by a start that never confirmed: switch back. A switch cut short (the power
        went between ``pending.json`` and the ``current`` link): made again, whole."""
        pending = self.releases.pending()
        if pending is None:
            return
        if pending.get("started"):
            self.releases.revert("the kiosk stopped (power cut, crash or kill) before it confirmed its health")
        elif self.releases.current() != pending.get("version"):
            version = str(pending.get("version"))
            if self.releases.installed(version):
                self.releases.switch(version, pending.get("rollout"))
            else:
                self.releases.revert("the switch was cut short and the release is not installed")

    def stop(self, *_: object) -> None:
        self.stopping.set()
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    def _terminate(self, child: subprocess.Popen[bytes]) -> None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def run_once(self) -> int | None:
        """Start the kiosk once and watch it; its exit code, or ``None`` to start again."""
        self.recover()
        pending = self.releases.pending()
        if pending is not None:
            self.releases.mark_started()
        version = self.releases.current()
        _LOG.info("starting the kiosk on release %s%s", version or "factory",
                  " (pending confirmation)" if pending else "")
        self.child = child = subprocess.Popen(self.command(), env=self.environment(version))  # noqa: S603
        started = time.monotonic()
        deadline = started + self.confirm_s
        # A child started again: the service is running, so the watchdog is armed while the child comes up.
        grace = started + START_GRACE_S if self.starts and self.watchdog.interval is not None else started
        self.starts += 1
        pinged = 0.0
        while True:
            now = time.monotonic()
            if now < grace and now - pinged >= (self.watchdog.interval or 0.0):
                self.watchdog.ping()
                pinged = now
            try:
                code = child.wait(self.poll_s)
                break
            except subprocess.TimeoutExpired:
                pass
            if pending is not None and self.releases.pending() is None:
                pending = None  # confirmed by the kiosk
            if pending is not None and time.monotonic() > deadline and not self.stopping.is_set():
                self._terminate(child)
                self.releases.revert(f"not healthy within {self.confirm_s:.0f}s (connected, a heartbeat, a "
                                     "receipt)")
                return None
        self.child = None
        if code == RESTART and not self.stopping.is_set():
            return None
        still = self.releases.pending()
        if still is not None and still.get("started"):
            self.releases.revert(f"the kiosk exited with {code} before it confirmed its health")
            return code if self.stopping.is_set() else None
        return code

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        try:
            while True:
                code = self.run_once()
                if code is not None:
                    return code
                if self.stopping.is_set():
                    return 0
        finally:
            self.watchdog.notify("STOPPING=1")


def main(argv: Sequence[str] | None = None) -> int:
    from kiosk.entry import ServiceError, service_args, setup_logging

    parsed = service_args(sys.argv[1:] if argv is None else argv, _COMMAND)
    if parsed is None:
        sys.stderr.write("usage: python -m kiosk.supervisor [-v] run -c FILE [--ui gpio|touch]\n")
        return 2
    verbose, config_path, ui = parsed
    setup_logging(verbose)
    from kiosk.config import ConfigInvalid, load_config

    try:
        config = load_config(config_path)
    except ConfigInvalid as exc:
        sys.stderr.write(f"borne: error: {ServiceError(str(exc))}\n")
        return 2
    supervisor = Supervisor(config_path, ui, config.releases_root, config.update.confirm_s, verbose=verbose)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
