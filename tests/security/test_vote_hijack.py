"""Vote hijack: a hostile kiosk replays an honest kiosk's vote ids under its own account, first.

A vote is its kiosk's: the key is (kiosk id, vote id). B's replays are B's own press claims, stored and counted at
B's espace (as any vote B makes up would be: B could as well draw new ids, so refusing them would protect
nothing), and they never make A's votes "duplicates": A's votes are stored at A's espace, and A's receipt says
stored only for votes stored as A's. A's own resend still counts once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from collector.ingest.store import Incoming, Store
from devtools.builders import migrated_engine, register, vote_counts, wire_batch
from protocol.codec import encode
from protocol.models import VoteBatch
from protocol.topics import TopicKind, kiosk_topic


def _message(batch: VoteBatch) -> Incoming:
    return Incoming(kiosk_topic(batch.kiosk_id, TopicKind.VOTES), encode(batch), datetime.now(UTC))


def test_a_kiosk_replaying_anothers_vote_ids_first_does_not_shadow_them(database_url: str) -> None:
    engine = migrated_engine(database_url)
    register(engine, {"k-a": ("fs-a", "22"), "k-b": ("fs-b", "29")})
    store = Store(engine)
    honest = wire_batch("k-a", [4, 4, 3, 1])
    ids = [v.id for v in honest.votes]
    hostile = VoteBatch(kiosk_id="k-b", sent_at=honest.sent_at,
                        votes=[v.model_copy(update={"answer": 1}) for v in honest.votes])
    first = store.ingest([_message(hostile)])  # B learnt A's ids and sends them first
    assert first.receipts == {"k-b": (ids, [])}
    second = store.ingest([_message(honest)])
    assert (second.stored, second.duplicates) == (4, 0)
    assert second.receipts == {"k-a": (ids, [])}
    # In one group too, and with resends: each kiosk's own resend counts once, the other's never shadows it.
    more = wire_batch("k-a", [2, 2], start_seq=5)
    stolen = VoteBatch(kiosk_id="k-b", sent_at=more.sent_at, votes=more.votes)
    both = store.ingest([_message(stolen), _message(more), _message(honest), _message(stolen)])
    assert (both.stored, both.duplicates) == (4, 6)
    assert both.receipts["k-a"][0] == [v.id for v in more.votes] + ids
    assert vote_counts(engine) == {"fs-a": 6, "fs-b": 6}
    engine.dispose()
