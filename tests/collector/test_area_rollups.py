"""The département and national rollups equal ``rollup_daily`` summed by the espaces' départements."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from collector.db.engine import session_factory
from collector.ingest.store import Incoming, Store
from collector.kpi import indicators
from collector.kpi.selection import Selection
from collector.registry.espaces import add_espace, add_kiosk, move_kiosk
from devtools.builders import migrated_engine, wire_batch
from protocol.models import FollowUp
from protocol.topics import TopicKind, kiosk_topic


def _rows(engine: Engine, sql: str) -> Counter[tuple[object, ...]]:
    with engine.connect() as conn:
        return Counter({tuple(str(v) for v in r[:-1]): int(r[-1]) for r in conn.execute(text(sql))})


def test_area_rollups_equal_the_espace_rollup_summed(database_url: str) -> None:
    engine = migrated_engine(database_url)
    try:
        installed, moved_at = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, 12, tzinfo=UTC)
        with session_factory(engine)() as session, session.begin():
            add_espace(session, "fs-brest", "France services Brest", "29")
            add_espace(session, "fs-quimper", "France services Quimper", "29")
            add_espace(session, "fs-ajaccio", "France services Ajaccio", "2A")
            add_espace(session, "fs-lyon", "France services Lyon", "69")
            add_kiosk(session, "k-brest", "fs-brest", now=installed)
            add_kiosk(session, "k-quimper", "fs-quimper", now=installed)
            add_kiosk(session, "k-moved", "fs-lyon", now=installed)
            session.flush()
            move_kiosk(session, "k-moved", "fs-ajaccio", now=moved_at)  # from 69 to 2A
        store = Store(engine)
        day = timedelta(days=1)
        batches = [
            wire_batch("k-brest", [4, 4, 1, 3], ts=moved_at - day),
            wire_batch("k-quimper", [2, 4], ts=moved_at - day),
            wire_batch("k-moved", [1, 4, 4], ts=moved_at + day, start_seq=10),  # at Ajaccio
            wire_batch("k-moved", [4, 2], ts=moved_at - day),  # cast at Lyon, received after the move
            wire_batch("k-brest", [4], ts=moved_at + day, start_seq=5),
        ]
        for batch, i, answer in ((batches[0], 0, "yes"), (batches[2], 0, "no"), (batches[3], 1, None)):
            batch.votes[i] = batch.votes[i].model_copy(update={"followup": FollowUp(answer=answer)})
        for batch in batches:
            store.ingest([Incoming(kiosk_topic(batch.kiosk_id, TopicKind.VOTES), batch.model_dump_json().encode(),
                                   datetime.now(UTC))])
        store.ingest([Incoming(kiosk_topic("k-brest", TopicKind.VOTES), batches[0].model_dump_json().encode(),
                               datetime.now(UTC))])  # a resend counts once, in every rollup

        keys = "r.day, r.scale, r.answer, r.misuse"
        by_dep = _rows(engine, f"SELECT e.departement, {keys}, sum(r.votes) FROM rollup_daily r "  # noqa: S608
                               f"JOIN espaces e ON e.id = r.espace_id GROUP BY e.departement, {keys}")
        assert by_dep == _rows(engine, "SELECT departement, day, scale, answer, misuse, votes "
                                       "FROM rollup_departement_daily")
        assert {k[0] for k in by_dep} == {"29", "2A", "69"}
        assert sum(n for k, n in by_dep.items() if k[0] == "69") == 2  # the moved kiosk's vote before the move
        national = Counter[tuple[object, ...]]()
        for (_, *key), n in by_dep.items():
            national[tuple(key)] += n
        assert national == _rows(engine, "SELECT day, scale, answer, misuse, votes FROM rollup_national_daily")
        assert sum(national.values()) == 12

        keys += ", r.followup"
        follow = _rows(engine, f"SELECT e.departement, {keys}, sum(r.votes) FROM rollup_followup_daily r "  # noqa: S608
                               f"JOIN espaces e ON e.id = r.espace_id GROUP BY e.departement, {keys}")
        assert follow == _rows(engine, "SELECT departement, day, scale, answer, misuse, followup, votes "
                                       "FROM rollup_departement_followup_daily")
        assert sum(follow.values()) == 3
        national_follow = Counter[tuple[object, ...]]()
        for (_, *key), n in follow.items():
            national_follow[tuple(key)] += n
        assert national_follow == _rows(engine, "SELECT day, scale, answer, misuse, followup, votes "
                                                "FROM rollup_national_followup_daily")

        # The area rollups and the espace rollup give the same KPIs (a format filter reads the espace rollup).
        with session_factory(engine)() as session:
            for level, code in (("national", None), ("region", "53"), ("departement", "2A"),
                                ("departement", "69")):
                selection = Selection.make(session, level, code)
                area = indicators.satisfaction(session, selection, "day")
                espace = indicators.satisfaction(session, Selection.make(session, level, code,
                                                                         espace_format=None, kind="Principal"),
                                                 "day")
                assert area.total == espace.total
                assert area.series.equals(espace.series)
    finally:
        engine.dispose()
