"""`db.py`: the database URL operators write is given its async driver, and SQLite runs in WAL
mode with a busy timeout (so two writers queue instead of failing)."""

from pathlib import Path

from auction_engine.store.db import normalise_url


def test_no_url_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    assert normalise_url(None, tmp_path) == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'auction.db'}"
    assert normalise_url("", tmp_path) == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'auction.db'}"


def test_plain_urls_get_the_async_driver_and_driver_urls_are_kept(tmp_path: Path) -> None:
    rows = [
        ("postgres://u:p@db:5432/auction", "postgresql+asyncpg://u:p@db:5432/auction"),
        ("postgresql://u@db/auction", "postgresql+asyncpg://u@db/auction"),
        ("sqlite:////var/lib/auction.db", "sqlite+aiosqlite:////var/lib/auction.db"),
        ("postgresql+asyncpg://u@db/auction", "postgresql+asyncpg://u@db/auction"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ]
    for given, used in rows:
        assert normalise_url(given, tmp_path) == used, given


async def test_sqlite_is_in_wal_mode_with_a_busy_timeout(store, tmp_path):
    if store.engine.dialect.name != "sqlite":
        return
    assert (tmp_path / "auction.db").exists()
    async with store.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 10_000
