"""Département rollups of hours and months: rollup_departement_hourly, rollup_departement_monthly

Filled from the per-espace hourly rollup and the département daily one already stored, as ingest keeps them from
now on.

Revision ID: thdephours
Revises: tglongrollups
Create Date: 2026-12-01 21:00:00
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from collector.ingest.rollups import departement_hours_months_backfill

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
    for statement in departement_hours_months_backfill(op.get_bind().dialect.name == "postgresql"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("rollup_departement_monthly")
    op.drop_table("rollup_departement_hourly")
