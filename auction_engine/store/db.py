"""Engine creation and the few places where SQLite and PostgreSQL differ."""

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

BUSY_TIMEOUT_MS = 10_000
WRITE = "store_write"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def normalise_url(database_url: str | None, data_dir: Path) -> str:
    """The async URL to use: `<data_dir>/auction.db` by default; plain `postgresql://` and
    `sqlite://` URLs (as operators write them in DATABASE_URL) get the async driver."""
    if not database_url:
        return f"sqlite+aiosqlite:///{Path(data_dir).resolve() / 'auction.db'}"
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if database_url.startswith(plain):
            return driver + database_url[len(plain) :]
    return database_url


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url)
        _sqlite_setup(engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _execute_when_free(cursor: Any, statement: str) -> None:
    """Switching a new file to WAL may answer "database is locked" at once, without waiting on the
    busy timeout, while another connection opens the same file (three stores opening one file at
    start-up did): try again for up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_setup(engine: AsyncEngine) -> None:
    """WAL, a busy timeout, and transactions that SQLite's driver leaves to us.

    pysqlite's own transaction handling issues no BEGIN before SELECT or DDL; the documented
    SQLAlchemy recipe takes it over. Write transactions start with BEGIN IMMEDIATE so that two
    writers queue on the busy timeout instead of one failing on a lock upgrade.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
        ):
            _execute_when_free(cursor, pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def write_options(conn: AsyncConnection) -> None:
    await conn.execution_options(**{WRITE: True})


@asynccontextmanager
async def writing(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One write transaction (`BEGIN IMMEDIATE` on SQLite) on a connection of `engine`."""
    async with engine.connect() as conn:
        await write_options(conn)
        async with conn.begin():
            yield conn


def insert(conn: AsyncConnection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which has `on_conflict_do_nothing` / `on_conflict_do_update`."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
