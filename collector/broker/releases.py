"""The desired release of each kiosk, retained on ``fs/v1/kiosks/{id}/release``: the collector's side.

As :mod:`collector.broker.remote_config` does for configurations: a :class:`~protocol.models.DesiredRelease`
published *retained* (QoS 1) on each kiosk's topic, so that a kiosk away for months gets it at its next
connection; an empty retained message clears it (the kiosk keeps what it runs). Published by
:mod:`collector.broker.publisher` (its own short connections and account, on every broker), for the command line
and the API, apart from the ingest's long-lived client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from collector.broker.publisher import publish_retained
from collector.config import Settings
from protocol.codec import encode
from protocol.models import DesiredRelease
from protocol.topics import TopicKind, kiosk_topic

_LOG = logging.getLogger(__name__)


def publish(settings: Settings, desired: Mapping[str, DesiredRelease | None], timeout: float = 10.0) -> None:
    """Publish each kiosk's desired release retained (``None``: clear it); returns once the brokers have them."""
    publish_retained(settings, {kiosk_topic(kiosk_id, TopicKind.RELEASE): encode(release) if release else b""
                                for kiosk_id, release in desired.items()}, "desired release", timeout)
    _LOG.info("desired release published to %d kiosks", len(desired))
