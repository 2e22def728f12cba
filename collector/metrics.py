"""Counters the collector keeps about itself, served on ``/metrics`` in Prometheus' text format."""

from __future__ import annotations

import logging
import threading
from collections import Counter

_LOG = logging.getLogger(__name__)

#: Separates a labelled counter's family, label and value in its name (never in a plain counter's name).
_LABELLED = "|"


class Metrics:
    """Thread-safe named counters, some with a ``reason`` label.

    Counters of other processes (the ingest workers, ``collector/ingest/workers.py``) are added in with
    :meth:`absorb`: each source's latest totals replace its previous ones, and every read sums them with ours.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._own: Counter[str] = Counter()
        self._own_rejects: Counter[str] = Counter()
        self._sources: dict[str, tuple[Counter[str], Counter[str]]] = {}
        self._counts = self._own
        self._rejects = self._own_rejects

    def inc(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._own[name] += n
            if self._sources:
                self._counts[name] += n

    def inc_labelled(self, family: str, label: str, value: str, n: int = 1) -> None:
        """Add to ``borne_<family>_total{<label>="<value>"}`` (kept among the counters, so workers report it)."""
        self.inc(f"{family}{_LABELLED}{label}{_LABELLED}{value}", n)

    def reject(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self._own_rejects[reason] += n
            self._own["rejects"] += n
            if self._sources:
                self._rejects[reason] += n
                self._counts["rejects"] += n

    def absorb(self, source: str, counts: Counter[str], rejects: Counter[str]) -> None:
        """Take ``source``'s totals (another process' counters), replacing what it reported before."""
        with self._lock:
            self._sources[source] = (Counter(counts), Counter(rejects))
            self._counts = self._own.copy()
            self._rejects = self._own_rejects.copy()
            for other_counts, other_rejects in self._sources.values():
                self._counts.update(other_counts)
                self._rejects.update(other_rejects)

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """This process' own counters and rejects by reason (what a worker reports)."""
        with self._lock:
            return dict(self._own), dict(self._own_rejects)

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
            labelled: dict[str, list[str]] = {}
            for name, value in sorted(self._counts.items()):
                if _LABELLED in name:
                    family, label, label_value = name.split(_LABELLED, 2)
                    labelled.setdefault(family, []).append(f'borne_{family}_total{{{label}="{label_value}"}} {value}')
                    continue
                lines.append(f"# TYPE borne_{name}_total counter")
                lines.append(f"borne_{name}_total {value}")
            for family, samples in labelled.items():
                lines.append(f"# TYPE borne_{family}_total counter")
                lines.extend(samples)
            lines.append("# TYPE borne_rejects_by_reason_total counter")
            for reason, value in sorted(self._rejects.items()):
                lines.append(f'borne_rejects_by_reason_total{{reason="{reason}"}} {value}')
        return "\n".join(lines) + "\n"


def gauges(values: dict[str, float]) -> str:
    """Gauges in Prometheus' text format, ``borne_`` prefixed (values read at the request, not counted)."""
    lines = []
    for name, value in values.items():
        lines.append(f"# TYPE borne_{name} gauge")
        lines.append(f"borne_{name} {value}")
    return "\n".join(lines) + "\n"
