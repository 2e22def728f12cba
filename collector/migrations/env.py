"""Alembic environment: runs migrations on the connection or URL that :mod:`collector.db.migrate` gives."""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy import Connection

from collector.db.engine import make_engine
from collector.db.migrate import models_on
from collector.db.models import Base

_LOG = logging.getLogger(__name__)

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
        include_object=models_on(connection.dialect.name),  # an index made on PostgreSQL only, say
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
