"""Migration i5kpi fills the hourly and follow-up rollups from the votes already stored, as ingest would."""

from __future__ import annotations

import importlib

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from devtools.builders import migrated_engine
from tests.kpi.fleet import build

MIGRATION = importlib.import_module("collector.migrations.versions.0002_kpi_activity_users_alerts")


def _rows(engine: Engine, table: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return sorted(tuple(str(v) for v in r) for r in conn.execute(text(f"SELECT * FROM {table}")))  # noqa: S608


def test_backfill_matches_ingest(database_url: str) -> None:
    engine = migrated_engine(database_url)
    try:
        build(engine, n=400)
        hourly, followups = _rows(engine, "rollup_hourly"), _rows(engine, "rollup_followup_daily")
        assert hourly and followups
        with engine.begin() as conn:  # as if the votes had been stored before the migration
            conn.execute(text("DELETE FROM rollup_hourly"))
            conn.execute(text("DELETE FROM rollup_followup_daily"))
            with Operations.context(MigrationContext.configure(conn)):
                MIGRATION._backfill_rollups()
        assert _rows(engine, "rollup_hourly") == hourly
        assert _rows(engine, "rollup_followup_daily") == followups
    finally:
        engine.dispose()
