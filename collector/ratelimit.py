"""Rate limiting of failed authentications, per client address.

Guessing API tokens is hopeless (32 random bytes), but a client that keeps sending wrong tokens is either
broken or probing. So an address that failed ``max_failures`` authentications within ``window_s`` seconds is
blocked for ``block_s`` seconds: a wrong token from it is answered 429 with ``Retry-After`` instead of 401, and
no longer counted. A valid token is always accepted, blocked address or not: others behind the same address
(a NAT, a proxy), or someone who spoofed it, cannot lock a user out. Other addresses are never affected. The
clock is injectable for tests.

The address is the TCP peer's. ``X-Forwarded-For`` is believed only from the proxies listed in the
``trusted_proxies`` setting (none by default): anyone can write that header, and uvicorn would otherwise believe
it from any local process.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

_LOG = logging.getLogger(__name__)

Clock = Callable[[], float]


class FailureLimiter:
    """Counts failed authentications per address; blocks an address that failed too often. Thread-safe."""

    def __init__(self, *, max_failures: int = 10, window_s: float = 60.0, block_s: float = 300.0,
                 clock: Clock = time.monotonic, max_addresses: int = 10_000) -> None:
        if max_failures < 1 or window_s <= 0 or block_s <= 0:
            raise ValueError("max_failures, window_s and block_s must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.block_s = block_s
        self.clock = clock
        self.max_addresses = max_addresses
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked_until: dict[str, float] = {}

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again (rounded up); 0 when it is not blocked."""
        with self._lock:
            until = self._blocked_until.get(address)
            if until is None:
                return 0
            left = until - self.clock()
            if left <= 0:
                del self._blocked_until[address]
                return 0
            return max(1, math.ceil(left))

    def failure(self, address: str) -> bool:
        """Count a failed authentication from ``address``; True when it is the one that blocks it."""
        now = self.clock()
        with self._lock:
            times = self._failures.pop(address, None) or deque()
            self._failures[address] = times  # most recent last, so the oldest is dropped first
            while times and times[0] <= now - self.window_s:
                times.popleft()
            times.append(now)
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)
            if len(times) < self.max_failures:
                return False
            times.clear()
            self._blocked_until[address] = now + self.block_s
            if len(self._blocked_until) > self.max_addresses:
                self._blocked_until = {a: t for a, t in self._blocked_until.items() if t > now}
        _LOG.warning("client %s blocked for %.0f s after %d failed authentications within %.0f s",
                     address, self.block_s, self.max_failures, self.window_s)
        return True
