"""How many rejects each kiosk may have the collector keep: a token bucket per kiosk.

A reject is kept in the database with its payload (up to 64 KiB), so a kiosk sending bad messages without end
would fill the disk. Each kiosk id (and one bucket for messages of no kiosk, on a topic that names none) may
have ``per_minute`` rejects kept a minute, with as many in a burst; beyond, a reject is still counted (and its
votes still in the kiosk's receipt, so that the kiosk stops resending them), but not kept. Buckets are spent
only once the transaction that keeps the rejects is committed (:meth:`RejectBudget.spend`), so that a group
applied again is not charged twice. Each ingest process has its own buckets (``ingest_workers``: at most that
many times the rate). A broker with kiosk accounts lets a kiosk publish on its own topics only; without, ids are
whatever a client writes, so the buckets kept are bounded (:data:`MAX_KEYS`, the least recently used go).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

_LOG = logging.getLogger(__name__)

#: Buckets kept at most; a forgotten bucket is full again when its kiosk comes back.
MAX_KEYS = 10_000
#: The bucket of rejects that name no kiosk.
NO_KIOSK = ""


class RejectBudget:
    """Token buckets of ``per_minute`` rejects per kiosk (``0``: no limit). Thread-safe; injectable clock."""

    def __init__(self, per_minute: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 0:
            raise ValueError("per_minute must be >= 0")
        self.per_minute = per_minute
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, when)
        self._last_warned: dict[str, float] = {}

    def available(self, key: str) -> float:
        """Rejects ``key`` may still have kept now (``inf`` without a limit)."""
        if not self.per_minute:
            return float("inf")
        with self._lock:
            return self._refilled(key)[0]

    def spend(self, used: Mapping[str, int]) -> None:
        """Take ``used`` rejects (kept by a committed transaction) from each key's bucket."""
        if not self.per_minute or not used:
            return
        with self._lock:
            for key, n in used.items():
                tokens, now = self._refilled(key)
                self._buckets[key] = (max(0.0, tokens - n), now)
                self._buckets.move_to_end(key)
            while len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)

    def should_warn(self, key: str) -> bool:
        """Whether to log a reject not kept at warning level: once a minute per key, so the log is bounded too."""
        now = self.clock()
        with self._lock:
            if now - self._last_warned.get(key, -60.0) < 60.0:
                return False
            if len(self._last_warned) >= MAX_KEYS:
                self._last_warned.clear()
            self._last_warned[key] = now
            return True

    def _refilled(self, key: str) -> tuple[float, float]:
        now = self.clock()
        tokens, when = self._buckets.get(key, (self.per_minute, now))
        return min(self.per_minute, tokens + (now - when) * self.per_minute / 60.0), now
