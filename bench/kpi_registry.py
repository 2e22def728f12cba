"""Importing the real ANCT list (2,845 rows), and KPI queries over a national year of rollups, on SQLite.

Prints medians. The list is read from the shared data folder (never copied into the repository); the benchmark
is skipped without it.
"""

from __future__ import annotations

import logging
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from collector.db.engine import make_engine, session_factory
from collector.db.migrate import upgrade
from collector.db.models import DailyRollup, Espace
from collector.ingest.rollups import BACKFILL, departement_hours_months_backfill, long_period_backfill
from collector.kpi import indicators
from collector.kpi.selection import Selection
from collector.registry.espaces_import import import_espaces

_LOG = logging.getLogger(__name__)

LIST = Path("/work/shared/data/france-services/liste-fs-20240801.csv")


def _timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def main(quick: bool = False) -> None:
    if not LIST.exists():
        print(f"skipped: {LIST} not found")
        return
    data = LIST.read_bytes()
    runs = 3 if quick else 5
    first, again = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            engine = make_engine(f"sqlite:///{tmp}/import-{i}.sqlite3")
            upgrade(engine)
            sessions = session_factory(engine)

            def once(sessions: sessionmaker[Session] = sessions) -> None:
                with sessions() as session, session.begin():
                    import_espaces(session, data)

            first.append(_timed(once))
            again.append(_timed(once))
            engine.dispose()
        print(f"espaces import, 2,845 rows, fresh SQLite (commit included): median {statistics.median(first):.3f} s")
        print(f"espaces re-import, nothing changed:                        median {statistics.median(again):.3f} s")

        engine = make_engine(f"sqlite:///{tmp}/kpi.sqlite3")
        upgrade(engine)
        sessions = session_factory(engine)
        with sessions() as session, session.begin():
            import_espaces(session, data)
        with sessions() as session:
            ids = list(session.scalars(select(Espace.id)))
        days = 30 if quick else 365
        rng = random.Random(1)
        rows = [
            {"espace_id": e, "day": date(2024, 1, 1) + timedelta(days=d), "scale": 4, "answer": a, "misuse": False,
             "votes": rng.randint(1, 9)}
            for e in ids for d in range(0, days, 3) for a in (2, 3, 4)
        ]
        with engine.begin() as conn:
            conn.execute(insert(DailyRollup), rows)
            for statement in (*BACKFILL, *long_period_backfill(postgres=False),  # what ingest keeps with them
                              *departement_hours_months_backfill(postgres=False)):
                conn.execute(text(statement))
        print(f"rollup_daily: {len(rows)} rows ({len(ids)} espaces, {days} days, one day in three)")
        with sessions() as session:
            cases = {
                "satisfaction national, monthly": lambda: indicators.satisfaction(session, Selection(), "month"),
                "satisfaction one département, weekly": lambda: indicators.satisfaction(
                    session, Selection.make(session, "departement", "22"), "week"),
                "ranking national (all espaces)": lambda: indicators.ranking(session, Selection()),
            }
            for name, fn in cases.items():
                times = [_timed(fn) for _ in range(runs)]
                print(f"{name:40s} median {statistics.median(times):.3f} s")
        engine.dispose()
