"""budget.lua on a real redis-server is bidding.budget's rule (docs/rules.md "Budgets"), and two
writers reserving at once never both spend the same room."""

from __future__ import annotations

import asyncio
import random
import uuid

from redis.asyncio import Redis

from auction_engine.budget import BudgetLedger
from bidding.budget import Budget, budget_cap


async def test_the_script_is_the_rule_on_random_holdings(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    ledger = BudgetLedger(client)
    rng = random.Random(14)
    for case in range(200):
        bidder, sale = f"b{case}", "S1"
        budget = Budget(rng.choice([None, rng.randrange(0, 20_000)]), rng.choice([None, rng.randrange(1, 4)]))
        held = [(f"L{i}", rng.choice([0, rng.randrange(1, 9000)]), rng.random() < 0.3) for i in range(1, 4)]
        await ledger.set(bidder, sale, budget, held)
        value, proxy = rng.randrange(1, 15_000), rng.random() < 0.5
        elsewhere = sum(amount for lot, amount, _ in held if lot != "L1")
        won = sum(1 for lot, _, w in held if w and lot != "L1")
        want = budget_cap(budget, elsewhere, won, value, proxy)
        assert await ledger.reserve(bidder, sale, "L1", value, proxy) == want, (budget, held, value, proxy)
    standing = await ledger.standing("nobody", "S1")
    assert standing.budget is None and await ledger.reserve("nobody", "S1", "L1", 5, True) == 5  # no budget: as asked
    await client.aclose()


async def test_two_writers_reserving_at_once_never_both_spend_the_same_room(redis_url: str) -> None:
    a, b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    node_a, node_b = BudgetLedger(a), BudgetLedger(b)
    bidder = "dealer-" + uuid.uuid4().hex[:8]
    await node_a.set(bidder, "S1", Budget(max_total=10_000), [])
    placed = await asyncio.gather(*(
        (node_a if i % 2 else node_b).reserve(bidder, "S1", f"L{i}", 3000, proxy=True) for i in range(8)
    ))
    stood = [p for p in placed if p is not None]
    assert sum(stood) == 10_000 and sorted(stood) == [1000, 3000, 3000, 3000]  # three whole, one capped, four refused
    assert (await node_b.standing(bidder, "S1")).committed == 10_000
    assert not await node_a.expose(bidder, "S1", "L1", 0, won=False)  # outbid on L1: released
    assert (await node_a.standing(bidder, "S1")).committed == 10_000 - (placed[1] or 0)
    await a.aclose()
    await b.aclose()
