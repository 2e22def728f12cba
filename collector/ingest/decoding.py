"""Decoding a message: its topic says what it must be, the protocol's models say whether it is.

A message is decoded by the model its topic names (votes, status, telemetry, self-test) and nothing else; a
topic the collector does not take, a payload the protocol refuses, or a vote batch naming another kiosk than its
topic are refused with their reason (:class:`~collector.ingest.messages.Rejected`), never raised to the group.
"""

from __future__ import annotations

import logging
from typing import Any

from collector.ingest.messages import Incoming, Rejected
from protocol.codec import decode
from protocol.errors import ProtocolError
from protocol.models import SelfTestReport, StatusMessage, Telemetry, VoteBatch
from protocol.topics import KioskTopic, TopicKind

_LOG = logging.getLogger(__name__)


def decode_message(topic: KioskTopic | None, message: Incoming) -> Any:
    if topic is None:
        raise Rejected("bad-topic", message.topic[:200])
    model: type[VoteBatch] | type[StatusMessage] | type[Telemetry] | type[SelfTestReport]
    if topic.kind is TopicKind.VOTES:
        model = VoteBatch
    elif topic.kind is TopicKind.STATUS:
        model = StatusMessage
    elif topic.kind is TopicKind.TELEMETRY:
        model = Telemetry
    elif topic.kind is TopicKind.SELFTEST:
        model = SelfTestReport
    else:
        raise Rejected("bad-topic", f"collectors do not take {topic.kind.value}", topic.kiosk_id)
    try:
        body = decode(model, message.payload)
    except ProtocolError as exc:
        raise Rejected(exc.reason, exc.detail, topic.kiosk_id) from None
    if isinstance(body, VoteBatch) and body.kiosk_id != topic.kiosk_id:
        raise Rejected("kiosk-mismatch", f"payload says {body.kiosk_id}, topic says {topic.kiosk_id}",
                        topic.kiosk_id, [v.id for v in body.votes])
    return body
