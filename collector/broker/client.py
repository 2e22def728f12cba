"""The collector's MQTT clients, set up in one place: the only module of the collector that imports paho-mqtt.

Every client the collector opens (the ingest subscribers, the accounts' dynamic-security exchange, the remote
configuration's publisher) comes from :func:`new_client`: paho's callback API version 2, the protocol version,
the session, the credentials and TLS (certificates verified) set the same way. The names the callers annotate
with (``Client``, ``MQTTMessage``, ...) are re-exported from here, so that ``import-linter``'s contract
"only collector.broker.client imports paho" holds (``docs/architecture.md``).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from paho.mqtt.client import Client, ConnectFlags, MQTTMessage, MQTTv5, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["Client", "ConnectFlags", "MQTTMessage", "MQTTv5", "MQTTv311", "PacketTypes", "Properties",
           "new_client"]

_LOG = logging.getLogger(__name__)


def new_client(client_id: str, *, username: str | None = None, password: str | None = None, tls: bool = False,
               ca_file: str | Path | None = None, mqtt5: bool = False, clean_session: bool | None = None,
               manual_ack: bool = False) -> Client:
    """A paho client (callback API 2), MQTT 5 or 3.1.1, with its credentials and TLS; not connected yet.

    ``clean_session`` applies to MQTT 3.1.1 only (MQTT 5 sets its clean start when connecting); ``manual_ack``
    leaves the acknowledgements to the caller (the ingest acknowledges only what it committed).
    """
    if mqtt5:
        client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTv5, manual_ack=manual_ack)
    else:
        client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTv311,
                        clean_session=clean_session, manual_ack=manual_ack)
    if username:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set(ca_certs=str(ca_file) if ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
    return client
