"""Cost of the ending-soon scan (auction_engine/alerts.py) on one core, against a real redis-server.

    python scripts/bench_alerts.py [--lots 10000] [--in-window 0,50,500] [--passes 40]

The engine runs one scan every 0.5 s over the open lots it writes. A lot outside its window costs
a few Python comparisons; a lot inside it costs a few more while everyone it must tell is told, and
a read of its watchers every `WATCHERS_FRESH_S`; a pass makes at most two pipelined round trips
(the watchers due a read, then every claim), whatever the number of lots. The table gives, per row: the lots scanned, how
many are inside the window, the median pass once every bidder was told ("steady"), and the first
pass (claims and frames built; the hub has no connections, so nothing is written to a socket).
The Redis client's pool is warmed first, as a running engine's is.
Compared against the pass budget: a pass longer than the 500 ms between passes would fall behind.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis.asyncio import Redis  # noqa: E402

from auction_engine.alerts import SCAN_S, EndingSoonAlerts  # noqa: E402
from auction_engine.bidder_lots import watchers_key  # noqa: E402
from auction_engine.clock import Clock  # noqa: E402
from auction_engine.fanout import Hub  # noqa: E402
from auction_engine.redis_server import RedisServer  # noqa: E402
from bidding.spec import LotSpec  # noqa: E402
from bidding.state import OPEN, LotState  # noqa: E402

WINDOW_MS = 60_000


@dataclass
class FakeActor:
    """What the scan reads of a lot's actor: its id, spec and state (no queue, no timer)."""

    lot: str
    spec: LotSpec
    state: LotState


def make_lots(n: int, in_window: int, now: int) -> list[FakeActor]:
    lots = []
    for i in range(n):
        lot = f"BA{i}"
        state = LotState()
        state.status = OPEN
        state.ends_at = now + (30_000 if i < in_window else 3_600_000 + i)
        state.paddles = {f"b{i}-{k}": str(k) for k in range(3)}
        lots.append(FakeActor(lot, LotSpec(lot=lot, title="Toyota Camry 2019", start_price=100, duration_s=3600), state))
    return lots


async def row(redis: Redis, n: int, in_window: int, passes: int) -> tuple[int, int, float, float]:
    await redis.flushall()
    clock = Clock()
    lots = make_lots(n, in_window, clock.now_ms())
    for actor in lots[:in_window]:
        await redis.sadd(watchers_key(actor.lot), "w1", "w2")
    await redis.ping()  # a connection in the pool, as in a running engine
    alerts = EndingSoonAlerts(redis, Hub(), clock, lambda: lots, WINDOW_MS)
    started = time.perf_counter()
    await alerts.scan()
    first = (time.perf_counter() - started) * 1000
    steady = []
    for _ in range(passes):
        started = time.perf_counter()
        await alerts.scan()
        steady.append((time.perf_counter() - started) * 1000)
    return n, in_window, statistics.median(steady), first


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=10_000)
    parser.add_argument("--in-window", default="0,50,500")
    parser.add_argument("--passes", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        redis = Redis.from_url(server.url)
        try:
            rows = [await row(redis, args.lots, int(k), args.passes) for k in args.in_window.split(",")]
        finally:
            await redis.aclose()
            server.stop()
    print(f"ending-soon scan, one pass (budget: {SCAN_S * 1000:.0f} ms between passes)")
    print(f"{'lots':>8} {'in window':>10} {'steady ms':>10} {'first ms':>9}")
    for n, k, steady, first in rows:
        print(f"{n:>8} {k:>10} {steady:>10.2f} {first:>9.2f}")


if __name__ == "__main__":
    asyncio.run(main())
