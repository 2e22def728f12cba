"""The contract between kiosks and collectors: MQTT topics, payload models and answer scales.

Everything that crosses the wire is defined here, and only here. Kiosks and collectors import this package;
it imports neither of them.
"""

from protocol.models import (
    MAX_PAYLOAD_BYTES,
    MAX_VOTES_PER_BATCH,
    PROTOCOL_VERSION,
    Receipt,
    Status,
    StatusMessage,
    Telemetry,
    Vote,
    VoteBatch,
)
from protocol.scales import Scale, scale_for
from protocol.topics import KioskTopic, TopicKind

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_VOTES_PER_BATCH",
    "PROTOCOL_VERSION",
    "KioskTopic",
    "Receipt",
    "Scale",
    "Status",
    "StatusMessage",
    "Telemetry",
    "TopicKind",
    "Vote",
    "VoteBatch",
    "scale_for",
]
