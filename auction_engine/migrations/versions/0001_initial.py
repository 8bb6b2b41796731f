"""Initial schema: bidders, lots (catalogue), settlements (ledger), outbox.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

log = logging.getLogger("auction_engine.migrations")


def upgrade() -> None:
    op.create_table(
        "bidders",
        sa.Column("bidder", sa.String(64), nullable=False),
        sa.Column("paddle", sa.String(64), nullable=False),
        sa.Column("credit_limit", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("bidder", name="pk_bidders"),
        sa.UniqueConstraint("paddle", name="uq_bidders_paddle"),
    )
    op.create_table(
        "lots",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("lot", sa.String(64), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_lots"),
        sa.UniqueConstraint("lot", name="uq_lots_lot"),
    )
    for name, cols in (
        ("ix_lots_ending", ["ending_key", "lot"]),
        ("ix_lots_status_ending", ["status", "ending_key", "lot"]),
        ("ix_lots_price", ["price_key", "lot"]),
        ("ix_lots_status_price", ["status", "price_key", "lot"]),
        ("ix_lots_year", ["year_key", "lot"]),
        ("ix_lots_status_year", ["status", "year_key", "lot"]),
        ("ix_lots_newest", ["created_at", "lot"]),
        ("ix_lots_make_ending", ["make_key", "ending_key", "lot"]),
        ("ix_lots_make_price", ["make_key", "price_key", "lot"]),
        ("ix_lots_make_year", ["make_key", "year_key", "lot"]),
    ):
        op.create_index(name, "lots", cols)
    _search_index()

    op.create_table(
        "settlements",
        sa.Column("lot", sa.String(64), nullable=False),
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
        sa.PrimaryKeyConstraint("lot", name="pk_settlements"),
    )
    op.create_index("ix_settlements_closed", "settlements", ["closed_at", "lot"])
    op.create_index("ix_settlements_winner", "settlements", ["winner", "result", "paid_at"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("lot", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("delivered_at", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_pending", "outbox", ["delivered_at", "next_attempt_at"])


SQLITE_FTS = [
    "CREATE VIRTUAL TABLE lots_fts USING fts5(search_text, content='lots', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER lots_fts_insert AFTER INSERT ON lots BEGIN"
    " INSERT INTO lots_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER lots_fts_delete AFTER DELETE ON lots BEGIN"
    " INSERT INTO lots_fts(lots_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER lots_fts_update AFTER UPDATE OF search_text ON lots"
    " WHEN old.search_text IS NOT new.search_text BEGIN"
    " INSERT INTO lots_fts(lots_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);"
    " INSERT INTO lots_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
]


def _search_index() -> None:
    """An index for substring search (`q`).

    SQLite: an FTS5 trigram table over `search_text`, kept by triggers. PostgreSQL: a pg_trgm GIN
    index when the extension can be had (LIKE works without it, scanning); the operator class is
    qualified with the extension's schema, so the index builds whatever the search_path is.
    """
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            bind.exec_driver_sql(statement)
        return
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            schema = bind.exec_driver_sql(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                " WHERE e.extname = 'pg_trgm'"
            ).scalar_one()
            bind.exec_driver_sql(
                "CREATE INDEX ix_lots_search_trgm ON lots"
                f' USING gin (search_text "{schema}".gin_trgm_ops)'
            )
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm unavailable, text search will scan: %s", exc.orig)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE lots_fts")
    op.drop_table("outbox")
    op.drop_table("settlements")
    op.drop_table("lots")
    op.drop_table("bidders")
