"""votes: keyed by (kiosk_id, id); a vote is its kiosk's, and the same id from another kiosk is another vote

With ``id`` alone as the key, whoever sent an id first owned it: a kiosk replaying another kiosk's vote ids had
them stored at its own espace, and the honest kiosk's votes were then answered "stored" as duplicates. The rows
stay as they are (each vote already has its kiosk).

Revision ID: tbvoteskey
Revises: tbtokenexpiry
Create Date: 2026-12-01 16:30:00
"""

from __future__ import annotations

import logging
import warnings

import sqlalchemy as sa
from alembic import op

_LOG = logging.getLogger(__name__)

revision = "tbvoteskey"
down_revision = "tbtokenexpiry"
branch_labels = None
depends_on = None


def _set_key(columns: list[str]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's key is part of the table: Alembic's batch mode copies the table with the new one.
        with warnings.catch_warnings():
            # SQLAlchemy notes that the copy's key differs from the reflected one: that is the point.
            warnings.filterwarnings("ignore", "Table '_alembic_tmp_votes' specifies columns", sa.exc.SAWarning)
            with op.batch_alter_table("votes", recreate="always") as batch:
                batch.create_primary_key("votes_pkey", columns)
        return
    op.drop_constraint("votes_pkey", "votes", type_="primary")
    op.create_primary_key("votes_pkey", "votes", columns)


def upgrade() -> None:
    _set_key(["kiosk_id", "id"])


def downgrade() -> None:
    shared = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM (SELECT id FROM votes GROUP BY id HAVING count(*) > 1) AS shared")).scalar()
    if shared:
        raise RuntimeError(f"{shared} vote ids are stored for several kiosks: keyed by id alone, they would be "
                           "lost; downgrade refused")
    _set_key(["id"])
