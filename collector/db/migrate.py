"""Alembic owns the schema: upgrading it, and refusing to run on an outdated one.

``borne collector db upgrade`` brings a database to the latest revision. The collector checks the revision at
start and refuses an outdated schema with a message saying what to run; an empty database (a first start on
embedded defaults) is created at the latest revision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

_LOG = logging.getLogger(__name__)


class SchemaOutdated(RuntimeError):
    """The database's schema is not at the code's revision."""


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "collector:migrations")
    if engine is not None:
        # Escaped for the configuration's interpolation: a URL has '%' (a quoted password, several hosts' ':').
        config.set_main_option("sqlalchemy.url",
                               engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def models_on(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic's ``include_object`` when comparing the models with a ``dialect`` database: an index the models
    create on other databases only (``Index(...).ddl_if(dialect=...)``), which the migrations leave out there too,
    is left out of the comparison."""

    def include(obj: Any, _name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
        only = getattr(obj, "_ddl_if", None)
        if type_ != "index" or reflected or only is None or only.dialect is None:
            return True
        return dialect in ((only.dialect,) if isinstance(only.dialect, str) else only.dialect)

    return include


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migration found")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the latest)."""
    config = alembic_config(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # A backfill over years of votes may take minutes: no statement timeout for this transaction.
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def ensure_current(engine: Engine, *, create_if_empty: bool = True) -> None:
    """Refuse to run on an outdated schema; create an empty database at the latest revision."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is None and create_if_empty and not inspect(engine).get_table_names():
        _LOG.info("empty database: creating the schema at revision %s", head)
        upgrade(engine)
        return
    raise SchemaOutdated(
        f"the database schema is at revision {current or 'none'}, the collector needs {head}: "
        "run 'borne collector db upgrade' (back up the database first)"
    )
