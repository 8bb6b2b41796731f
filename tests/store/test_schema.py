"""The declared tables (`schema.py`): times are epoch milliseconds and money is integer minor units,
64-bit on every dialect, so an amount past 2**31 minor units comes back exact. On SQLite and on
PostgreSQL when TEST_DATABASE_URL is set."""

import sqlalchemy as sa

from auction_engine.store.schema import bidders, metadata

MONEY = {"credit_limit", "start_price", "price", "hammer_price", "premium", "total_due", "amount", "refund_amount"}


def _is_time(name: str) -> bool:
    return name.endswith(("_at", "_ms")) or name == "at"


def test_every_time_and_money_column_is_a_64_bit_integer() -> None:
    columns = [(t.name, c) for t in metadata.sorted_tables for c in t.columns if c.name in MONEY or _is_time(c.name)]
    assert {c.name for _t, c in columns} >= MONEY | {"created_at", "closed_at", "paid_at", "window_ms", "at"}
    assert [f"{t}.{c.name}" for t, c in columns if not isinstance(c.type, sa.BigInteger)] == []


async def test_a_money_amount_past_32_bits_comes_back_exact(store) -> None:
    limit = 9_007_199_254_740_993  # 2**53 + 1: exact neither as a 32-bit integer nor as a double
    async with store.engine.begin() as conn:
        await conn.execute(sa.insert(bidders).values(bidder="big", paddle="900", credit_limit=limit, created_at=1))
    async with store.engine.connect() as conn:
        back = (await conn.execute(sa.select(bidders.c.credit_limit).where(bidders.c.bidder == "big"))).scalar()
    assert back == limit and type(back) is int
