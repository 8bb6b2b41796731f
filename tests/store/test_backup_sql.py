"""backup.py's round trip on SQLite and PostgreSQL: every row of every table (money, times, JSON,
nulls, bools) and every Redis key come back exactly, and a restore refuses a target holding data."""

from __future__ import annotations

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from auction_engine import backup
from auction_engine.store import Store

from .conftest import FAST, _plain

HASH = "ab" * 32


ENTRY = {b"e": b"\x00\xff entry", b"h": bytes.fromhex(HASH), b"p": b"public"}


async def seed(store: Store, redis: Redis) -> None:
    await store.register_bidder("A", "101", 5_000_000)
    await store.register_bidder("B", "102", None)
    await store.set_suspended("B", 1_700_000_000_000, 1_700_000_000_000)
    await store.record_settlement(lot="L1", result="sold", winner="A", winner_paddle="101", price=10_000_000, currency="CNY",
                                  closed_at=1_000_000, final_seq=9, head_hash=HASH)
    await store.record_settlement(lot="L2", result="unsold", winner=None, winner_paddle=None, price=None, currency="CNY",
                                  closed_at=1_000_500, final_seq=3, head_hash=HASH)
    await redis.xadd("auction:{L1}:log", ENTRY, id="1-1")
    await redis.hset("auction:{L1}:meta", mapping={"seq": 1, "epoch": 2})
    await redis.set("auction:nonce:x", "1", px=600_000)


async def test_a_backup_restores_every_row_and_key_exactly(database_url, tmp_path, redis_url) -> None:
    redis = Redis.from_url(redis_url)
    store = await Store.open(database_url, tmp_path / "a", **FAST)
    await seed(store, redis)
    before_sql = await backup.dump_sql(store)
    before_keys = sorted(await redis.keys())
    summary = await backup.backup(redis, store, tmp_path / "sale.backup")
    assert summary["lots"] == 1 and summary["keys"] == len(before_keys)
    with pytest.raises(backup.RestoreRefused, match="not empty"):
        await backup.restore(redis, store, backup.read(tmp_path / "sale.backup"))
    await store.close()
    await redis.flushall()
    if database_url is not None:  # PostgreSQL: the same database, emptied
        conn = await asyncpg.connect(_plain(make_url(database_url)))
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await conn.close()
    fresh = await Store.open(database_url, tmp_path / "b", **FAST)
    try:
        await backup.restore(redis, fresh, backup.read(tmp_path / "sale.backup"))
        assert await backup.dump_sql(fresh) == before_sql
    finally:
        await fresh.close()
    assert sorted(await redis.keys()) == before_keys
    assert await redis.xrange("auction:{L1}:log") == [(b"1-1", ENTRY)]
    assert 0 < await redis.pttl("auction:nonce:x") <= 600_000
    await redis.aclose()
