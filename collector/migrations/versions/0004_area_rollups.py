"""Area rollups: rollup_departement_daily, rollup_departement_followup_daily, rollup_national_daily,
rollup_national_followup_daily

Filled from the espace rollups already stored, each espace's counts going to its département.

Revision ID: i4areas
Revises: i7selftest
Create Date: 2026-11-23 14:20:00
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from collector.ingest.rollups import BACKFILL

_LOG = logging.getLogger(__name__)

revision = "i4areas"
down_revision = "i7selftest"
branch_labels = None
depends_on = None

_KEYS = ("day", "scale", "answer", "misuse")

# The backfill is the rollups' own definition (also used by bench/kpi_queries.py).


def _key_columns() -> list[sa.Column]:
    return [
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scale", sa.SmallInteger(), nullable=False),
        sa.Column("answer", sa.SmallInteger(), nullable=False),
        sa.Column("misuse", sa.Boolean(), nullable=False),
    ]


def upgrade() -> None:
    for departement in (True, False):
        for followup in (False, True):
            name = (f"rollup_{'departement' if departement else 'national'}"
                    f"{'_followup' if followup else ''}_daily")
            keys = [*(["departement"] if departement else []), *_KEYS, *(["followup"] if followup else [])]
            op.create_table(
                name,
                *([sa.Column("departement", sa.String(length=3), nullable=False)] if departement else []),
                *_key_columns(),
                *([sa.Column("followup", sa.String(length=8), nullable=False)] if followup else []),
                sa.Column("votes", sa.BigInteger(), nullable=False),
                sa.PrimaryKeyConstraint(*keys),
            )
    for statement in BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    for name in ("rollup_national_followup_daily", "rollup_national_daily", "rollup_departement_followup_daily",
                 "rollup_departement_daily"):
        op.drop_table(name)
