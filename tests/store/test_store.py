"""`Store`, the engine's SQL side: bidders are registered once per id and per paddle, suspended
and reinstated; on SQLite always and on PostgreSQL when TEST_DATABASE_URL is set."""

import asyncio

import pytest

from auction_engine.store import BidderExists
from auction_engine.store.errors import NoSuchBidder


async def test_bidders(store):
    b = await store.register_bidder("b1", "101", 5_000_000)
    assert (b.bidder, b.paddle, b.credit_limit) == ("b1", "101", 5_000_000)
    await store.register_bidder("b2", "102", None)
    with pytest.raises(BidderExists) as exc:
        await store.register_bidder("b1", "103", None)
    assert exc.value.field == "bidder"
    with pytest.raises(BidderExists) as exc:
        await store.register_bidder("b3", "101", None)
    assert exc.value.field == "paddle"
    assert await store.get_bidder("b1") == b
    assert await store.get_bidder("zz") is None
    assert [x.bidder for x in await store.list_bidders()] == ["b1", "b2"]


async def test_concurrent_registrations_of_one_paddle(store):
    results = await asyncio.gather(
        *(store.register_bidder(f"b{i}", "777", None) for i in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, BidderExists) for r in results if isinstance(r, Exception))


async def test_ping(store):
    assert await store.ping()


async def test_a_suspended_bidder_is_read_back_suspended_and_a_reinstated_one_not(store):
    await store.register_bidder("b1", "101", 5_000_000)
    suspended = await store.set_suspended("b1", 1_700_000_000_000, 1_700_000_000_000)
    assert (suspended.suspended_at, suspended.tokens_after) == (1_700_000_000_000, 1_700_000_000_000)
    assert await store.get_bidder("b1") == suspended
    reinstated = await store.set_suspended("b1", None, 1_700_000_000_000)
    assert reinstated.suspended_at is None and reinstated.tokens_after == 1_700_000_000_000
    assert reinstated.credit_limit == 5_000_000


async def test_suspending_an_unknown_bidder_is_refused_and_registers_no_one(store):
    with pytest.raises(NoSuchBidder):
        await store.set_suspended("nobody", 1_700_000_000_000, None)
    assert await store.list_bidders() == []
