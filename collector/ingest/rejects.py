"""Rejects: a message that cannot be counted is kept with its reason, within its kiosk's budget.

Every reject is counted (and its votes put in its kiosk's receipt, so that the kiosk stops resending them); it is
kept in the ``rejects`` table with its payload (truncated to :data:`REJECT_PAYLOAD_KEEP`) only while its kiosk's
budget allows (:mod:`collector.ingest.reject_budget`), so that a kiosk sending bad messages cannot fill the disk.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from collector.db.models import Reject
from collector.ingest.messages import Incoming, Outcome, Rejected
from collector.ingest.reject_budget import NO_KIOSK, RejectBudget

_LOG = logging.getLogger(__name__)

REJECT_PAYLOAD_KEEP = 64 * 1024
#: Reasons whose message was valid (or may hold valid votes): kept whole (at most the protocol's 256 KiB), so that
#: its votes can be replayed once the cause is found. A receipt tells the kiosk to forget them.
KEPT_WHOLE = frozenset({"store-failed", "vote-before-registration", "vote-in-future", "unknown-kiosk",
                        "revoked-kiosk"})
#: Rejects kept per kiosk a minute unless told (``Settings.rejects_per_kiosk_per_minute``).
DEFAULT_REJECTS_PER_MINUTE = 60.0


def keep_reject(session: Session, message: Incoming, rejected: Rejected, outcome: Outcome,
                budget: RejectBudget) -> None:
    """Count a reject; keep it in ``rejects``, its votes in the kiosk's receipt (the kiosk then forgets them),
    if its kiosk's budget allows (:mod:`collector.ingest.reject_budget`). Beyond the budget it is only counted and
    logged (at warning level once a minute a kiosk), and its votes are left out of the receipt: a vote the
    collector keeps nothing of must stay on its kiosk, which sends it again later, when the budget has refilled."""
    key = rejected.kiosk_id or NO_KIOSK
    outcome.rejected[rejected.reason] += 1
    if budget.available(key) - outcome.kept_by_kiosk[key] < 1:
        outcome.unkept[rejected.reason] += 1
        level = logging.WARNING if budget.should_warn(key) else logging.DEBUG
        _LOG.log(level, "rejected a message on %s: %s %s; not kept: kiosk %r is over its %g rejects a "
                 "minute (counted in borne_rejects_dropped_total; its votes stay on the kiosk)",
                 message.topic[:200], rejected.reason, rejected.detail[:200], key, budget.per_minute)
        return
    if rejected.kiosk_id and rejected.vote_ids:
        outcome.receipts.setdefault(rejected.kiosk_id, ([], []))[1].extend(rejected.vote_ids)
    _LOG.warning("rejected a message on %s: %s %s", message.topic[:200], rejected.reason,
                 rejected.detail[:200])
    session.add(Reject(
        received_at=message.received_at,
        topic=message.topic[:255],
        kiosk_id=rejected.kiosk_id,
        reason=rejected.reason,
        detail=rejected.detail[:2000],
        payload_size=len(message.payload),
        payload=message.payload if rejected.reason in KEPT_WHOLE else message.payload[:REJECT_PAYLOAD_KEEP],
    ))
    outcome.kept_by_kiosk[key] += 1
