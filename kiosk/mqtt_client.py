"""The kiosk's MQTT client, set up in one place: the only module of the kiosk that imports paho-mqtt.

Both connections a kiosk opens (the uplink's, :mod:`kiosk.uplink`, and the self-test's short one,
:mod:`kiosk.selftest`) come from :func:`new_client`: paho's callback API version 2, MQTT 3.1.1 with a clean
session (paho keeps its session in memory only; the outbox is the kiosk's durable state), the kiosk's own client id
(the only one its account may use), its credentials and TLS with the broker's certificate verified. The names the
callers annotate with are re-exported from here; ``tests/test_architecture.py`` holds the kiosk to it, as it holds
the collector to :mod:`collector.broker.client`.
"""

from __future__ import annotations

import logging
import ssl

from paho.mqtt.client import MQTT_ERR_SUCCESS, Client, MQTTMessage, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion

from kiosk.config import BrokerConfig
from protocol.topics import kiosk_client_id

__all__ = ["MQTT_ERR_SUCCESS", "Client", "MQTTMessage", "new_client"]

_LOG = logging.getLogger(__name__)


def new_client(kiosk_id: str, broker: BrokerConfig) -> Client:
    """A paho client for ``kiosk_id`` on ``broker`` (credentials, TLS), not connected yet.

    Raises :class:`OSError` or :class:`ssl.SSLError` when TLS cannot be set up (a missing or unreadable
    ``ca_file``).
    """
    client = Client(CallbackAPIVersion.VERSION2, client_id=kiosk_client_id(kiosk_id), clean_session=True,
                    protocol=MQTTv311)
    if broker.username:
        client.username_pw_set(broker.username, broker.password.get_secret_value() if broker.password else None)
    if broker.tls:
        client.tls_set(ca_certs=str(broker.ca_file) if broker.ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
    return client
