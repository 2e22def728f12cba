"""Kiosks' last self-test (provisioning): kiosks.selftest and kiosks.selftest_at

Revision ID: i7selftest
Revises: i5kpi
Create Date: 2026-11-23 13:10:00
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

_LOG = logging.getLogger(__name__)

revision = "i7selftest"
down_revision = "i5kpi"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kiosks") as batch:
        batch.add_column(sa.Column("selftest", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("selftest_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kiosks") as batch:
        batch.drop_column("selftest_at")
        batch.drop_column("selftest")
