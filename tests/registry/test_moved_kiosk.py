"""A kiosk moved to another espace keeps its past votes, and their KPIs, at the espace where they were cast."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from collector.db.engine import session_factory
from collector.ingest.store import Incoming, Store
from collector.kpi import indicators
from collector.kpi.selection import Selection
from collector.registry.espaces import add_espace, add_kiosk, move_kiosk
from devtools.builders import migrated_engine, vote_counts, wire_batch
from protocol.topics import TopicKind, kiosk_topic


def test_moved_kiosk_keeps_past_votes_at_the_old_espace(database_url: str) -> None:
    engine = migrated_engine(database_url)
    try:
        installed, moved_at = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, 12, tzinfo=UTC)
        with session_factory(engine)() as session, session.begin():
            add_espace(session, "fs-old", "France services ancienne", "22")
            add_espace(session, "fs-new", "France services nouvelle", "2A")
            add_kiosk(session, "k-1", "fs-old", now=installed)
            session.flush()
            move_kiosk(session, "k-1", "fs-new", now=moved_at)
        store = Store(engine)
        before = wire_batch("k-1", [4, 4, 1], ts=moved_at - timedelta(days=1))  # cast before the move
        after = wire_batch("k-1", [1, 1], ts=moved_at + timedelta(days=1), start_seq=4)
        # Both arrive after the move, the older one last (a kiosk that was offline).
        for batch in (after, before):
            store.ingest([Incoming(kiosk_topic("k-1", TopicKind.VOTES), batch.model_dump_json().encode(),
                                   datetime.now(UTC))])
        assert vote_counts(engine) == {"fs-old": 3, "fs-new": 2}
        with session_factory(engine)() as session:
            old = indicators.satisfaction(session, Selection.make(session, "espace", "fs-old"), "day")
            new = indicators.satisfaction(session, Selection.make(session, "espace", "fs-new"), "day")
            corsica = indicators.satisfaction(session, Selection.make(session, "departement", "2A"), "day")
        assert (old.total["votes"], old.total["satisfied"]) == (3, 2)
        assert list(old.series["period"]) == [date(2024, 2, 29)]
        assert (new.total["votes"], new.total["satisfied"]) == (2, 0)
        assert corsica.total["votes"] == 2
    finally:
        engine.dispose()
