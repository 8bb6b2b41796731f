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
    op.add_column("bidders", sa.Column("suspended_at", sa.BigInteger, nullable=True))
    op.add_column("bidders", sa.Column("tokens_after", sa.BigInteger, nullable=True))
    # -- lot heads: (seq, hash) recorded at every snapshot and close -----------------
    op.create_table(
        "lot_heads",
        sa.Column("lot", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("lot", name="pk_lot_heads"),
    )


def downgrade() -> None:
    with op.batch_alter_table("bidders") as batch:  # bidders (SQLite drops columns by copying the table)
        batch.drop_column("tokens_after")
        batch.drop_column("suspended_at")
    op.drop_table("lot_heads")  # lot heads
