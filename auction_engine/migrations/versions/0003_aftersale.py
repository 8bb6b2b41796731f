"""After the hammer and before the first bid (issue 15): dealer applications, deposits, contracts,
guarantees, claims, escrow instructions, transport orders, settlement history; outbox rows name
their destination and purpose; settlements keep their contract's SHA-256.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("destination", sa.String(20), nullable=False, server_default="escrow"))
    op.add_column("outbox", sa.Column("purpose", sa.String(40), nullable=False, server_default="escrow.settlement"))
    op.add_column("settlements", sa.Column("contract_sha256", sa.String(64), nullable=True))
    op.create_table(
        "applications",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("company", sa.String(200), nullable=False),
        sa.Column("credit_code", sa.String(18), nullable=False),
        sa.Column("contact_name", sa.String(100), nullable=False),
        sa.Column("contact_phone", sa.String(32), nullable=False),
        sa.Column("city", sa.String(64), nullable=False),
        sa.Column("documents", sa.JSON, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("bidder", sa.String(64), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_applications"),
        sa.UniqueConstraint("credit_code", name="uq_applications_credit_code"),
        sa.UniqueConstraint("bidder", name="uq_applications_bidder"),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="ck_applications_status"),
    )
    op.create_table(
        "deposits",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("bidder", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("paid_at", sa.BigInteger, nullable=True),
        sa.Column("refunded_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deposits"),
        sa.CheckConstraint("status IN ('pending', 'held', 'refunded')", name="ck_deposits_status"),
        sa.CheckConstraint("amount > 0", name="ck_deposits_amount"),
    )
    op.create_index("ix_deposits_bidder", "deposits", ["bidder"])
    op.create_table(
        "contracts",
        sa.Column("lot", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("pdf", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("lot", name="pk_contracts"),
    )
    op.create_table(
        "guarantees",
        sa.Column("lot", sa.String(64), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("window_ms", sa.BigInteger, nullable=False),
        sa.Column("window_ends_at", sa.BigInteger, nullable=True),
        sa.Column("received_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("lot", name="pk_guarantees"),
        sa.CheckConstraint("state IN ('holding', 'claimed', 'released', 'refunded')", name="ck_guarantees_state"),
    )
    op.create_index("ix_guarantees_due", "guarantees", ["state", "window_ends_at"])
    op.create_table(
        "claims",
        sa.Column("lot", sa.String(64), nullable=False),
        sa.Column("bidder", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("photos", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("refund_amount", sa.BigInteger, nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("opened_at", sa.BigInteger, nullable=False),
        sa.Column("resolved_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("lot", name="pk_claims"),
        sa.CheckConstraint("status IN ('open', 'rejected', 'partial_refund', 'full_refund')", name="ck_claims_status"),
    )
    op.create_table(
        "instructions",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("lot", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("final_lot", sa.String(64), nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_instructions"),
        sa.UniqueConstraint("final_lot", name="uq_instructions_final_lot"),
        sa.UniqueConstraint("lot", "kind", name="uq_instructions_lot_kind"),
        sa.CheckConstraint(
            "(kind IN ('release', 'refund') AND final_lot IS NOT NULL AND final_lot = lot)"
            " OR (kind = 'partial_refund' AND final_lot IS NULL)",
            name="ck_instructions_final",
        ),
        sa.CheckConstraint("amount >= 0", name="ck_instructions_amount"),
    )
    op.create_table(
        "transports",
        sa.Column("lot", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("order", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("lot", name="pk_transports"),
        sa.CheckConstraint("status IN ('ordered', 'picked_up', 'in_transit', 'delivered')", name="ck_transports_status"),
    )
    op.create_table(
        "settlement_events",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("lot", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_settlement_events"),
    )
    op.create_index("ix_settlement_events_lot", "settlement_events", ["lot", "id"])


def downgrade() -> None:
    for table in ("settlement_events", "transports", "instructions", "claims", "guarantees", "contracts", "deposits",
                  "applications"):
        op.drop_table(table)
    with op.batch_alter_table("settlements") as batch:
        batch.drop_column("contract_sha256")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("purpose")
        batch.drop_column("destination")
