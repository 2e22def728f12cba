"""votes: without the unread ix_votes_kiosk_seq index and without per-row foreign key checks

``votes`` is the append-only table of the vote's path, written by one code path (``collector/ingest/store.py``) that
takes each vote's kiosk and espace from the ``kiosks`` and ``espaces`` rows it reads in the same transaction;
kiosks and espaces are never deleted (revoked, closed). The foreign keys only re-checked that for every row, at
a price: on PostgreSQL each one is a trigger per inserted row (``bench/ingest.py``: COPY of 100,000 votes 1.39 s
with them, 0.73 s without). No query reads votes by kiosk and sequence number; SQLite inserts about 15 % more
votes a second without that index ("sqlite3 alone", medians of 3: 67k -> 81k votes/s).

Revision ID: i4votesidx
Revises: i4areas
Create Date: 2026-11-23 15:30:00
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

_LOG = logging.getLogger(__name__)

revision = "i4votesidx"
down_revision = "i4areas"
branch_labels = None
depends_on = None

#: Names for SQLite's unnamed foreign keys while the table is copied (Alembic's batch mode).
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_FOREIGN_KEYS = (("kiosk_id", "kiosks"), ("espace_id", "espaces"))


def upgrade() -> None:
    op.drop_index("ix_votes_kiosk_seq", table_name="votes")
    bind = op.get_bind()
    # Unnamed (as 0001 made them) or named (after a downgrade): SQLite gets the convention's name for the former.
    names = [fk["name"] or f"fk_votes_{fk['constrained_columns'][0]}_{fk['referred_table']}"
             for fk in sa.inspect(bind).get_foreign_keys("votes")]
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("votes", naming_convention=_NAMING) as batch:
            for name in names:
                batch.drop_constraint(name, type_="foreignkey")
        return
    for name in names:
        op.drop_constraint(name, "votes", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("votes") as batch:
        for column, table in _FOREIGN_KEYS:
            batch.create_foreign_key(f"votes_{column}_fkey", table, [column], ["id"])
    op.create_index("ix_votes_kiosk_seq", "votes", ["kiosk_id", "seq"])
