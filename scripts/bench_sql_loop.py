"""What the SQL side of a sale costs the event loop that acks bids: writes on the loop (as before
issue 18) against writes on the store's writer thread (`auction_engine/store/offloop.py`) and in
its writer process (`auction_engine/store/writerproc.py`, the default).

One process, no WebSockets and no load generator, so the figures are the engine's own: a real
redis-server (AOF, `appendfsync always`) in a temp dir, the `Engine` on uvloop with SQLite in the
same dir (or `--database-url`), `--lots` lots (500) created and opened, and 20 more that stay open.
While a 1 ms ticker measures how late the loop runs it (its stalls), a bidder places one bid at a
time round the lots (awaiting each answer through `Engine.call`, the way a WebSocket bid goes):

1. `bidding`: bids for `--seconds` on the 500 lots while the catalogue flush (every 0.5 s) writes
   the lots that changed;
2. `closes`: all 500 lots hammered at once (500 settlements with their outbox rows, heads, the
   catalogue, the escrow hand-offs) while the bidder goes on bidding on the 20 open lots; the phase
   ends when every settlement is delivered to the escrow file.

    .venv/bin/python scripts/bench_sql_loop.py [--lots 500] [--seconds 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal

import hdrh.histogram
import uvloop
from redis.asyncio import Redis

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(SCRIPTS.parent))

import _bench_machine  # noqa: E402

from auction_engine.actor import bid_key  # noqa: E402
from auction_engine.answers import Ack, Applied, Refusal  # noqa: E402
from auction_engine.config import Config  # noqa: E402
from auction_engine.engine import Engine  # noqa: E402
from auction_engine.redis_server import RedisServer  # noqa: E402
from auction_engine.store import Store  # noqa: E402
from bidding.commands import Bid, Hammer, Open  # noqa: E402

LIVE = 20  # lots that stay open through the closes


def gil_probe(interval: float) -> dict[str, float]:
    """How late a 1 ms sleep on a uvloop loop wakes while another thread runs Python, at this GIL
    switch interval: what a busy writer thread costs the loop per wake-up (`offloop.SWITCH_INTERVAL_S`)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(i * i for i in range(2000))

    async def sleeps() -> dict[str, float]:
        hist = hdrh.histogram.HdrHistogram(1, 60_000_000, 3)
        loop = asyncio.get_running_loop()
        for _ in range(300):
            started = loop.time()
            await asyncio.sleep(0.001)
            hist.record_value(max(1, int((loop.time() - started - 0.001) * 1e6)))
        return summary(hist)

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        return uvloop.run(sleeps())
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(before)


class Ticker:
    """How late a 1 ms sleep wakes, all the time: the loop's stalls, whatever caused them."""

    def __init__(self) -> None:
        self.hist = hdrh.histogram.HdrHistogram(1, 60_000_000, 3)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(0.001)
            self.hist.record_value(max(1, int((loop.time() - started - 0.001) * 1e6)))

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def spec(lot: str) -> dict[str, Any]:
    return {"lot": lot, "title": "Toyota Camry 2.0 2019", "start_price": 5000, "duration_s": 3600,
            "increments": [[0, 100]],
            "vehicle": {"make": "Toyota", "model": "Camry", "year": 2019, "vin": "JTNB11HK1K3000001",
                        "mileage_km": 42000, "colour": "white", "location": "Shanghai",
                        "photos": [f"https://example.com/{i}.jpg" for i in range(8)],
                        "inspection": {"grade": "4.5", "report_url": "https://example.com/r"}}}


