"""An index on rollup_daily's day, on PostgreSQL: the national ranking's edge days in one range, not a look-up an espace

A ranking of every espace over a period reads whole years and months plus or minus a few days of
``rollup_daily`` (``collector/kpi/periods.py``); by the primary key (espace, day, ...) each such day costs one
descent an espace (3,000 nationally), by this index one range of the day's rows. Its cost to ingest: one more
B-tree entry when a vote makes a new daily row (an espace's first vote of a day with an answer), none when it
adds to an existing one (``docs/performance.md``, session 5). Not on SQLite: its planner, without statistics,
reads a period's days of every espace through this index then (a row look-up each) instead of by the primary key,
and the 30-day national ranking took twice as long.

Revision ID: tidayindex
Revises: fleetota
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from alembic import op

revision = "tidayindex"
down_revision = "fleetota"
branch_labels = None
depends_on = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _postgres():
        op.create_index("ix_rollup_daily_day", "rollup_daily", ["day"])


def downgrade() -> None:
    if _postgres():
        op.drop_index("ix_rollup_daily_day", table_name="rollup_daily")
