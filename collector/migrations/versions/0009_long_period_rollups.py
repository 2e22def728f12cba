"""Long-period rollups: rollup_monthly and rollup_yearly (per espace), rollup_national_hourly

Filled from the per-espace daily and hourly rollups already stored, as ingest keeps them from now on.

Revision ID: tglongrollups
Revises: tfstaffoidc
Create Date: 2026-12-01 20:00:00
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from collector.ingest.rollups import long_period_backfill

_LOG = logging.getLogger(__name__)

revision = "tglongrollups"
down_revision = "tfstaffoidc"
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
    for name, unit in (("rollup_monthly", "month"), ("rollup_yearly", "year")):
        op.create_table(
            name,
            sa.Column("espace_id", sa.String(length=32), nullable=False),
            sa.Column(unit, sa.Date(), nullable=False),
            *_counted_columns(),
            sa.ForeignKeyConstraint(["espace_id"], ["espaces.id"]),
            sa.PrimaryKeyConstraint("espace_id", unit, "scale", "answer", "misuse"),
        )
    op.create_table(
        "rollup_national_hourly",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        *_counted_columns(),
        sa.PrimaryKeyConstraint("day", "hour", "scale", "answer", "misuse"),
    )
    for statement in long_period_backfill(op.get_bind().dialect.name == "postgresql"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("rollup_national_hourly")
    op.drop_table("rollup_yearly")
    op.drop_table("rollup_monthly")
