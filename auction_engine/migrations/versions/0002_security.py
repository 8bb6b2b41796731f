"""Security and data safety (issue 9): bidder suspension and token cut-off, recorded log heads.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # -- bidders: suspension and token cut-off --------------------------------------
    pass
    # -- lot heads: (seq, hash) recorded at every snapshot and close -----------------
    pass


def downgrade() -> None:
    pass
