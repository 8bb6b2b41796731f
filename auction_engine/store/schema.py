"""SQLAlchemy Core tables. The migrations in `auction_engine/migrations/versions` create them;
`tests/store/test_migrate.py` checks the two agree.

Times are epoch milliseconds (BigInteger) and money is integer minor units, on every dialect.
`lots.id` is a stable integer row id (SQLite's rowid alias) that the SQLite full-text index
(`lots_fts`, FTS5 trigram) points at; the lot id is `lot`.
The `*_key` columns of `lots` are non-null sort keys derived on write, so that every catalogue
sort is a plain index range scan and keyset pagination needs no NULL special cases.
"""

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

bidders = sa.Table(
    "bidders",
    metadata,
    sa.Column("bidder", sa.String(64), primary_key=True),
    sa.Column("paddle", sa.String(64), nullable=False, unique=True),
    sa.Column("credit_limit", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # Suspended bidders' tokens are refused; tokens issued before `tokens_after` (ms) stay refused.
    sa.Column("suspended_at", sa.BigInteger, nullable=True),
    sa.Column("tokens_after", sa.BigInteger, nullable=True),
)

lots = sa.Table(
    "lots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lot", sa.String(64), nullable=False, unique=True),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("format", sa.String(20), nullable=False),
    sa.Column("mode", sa.String(10), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("result", sa.String(20), nullable=True),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("start_price", sa.BigInteger, nullable=False),
    sa.Column("price", sa.BigInteger, nullable=True),
    sa.Column("bids", sa.Integer, nullable=False),
    sa.Column("starts_at", sa.BigInteger, nullable=True),
    sa.Column("ends_at", sa.BigInteger, nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("vin", sa.String(32), nullable=True),
    sa.Column("make", sa.String(64), nullable=True),
    sa.Column("model", sa.String(128), nullable=True),
    sa.Column("year", sa.Integer, nullable=True),
    sa.Column("mileage_km", sa.Integer, nullable=True),
    sa.Column("colour", sa.String(32), nullable=True),
    sa.Column("location", sa.String(128), nullable=True),
    sa.Column("inspection_grade", sa.String(16), nullable=True),
    sa.Column("inspection_report_url", sa.String(1000), nullable=True),
    sa.Column("photos", sa.JSON, nullable=True),
    sa.Column("search_text", sa.Text, nullable=False),
    sa.Column("make_key", sa.String(64), nullable=False),
    sa.Column("ending_key", sa.BigInteger, nullable=False),
    sa.Column("price_key", sa.BigInteger, nullable=False),
    sa.Column("year_key", sa.Integer, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Index("ix_lots_ending", "ending_key", "lot"),
    sa.Index("ix_lots_status_ending", "status", "ending_key", "lot"),
    sa.Index("ix_lots_price", "price_key", "lot"),
    sa.Index("ix_lots_status_price", "status", "price_key", "lot"),
    sa.Index("ix_lots_year", "year_key", "lot"),
    sa.Index("ix_lots_status_year", "status", "year_key", "lot"),
    sa.Index("ix_lots_newest", "created_at", "lot"),
    sa.Index("ix_lots_make_ending", "make_key", "ending_key", "lot"),
    sa.Index("ix_lots_make_price", "make_key", "price_key", "lot"),
    sa.Index("ix_lots_make_year", "make_key", "year_key", "lot"),
)

settlements = sa.Table(
    "settlements",
    metadata,
    sa.Column("lot", sa.String(64), primary_key=True),
    sa.Column("result", sa.String(20), nullable=False),
    sa.Column("winner", sa.String(64), nullable=True),
    sa.Column("winner_paddle", sa.String(64), nullable=True),
    sa.Column("hammer_price", sa.BigInteger, nullable=True),
    sa.Column("premium", sa.BigInteger, nullable=True),
    sa.Column("total_due", sa.BigInteger, nullable=True),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("closed_at", sa.BigInteger, nullable=False),
    sa.Column("decided_at", sa.BigInteger, nullable=False),
    sa.Column("final_seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.String(128), nullable=False),
    sa.Column("payment_due_at", sa.BigInteger, nullable=True),
    sa.Column("paid_at", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("contract_sha256", sa.String(64), nullable=True),  # the stored contract PDF's digest (hex)
    sa.Column("report_version", sa.BigInteger, nullable=True),  # the inspection report the winning bid saw
    sa.Index("ix_settlements_closed", "closed_at", "lot"),
    sa.Index("ix_settlements_winner", "winner", "result", "paid_at"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(100), nullable=False, unique=True),
    sa.Column("lot", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("delivered_at", sa.BigInteger, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    # Which outside party takes the row (its own worker and sink) and the purpose it is signed for.
    sa.Column("destination", sa.String(20), nullable=False, server_default="escrow"),
    sa.Column("purpose", sa.String(40), nullable=False, server_default="escrow.settlement"),
    sa.Index("ix_outbox_pending", "delivered_at", "next_attempt_at"),
)

# The head (seq, hash) of each lot's log as of its last snapshot or close: a log found behind
# it at start has lost acknowledged entries (a truncated or emptied AOF) and is quarantined.
lot_heads = sa.Table(
    "lot_heads",
    metadata,
    sa.Column("lot", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

# -- after the hammer and before the first bid (issue 15; docs/settlement.md) ------------------------

# A dealer's qualification (资质审核): approved ones become bidders (`bidder` set at approval).
applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("company", sa.String(200), nullable=False),
    sa.Column("credit_code", sa.String(18), nullable=False, unique=True),
    sa.Column("contact_name", sa.String(100), nullable=False),
    sa.Column("contact_phone", sa.String(32), nullable=False),
    sa.Column("city", sa.String(64), nullable=False),
    sa.Column("documents", sa.JSON, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Column("bidder", sa.String(64), nullable=True, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("decided_at", sa.BigInteger, nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="ck_applications_status"),
)

# Deposits (保证金) paid through escrow; buying power is a multiple of those `held`.
deposits = sa.Table(
    "deposits",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("bidder", sa.String(64), nullable=False, index=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("paid_at", sa.BigInteger, nullable=True),
    sa.Column("refunded_at", sa.BigInteger, nullable=True),
    sa.CheckConstraint("status IN ('pending', 'held', 'refunded')", name="ck_deposits_status"),
    sa.CheckConstraint("amount > 0", name="ck_deposits_amount"),
)

# The bill of sale (电子合同) of a sold lot: the PDF as first rendered, and its SHA-256.
contracts = sa.Table(
    "contracts",
    metadata,
    sa.Column("lot", sa.String(64), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("pdf", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

# The guarantee (担保交易) of a paid settlement: escrow holds the money until receipt, the end of the
# claims window, or a claim's outcome.
guarantees = sa.Table(
    "guarantees",
    metadata,
    sa.Column("lot", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("window_ms", sa.BigInteger, nullable=False),
    sa.Column("window_ends_at", sa.BigInteger, nullable=True),  # null until the window starts (delivery)
    sa.Column("received_at", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint("state IN ('holding', 'claimed', 'released', 'refunded')", name="ck_guarantees_state"),
    sa.Index("ix_guarantees_due", "state", "window_ends_at"),
)

# One claim per settlement, opened by the buyer inside the window, resolved by an auctioneer.
claims = sa.Table(
    "claims",
    metadata,
    sa.Column("lot", sa.String(64), primary_key=True),
    sa.Column("bidder", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(24), nullable=False),
    sa.Column("text", sa.String(2000), nullable=False),
    sa.Column("photos", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("refund_amount", sa.BigInteger, nullable=True),
    sa.Column("note", sa.String(500), nullable=True),
    sa.Column("opened_at", sa.BigInteger, nullable=False),
    sa.Column("resolved_at", sa.BigInteger, nullable=True),
    sa.CheckConstraint("status IN ('open', 'rejected', 'partial_refund', 'full_refund')", name="ck_claims_status"),
)

# Instructions to escrow, each written once beside its outbox row. `final_lot` is the lot for a
# `release` or a `refund` and null for a `partial_refund`: its UNIQUE constraint is what makes a
# release and a refund of one settlement impossible together, whatever code path tries.
instructions = sa.Table(
    "instructions",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("lot", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("final_lot", sa.String(64), nullable=True, unique=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("lot", "kind", name="uq_instructions_lot_kind"),
    sa.CheckConstraint(
        "(kind IN ('release', 'refund') AND final_lot IS NOT NULL AND final_lot = lot)"
        " OR (kind = 'partial_refund' AND final_lot IS NULL)",
        name="ck_instructions_final",
    ),
    sa.CheckConstraint("amount >= 0", name="ck_instructions_amount"),
)

# The transport order (物流) of a paid lot and the logistics partner's reported status.
transports = sa.Table(
    "transports",
    metadata,
    sa.Column("lot", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("order", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint("status IN ('ordered', 'picked_up', 'in_transit', 'delivered')", name="ck_transports_status"),
)

# A settlement's history after the hammer: one row per step, in order.
settlement_events = sa.Table(
    "settlement_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lot", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Index("ix_settlement_events_lot", "lot", "id"),
)
