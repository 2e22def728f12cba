"""The dashboard's default view and areas: rollup_weekly (per espace), rollup_departement_hourly,
rollup_departement_monthly

Filled from the daily and hourly rollups already stored, as ingest keeps them from now on.

Revision ID: thdephours
Revises: tglongrollups
Create Date: 2026-12-01 21:00:00
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from collector.ingest.rollups import weekly_and_departement_backfill

_LOG = logging.getLogger(__name__)

revision = "thdephours"
down_revision = "tglongrollups"
branch_labels = None
depends_on = None

# The backfill is the rollups' own definition (also used by bench/kpi_queries.py).


def _counted_columns() -> list[sa.Column]:
    return [
        sa.Column("scale", sa.SmallInteger(), nullable=False),
        sa.Column("answer", sa.SmallInteger(), nullable=False),
        sa.Column("misuse", sa.Boolean(), nullable=False),
        sa.Column("votes", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_weekly",
        sa.Column("espace_id", sa.String(length=32), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        *_counted_columns(),
        sa.ForeignKeyConstraint(["espace_id"], ["espaces.id"]),
        sa.PrimaryKeyConstraint("espace_id", "week", "scale", "answer", "misuse"),
    )
    op.create_table(
        "rollup_departement_hourly",
        sa.Column("departement", sa.String(length=3), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        *_counted_columns(),
        sa.PrimaryKeyConstraint("departement", "day", "hour", "scale", "answer", "misuse"),
    )
    op.create_table(
        "rollup_departement_monthly",
        sa.Column("departement", sa.String(length=3), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *_counted_columns(),
        sa.PrimaryKeyConstraint("departement", "month", "scale", "answer", "misuse"),
    )
    for statement in weekly_and_departement_backfill(op.get_bind().dialect.name == "postgresql"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("rollup_departement_monthly")
    op.drop_table("rollup_departement_hourly")
    op.drop_table("rollup_weekly")
