"""Stopping the child processes that tests and benchmarks start: SIGTERM, then SIGKILL if it does not stop."""

from __future__ import annotations

import logging
import subprocess
from typing import Any

_LOG = logging.getLogger(__name__)


def stop(proc: subprocess.Popen[Any] | None, timeout: float = 10.0) -> None:
    """SIGTERM, as systemd stops a service; SIGKILL if ``proc`` has not stopped after ``timeout`` s. Safe on a
    process already gone (or ``None``)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _LOG.warning("pid %d did not stop within %.0f s of SIGTERM; killing it", proc.pid, timeout)
        proc.kill()
        proc.wait()