class Bidder:
    """One bid at a time round `lots`, each awaited; two bidders take turns, 100 higher each time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.next: dict[str, int] = {}
        self.hist = hdrh.histogram.HdrHistogram(1, 60_000_000, 3)
        self.answers: dict[str, int] = {}
        self.turns: dict[str, int] = {}
        self._ids = itertools.count()

    async def run(self, lots: list[str], until: asyncio.Event) -> None:
        for lot in itertools.cycle(lots):
            if until.is_set():
                return
            n = next(self._ids)
            turn = self.turns[lot] = self.turns.get(lot, -1) + 1
            bidder = f"B{turn % 2}"
            amount = self.next.get(lot, 5000)
            started = time.perf_counter()
            answer = await self.engine.call(lot, Bid(at=self.engine.clock.now_ms(), bidder=bidder, paddle=bidder,
                                                     id=f"b{n}", amount=amount), bid_key(bidder, f"b{n}"))
            self.hist.record_value(max(1, int((time.perf_counter() - started) * 1e6)))
            kind = "ack" if isinstance(answer, Ack) else answer.reason.value if isinstance(answer, Refusal) else "other"
            self.answers[kind] = self.answers.get(kind, 0) + 1
            if isinstance(answer, Ack):
                self.next[lot] = amount + 100
            elif isinstance(answer, Refusal) and answer.next_min is not None:
                self.next[lot] = answer.next_min


def summary(hist: hdrh.histogram.HdrHistogram) -> dict[str, float]:
    return {"n": hist.get_total_count(), "p50": hist.get_value_at_percentile(50) / 1000,
            "p99": hist.get_value_at_percentile(99) / 1000, "max": hist.get_max_value() / 1000}


WRITERS: dict[str, Literal["process", "thread", "loop"]] = {
    "on the loop": "loop", "writer thread": "thread", "writer process": "process"}


async def measure(mode: str, redis_url: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    data = work / mode.replace(" ", "-")
    if mode == "on the loop":
        sys.setswitchinterval(0.005)  # as before issue 18; a writer thread lowers it (offloop.SWITCH_INTERVAL_S)
    store = await Store.open(args.database_url, data, writer=WRITERS[mode], poll_s=0.2)
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    engine = Engine(Config(data_dir=data), redis, store)
    await engine.start()
    store.start_outbox_worker()
    result: dict[str, Any] = {"mode": mode}
    try:
        lots = [f"S{i}" for i in range(args.lots)]
        live = [f"LIVE{i}" for i in range(LIVE)]
        for lot in lots + live:
            await engine.create_lot(spec(lot))
            assert isinstance(await engine.call(lot, Open(at=engine.clock.now_ms())), Applied)
        await asyncio.sleep(1)  # the creations' catalogue rows are written
        for phase, bid_on in (("bidding", lots), ("closes", live)):
            stop = asyncio.Event()
            bidder = Bidder(engine)
            started = time.perf_counter()
            with Ticker() as ticker:
                bidding = asyncio.create_task(bidder.run(bid_on, stop))
                if phase == "bidding":
                    await asyncio.sleep(args.seconds)
                else:
                    answers = await asyncio.gather(*(engine.call(lot, Hammer(at=engine.clock.now_ms())) for lot in lots))
                    assert all(isinstance(a, Applied) for a in answers)
                    while await store.pending_deliveries() or len(await store.list_settlements(limit=None)) < len(lots):
                        await asyncio.sleep(0.1)
                stop.set()
                await bidding
            result[phase] = {"seconds": time.perf_counter() - started, "ack": summary(bidder.hist),
                             "stall": summary(ticker.hist), "answers": bidder.answers}
    finally:
        await engine.stop()
        await redis.aclose()
        await store.close()
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lots", type=int, default=500)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--database-url", default=None, help="PostgreSQL (postgresql+asyncpg://...); SQLite by default")
    p.add_argument("--rounds", type=int, default=1, help="each mode this many times, taking turns")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sql-loop-"))
    redis = RedisServer(work / "redis", fsync="always")
    (work / "redis").mkdir()
    redis.start()
    try:
        print(_bench_machine.describe(_bench_machine.calibrate(work, redis.url)), flush=True)
        for interval in (0.005, 0.0005):
            probe = gil_probe(interval)
            print(f"a 1 ms sleep beside a thread running Python, GIL switch interval {interval * 1000:g} ms: "
                  f"late p50 {probe['p50']:.2f} / p99 {probe['p99']:.2f} / max {probe['max']:.2f} ms", flush=True)
        results = [uvloop.run(measure(mode, redis.url, work / str(n), args))
                   for n in range(args.rounds) for mode in WRITERS]
    finally:
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.lots} lots (+{LIVE} open), SQL {'PostgreSQL' if args.database_url else 'SQLite'}, GIL switch "
          "interval 5 ms on the loop, 0.5 ms with the writer thread (and after it: the process ran last); "
          "ms: one bid at a time, each awaited; "
          "stall = lateness of a 1 ms sleep")
    print(f"{'phase':9} {'SQL writes':14} {'s':>6} {'bids':>6} {'ack p50':>8} {'ack p99':>8} {'ack max':>8} "
          f"{'stall p99':>9} {'stall max':>9}")
    for phase in ("bidding", "closes"):
        for r in results:
            f = r[phase]
            print(f"{phase:9} {r['mode']:14} {f['seconds']:6.1f} {f['ack']['n']:6d} {f['ack']['p50']:8.2f} "
                  f"{f['ack']['p99']:8.2f} {f['ack']['max']:8.2f} {f['stall']['p99']:9.2f} {f['stall']['max']:9.2f}")
    for r in results:
        print(f"answers ({r['mode']}): bidding {r['bidding']['answers']}, closes {r['closes']['answers']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
