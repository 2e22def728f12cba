"""Counters the collector keeps about itself, served on ``/metrics`` in Prometheus' text format."""

from __future__ import annotations

import logging
import threading
from collections import Counter

_LOG = logging.getLogger(__name__)


class Metrics:
    """Thread-safe named counters, some with a ``reason`` label."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._rejects: Counter[str] = Counter()

    def inc(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def reject(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self._rejects[reason] += n
            self._counts["rejects"] += n

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def rejects(self) -> dict[str, int]:
        with self._lock:
            return dict(self._rejects)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {**self._counts, "rejects_by_reason": dict(self._rejects)}

    def prometheus(self) -> str:
        lines = []
        with self._lock:
            for name, value in sorted(self._counts.items()):
                lines.append(f"# TYPE borne_{name}_total counter")
                lines.append(f"borne_{name}_total {value}")
            lines.append("# TYPE borne_rejects_by_reason_total counter")
            for reason, value in sorted(self._rejects.items()):
                lines.append(f'borne_rejects_by_reason_total{{reason="{reason}"}} {value}')
        return "\n".join(lines) + "\n"
