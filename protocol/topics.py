"""MQTT topic names, versioned under ``fs/v1``.

A kiosk publishes under ``fs/v1/kiosks/<its id>/`` and nowhere else; the broker's ACL enforces it.

======================================  ==================  ====  ========
topic                                   direction           QoS   retained
======================================  ==================  ====  ========
``fs/v1/kiosks/{id}/votes``             kiosk -> collector  1     no
``fs/v1/kiosks/{id}/status``            kiosk -> collector  1     yes (Last Will: ``offline``)
``fs/v1/kiosks/{id}/telemetry``         kiosk -> collector  0     no
``fs/v1/kiosks/{id}/receipts``          collector -> kiosk  1     no
``fs/v1/kiosks/{id}/config``            collector -> kiosk  1     yes
``fs/v1/kiosks/{id}/selftest``          kiosk -> collector  1     yes
``fs/v1/kiosks/{id}/release``           collector -> kiosk  1     yes
======================================  ==================  ====  ========
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass

_LOG = logging.getLogger(__name__)

ROOT = "fs/v1"
KIOSK_ID_PATTERN = r"[a-z0-9][a-z0-9-]{1,62}"
_KIOSK_ID_RE = re.compile(KIOSK_ID_PATTERN)


class TopicKind(enum.StrEnum):
    """The last level of a kiosk topic."""

    VOTES = "votes"
    STATUS = "status"
    TELEMETRY = "telemetry"
    RECEIPTS = "receipts"
    CONFIG = "config"
    SELFTEST = "selftest"
    RELEASE = "release"


def valid_kiosk_id(kiosk_id: str) -> bool:
    """Kiosk ids are lower-case letters, digits and dashes: safe in a topic, a file name and a URL."""
    # fullmatch: with ``match`` and ``$``, an id with a trailing newline would pass.
    return isinstance(kiosk_id, str) and _KIOSK_ID_RE.fullmatch(kiosk_id) is not None


def kiosk_client_id(kiosk_id: str) -> str:
    """The MQTT client id of a kiosk: fixed, and bound to its account by the broker (a kiosk's credentials
    connect with this client id and no other)."""
    if not valid_kiosk_id(kiosk_id):
        raise ValueError(f"invalid kiosk id {kiosk_id!r}: expected {KIOSK_ID_PATTERN}")
    return f"kiosk-{kiosk_id}"


def kiosk_topic(kiosk_id: str, kind: TopicKind) -> str:
    if not valid_kiosk_id(kiosk_id):
        raise ValueError(f"invalid kiosk id {kiosk_id!r}: expected {KIOSK_ID_PATTERN}")
    return f"{ROOT}/kiosks/{kiosk_id}/{kind.value}"


def kiosk_filter(kind: TopicKind) -> str:
    """The subscription filter that matches ``kind`` for every kiosk."""
    return f"{ROOT}/kiosks/+/{kind.value}"


def shared(filter_: str, group: str | None) -> str:
    """``$share/<group>/<filter>`` when a group is given, so that several collectors split the load."""
    return f"$share/{group}/{filter_}" if group else filter_


@dataclass(frozen=True, slots=True)
class KioskTopic:
    """A parsed kiosk topic."""

    kiosk_id: str
    kind: TopicKind

    @classmethod
    def parse(cls, topic: str) -> KioskTopic | None:
        """Parse ``fs/v1/kiosks/<id>/<kind>``; ``None`` for anything else."""
        parts = topic.split("/")
        if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != ROOT or parts[2] != "kiosks":
            return None
        if not valid_kiosk_id(parts[3]):
            return None
        try:
            kind = TopicKind(parts[4])
        except ValueError:
            return None
        return cls(parts[3], kind)

    def __str__(self) -> str:
        return kiosk_topic(self.kiosk_id, self.kind)
