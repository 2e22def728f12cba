"""The kiosk's health, as the heartbeat reports it: free disk, CPU temperature, clock state.

Each reading is best effort: a file that cannot be read gives ``None``, never an exception, so that telemetry
never stops the uplink. CPU temperature comes from ``/sys/class/thermal/thermal_zone*/temp`` (millidegrees):
on a Raspberry Pi, ``cpu-thermal``; the hottest readable zone otherwise.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

_LOG = logging.getLogger(__name__)

THERMAL_ROOT = Path("/sys/class/thermal")
#: Below this much free space on the outbox's partition, the heartbeat says the disk is low.
LOW_DISK_BYTES = 20 * 1024 * 1024


def free_disk_bytes(path: Path) -> int | None:
    """Bytes free for an unprivileged writer on ``path``'s filesystem."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return int(shutil.disk_usage(probe).free)
    except OSError:
        return None


def cpu_temp_c(root: Path = THERMAL_ROOT) -> float | None:
    """The CPU's temperature in °C, or ``None`` where no thermal zone is readable (containers, most VMs)."""
    readings: dict[str, float] = {}
    try:
        zones = sorted(root.glob("thermal_zone*"))
    except OSError:
        return None
    for zone in zones:
        try:
            millis = int((zone / "temp").read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue
        try:
            kind = (zone / "type").read_text(encoding="ascii").strip()
        except OSError:
            kind = zone.name
        readings[kind] = millis / 1000
    if not readings:
        return None
    for kind, value in readings.items():
        if "cpu" in kind.lower() or "soc" in kind.lower():
            return round(value, 1)
    return round(max(readings.values()), 1)


@dataclass(frozen=True, slots=True)
class DiskState:
    free_bytes: int | None
    low: bool


def disk_state(path: Path, low_bytes: int = LOW_DISK_BYTES) -> DiskState:
    free = free_disk_bytes(path)
    return DiskState(free, free is not None and free < low_bytes)


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
