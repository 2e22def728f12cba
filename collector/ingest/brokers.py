"""Ingest on every broker of the service: one :class:`~collector.ingest.subscriber.Ingestor` per broker, one store.

The national deployment runs its brokers active-active (``docs/deployment.md``): a kiosk publishes on whichever
it reaches, so every collector subscribes on every broker (in the share group of each, so that the collectors
split each broker's messages). Each broker's messages are acknowledged, and their receipts published, on that
broker's connection: a receipt goes back the way its votes came, where the kiosk that sent them is connected. A
vote that reached two brokers (sent again after a failover) is stored once, by its id, and receipted on both.
"""

from __future__ import annotations

import logging

from collector.config import Settings
from collector.ingest.store import Store
from collector.ingest.subscriber import Ingestor
from collector.metrics import Metrics

_LOG = logging.getLogger(__name__)


class IngestOnBrokers:
    """Several :class:`Ingestor`, one per broker, read as one: connected while any broker is, stalled if one is."""

    def __init__(self, ingestors: list[Ingestor]) -> None:
        self.ingestors = ingestors

    def start(self) -> IngestOnBrokers:
        for ingestor in self.ingestors:
            ingestor.start()
        return self

    def wait_connected(self, timeout: float) -> bool:
        """Wait until every broker is connected (``timeout`` for each)."""
        return all([ingestor.wait_connected(timeout) for ingestor in self.ingestors])

    @property
    def connected(self) -> bool:
        """Connected to at least one broker: kiosks fail over to it, votes are counted."""
        return any(ingestor.connected for ingestor in self.ingestors)

    @property
    def brokers(self) -> dict[str, str]:
        """Each broker ("host:port") and whether it is connected."""
        return {f"{i.settings.mqtt_host}:{i.settings.mqtt_port}": "connected" if i.connected else "disconnected"
                for i in self.ingestors}

    @property
    def backlog(self) -> int:
        return sum(ingestor.backlog for ingestor in self.ingestors)

    @property
    def last_progress_s(self) -> float:
        return max(ingestor.last_progress_s for ingestor in self.ingestors)

    @property
    def stalled(self) -> bool:
        return any(ingestor.stalled for ingestor in self.ingestors)

    def close(self, timeout: float = 5.0) -> None:
        """Close every broker's ingest. Safe to call twice."""
        for ingestor in self.ingestors:
            ingestor.close(timeout)

    def __enter__(self) -> IngestOnBrokers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def ingest_for(settings: Settings, store: Store, metrics: Metrics | None = None) -> Ingestor | IngestOnBrokers:
    """The ingest ``settings`` ask for, not started: an :class:`Ingestor` on the broker, or one on each broker."""
    brokers = settings.mqtt_brokers
    if len(brokers) == 1:
        return Ingestor(settings, store, metrics)
    _LOG.info("ingesting from %d brokers: %s", len(brokers), ", ".join(f"{h}:{p}" for h, p in brokers))
    return IngestOnBrokers([Ingestor(settings.model_copy(update={"mqtt_host": host, "mqtt_port": port}), store,
                                     metrics) for host, port in brokers])
