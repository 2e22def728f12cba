"""The desired release of each kiosk, retained on ``fs/v1/kiosks/{id}/release``: the collector's side.

As :mod:`collector.broker.remote_config` does for configurations: a :class:`~protocol.models.DesiredRelease`
published *retained* (QoS 1) on each kiosk's topic, so that a kiosk away for months gets it at its next
connection; an empty retained message clears it (the kiosk keeps what it runs). A short MQTT connection of its
own, used by the command line and the API, apart from the ingest's long-lived client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from collector.broker.remote_config import PublishFailed, _client, _connected
from collector.config import Settings
from protocol.codec import encode
from protocol.models import DesiredRelease
from protocol.topics import TopicKind, kiosk_topic

_LOG = logging.getLogger(__name__)


def publish(settings: Settings, desired: Mapping[str, DesiredRelease | None], timeout: float = 10.0) -> None:
    """Publish each kiosk's desired release retained (``None``: clear it); returns once the broker has them."""
    client = _connected(_client(settings), settings)
    client.loop_start()
    try:
        infos = [client.publish(kiosk_topic(kiosk_id, TopicKind.RELEASE), encode(release) if release else b"",
                                qos=1, retain=True)
                 for kiosk_id, release in desired.items()]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise PublishFailed("the broker did not acknowledge the desired release in time")
    finally:
        client.disconnect()
        client.loop_stop()
    _LOG.info("desired release published to %d kiosks", len(infos))
