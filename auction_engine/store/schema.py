"""SQLAlchemy Core tables. The migrations in `auction_engine/migrations/versions` create them;
`tests/store/test_migrations.py` checks the two agree.

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
