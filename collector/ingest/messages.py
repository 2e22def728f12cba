"""What the store takes and gives back: a message as received, a group's outcome, a message refused.

A message refused (:class:`Rejected`) is never an error of the group: it becomes one reject, its votes in its
kiosk's receipt, and the other messages of the group are applied as if it had not been there.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One MQTT message as the subscriber received it."""

    topic: str
    payload: bytes
    received_at: datetime



@dataclass
class Outcome:
    """What a group of messages did. ``receipts`` maps a kiosk to (stored ids, rejected ids)."""

    stored: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    receipts: dict[str, tuple[list[uuid.UUID], list[uuid.UUID]]] = field(default_factory=dict)
    #: Rejects counted but not kept (over their kiosk's budget), by reason; and rejects kept, per kiosk.
    unkept: Counter[str] = field(default_factory=Counter)
    kept_by_kiosk: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Outcome) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected.update(other.rejected)
        self.unkept.update(other.unkept)
        self.kept_by_kiosk.update(other.kept_by_kiosk)
        for kiosk, (stored, rejected) in other.receipts.items():
            mine = self.receipts.setdefault(kiosk, ([], []))
            mine[0].extend(stored)
            mine[1].extend(rejected)


class Rejected(Exception):
    """A message (or some of its votes) that cannot be counted: its reason, for the ``rejects`` table."""

    def __init__(self, reason: str, detail: str = "", kiosk_id: str | None = None,
                 vote_ids: Sequence[uuid.UUID] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.kiosk_id = kiosk_id
        self.vote_ids = list(vote_ids)
