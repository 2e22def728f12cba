"""Time for the kiosk: wall clock, monotonic clock, and whether the wall clock can be trusted.

A Raspberry Pi has no real-time clock: until NTP syncs, its wall clock may be hours or years off. Code that
needs time takes a :class:`Clock`, so that tests drive it with :class:`ManualClock` instead of sleeping.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

_LOG = logging.getLogger(__name__)

_TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised
_TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")


class Clock(Protocol):
    def now(self) -> datetime:
        """The wall-clock time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps, for intervals."""
        ...

    def synced(self) -> bool:
        """Whether the wall clock is synchronised to a time source."""
        ...


class SystemClock:
    """The machine's clocks; synchronisation read from the kernel (``adjtimex``), as NTP daemons set it."""

    def __init__(self) -> None:
        self._libc = self._load_libc()

    @staticmethod
    def _load_libc() -> ctypes.CDLL | None:
        name = ctypes.util.find_library("c")
        try:
            return ctypes.CDLL(name) if name else None
        except OSError:
            return None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def synced(self) -> bool:
        if _TIMESYNCD_FLAG.exists():
            return True
        if self._libc is None:
            return False
        buf = ctypes.create_string_buffer(256)  # struct timex, modes = 0: read only
        try:
            state = self._libc.adjtimex(buf)
        except AttributeError:
            return False
        return bool(state >= 0 and state != _TIME_ERROR)


class ManualClock:
    """A clock that moves only when told to: for tests and simulations."""

    def __init__(self, start: datetime | None = None, *, synced: bool = True) -> None:
        self._wall = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._mono = 1000.0
        self._synced = synced
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def synced(self) -> bool:
        return self._synced

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on both clocks."""
        with self._lock:
            self._mono += seconds
            self._wall += timedelta(seconds=seconds)

    def jump(self, seconds: float) -> None:
        """Move the wall clock only, as NTP or fake-hwclock do."""
        with self._lock:
            self._wall += timedelta(seconds=seconds)

    def set_synced(self, synced: bool) -> None:
        self._synced = synced
