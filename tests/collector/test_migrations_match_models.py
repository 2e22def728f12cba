"""Alembic owns the schema: upgrading an empty database gives exactly the tables the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from collector.db.models import Base
from tests.utils.builders import migrated_engine


def test_migrations_create_the_models_schema(database_url: str) -> None:
    engine = migrated_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == [], diff
    finally:
        engine.dispose()
