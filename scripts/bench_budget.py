"""What a bid on a lot of a sale pays for budgets (docs/rules.md "Budgets"): the `budget.lua`
reservation each such bid makes before its lot decides, against what it is compared with.

    python scripts/bench_budget.py [--calls 3000] [--concurrency 32]

A private redis-server (loopback, fsync off: the scripts' cost, not the disk's) is started. Printed
per operation: calls per second one after another (each awaits its answer, as one lot's bidder's
bids do) and side by side (`--concurrency` at once, many bidders), and the p50/p99 of one call.
Baselines: a bare PING (the round trip's floor), and the credit ledger's `reserve`
(`bidder_ledger.lua`), which every limited bidder's bid already pays on a cluster. The budget's
script sums the bidder's holdings on the sale's lots, so it is run with 3 lots held and with 200.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis.asyncio import Redis  # noqa: E402

from auction_engine.bidder_ledger import BidderLedger  # noqa: E402
from auction_engine.budget import BudgetLedger  # noqa: E402
from auction_engine.redis_server import RedisServer, free_port  # noqa: E402
from bidding.budget import Budget  # noqa: E402

Call = Callable[[int], Awaitable[object]]


async def timed(call: Call, calls: int, concurrency: int) -> tuple[float, float, float, float]:
    """(sequential calls/s, concurrent calls/s, p50 us, p99 us of the sequential calls)."""
    one: list[float] = []
    started = time.perf_counter()
    for i in range(calls):
        t0 = time.perf_counter()
        await call(i)
        one.append(time.perf_counter() - t0)
    sequential = calls / (time.perf_counter() - started)
    started = time.perf_counter()
    for base in range(0, calls, concurrency):
        await asyncio.gather(*(call(base + j) for j in range(concurrency)))
    concurrent = calls / (time.perf_counter() - started)
    one.sort()
    return sequential, concurrent, statistics.median(one) * 1e6, one[int(len(one) * 0.99)] * 1e6


async def main(calls: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp), port=free_port(), fsync="no").start()
        client = Redis.from_url(server.url)
        try:
            credit = BidderLedger(client, rate=1000, burst=1000)
            budgets = BudgetLedger(client)
            await credit.set_limit("c", 10**12)
            await budgets.set("b3", "S", Budget(max_total=10**12), [(f"L{i}", 1000, False) for i in range(3)])
            await budgets.set("b200", "S", Budget(max_total=10**12), [(f"L{i}", 1000, False) for i in range(200)])

            async def ping(i: int) -> object:
                return await client.ping()

            async def credit_reserve(i: int) -> object:
                return await credit.reserve("c", "L0", 5000 + i)

            async def budget_3(i: int) -> object:
                return await budgets.reserve("b3", "S", "L0", 5000 + i, True)

            async def budget_200(i: int) -> object:
                return await budgets.reserve("b200", "S", "L0", 5000 + i, True)

            async def no_budget(i: int) -> object:
                return await budgets.reserve("nobody", "S", "L0", 5000 + i, True)

            scenarios: dict[str, Call] = {
                "PING (baseline: one round trip)": ping,
                "credit reserve (baseline: bidder_ledger.lua)": credit_reserve,
                "budget reserve, bidder without a budget": no_budget,
                "budget reserve, 3 lots held": budget_3,
                "budget reserve, 200 lots held": budget_200,
            }
            print(f"{calls} calls each; concurrent = {concurrency} at once; redis-server {server.port} (fsync off)")
            print(f"{'operation':<48} {'seq/s':>9} {'conc/s':>9} {'p50 us':>8} {'p99 us':>8}")
            for name, call in scenarios.items():
                seq, conc, p50, p99 = await timed(call, calls, concurrency)
                print(f"{name:<48} {seq:>9,.0f} {conc:>9,.0f} {p50:>8.0f} {p99:>8.0f}")
        finally:
            await client.aclose()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per operation (default 3000)")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight at once (default 32)")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.concurrency))
