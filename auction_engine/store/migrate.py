"""Runs the alembic migrations programmatically on a live connection, up to head."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Any fixed 64-bit number: engine processes starting together take turns to migrate.
_PG_LOCK = 0x61756374696F6E


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade_to_head(connection: Connection) -> None:
    """Call through `AsyncConnection.run_sync` inside a write transaction."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
    command.upgrade(config(connection), "head")
