"""A bidder's acks while other clients loop over a lot's history (`GET /api/lots/{lot}/events`).

    python scripts/bench_history.py [--entries 600] [--readers 0,8,32] [--bids 200] [--path PATH]

Starts its own redis-server (appendfsync always, as bench.py) and `auction-engine serve`. One lot
gets `--entries` floor bids; then, for each count of readers, that many HTTP clients (half with
bidder tokens, half with watcher tokens, the per-address limit lifted as bench.py lifts it, so all
of them loop) read the lot's history, pages of at most `anonymous_page` events, as fast as they are
answered, in a process of their own, while one bidder on a WebSocket places `--bids` bids one
after another. Printed per row:
the ack p50 / p99 / max, the history pages served per second and the engine's CPU. Compared against
the row with 0 readers: what the readers add to a bid's ack. `--path` loops the readers over another
read instead (`/api/lots?limit=200`, the catalogue; `/api/lots/{lot}`, one lot).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import websockets  # noqa: E402
from bench import SECRET, CpuWatch, Engine, register_bidder  # noqa: E402

from auction_engine.auth import TokenSigner  # noqa: E402
from auction_engine.redis_server import RedisServer  # noqa: E402

LOT = "HIST"


def place_floor_bids(http: httpx.Client, n: int) -> None:
    amount, placed = 5000, 0
    while placed < n:
        r = http.post(f"/api/lots/{LOT}/floor-bids", json={"paddle": f"F{placed % 2}", "amount": amount})
        if r.status_code == 409:  # below the ladder's next step: take the step it names
            amount = r.json()["next_min"]
            continue
        r.raise_for_status()
        placed += 1
        amount += 1000


def readers_main(url: str, path: str, tokens: list[str], readers: int, pages: Any, go: Any, stop: Any) -> None:
    """The readers, in a process of their own: their loop must not delay the bidder's acks."""

    async def reader(token: str) -> None:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            while not stop.is_set():
                (await c.get(path.format(lot=LOT))).raise_for_status()
                go.set()  # pages are being served
                with pages.get_lock():
                    pages.value += 1

    async def run() -> None:
        await asyncio.gather(*(reader(tokens[i % len(tokens)]) for i in range(readers)))

    try:
        asyncio.run(run())
    finally:
        go.set()  # a reader that failed does not keep the row waiting


async def bids(engine: Engine, bidder_token: str, tag: str, n: int, start: int) -> list[float]:
    acks: list[float] = []
    url = engine.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, subprotocols=["json", f"auction.token.{bidder_token}"],  # type: ignore[list-item]
                                  ping_interval=None) as ws:
        for i in range(n):
            sent = time.perf_counter()
            await ws.send(json.dumps({"type": "bid", "lot": LOT, "id": f"{tag}-{i}", "max": start + i * 1000}))
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("type") == "ack" and frame.get("id") == f"{tag}-{i}":
                    break
            acks.append((time.perf_counter() - sent) * 1000)
    return acks


def row(engine: Engine, path: str, tokens: list[str], bidder_token: str, readers: int, n: int, start: int) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    pages, go, stop = ctx.Value("q", 0), ctx.Event(), ctx.Event()
    proc = None
    if readers:
        proc = ctx.Process(target=readers_main, args=(engine.url, path, tokens, readers, pages, go, stop))
        proc.start()
        go.wait(30)
        time.sleep(1.0)  # the readers are looping before the first bid
    cpu = CpuWatch(engine.pid)
    cpu("start")
    pages_before, t0 = pages.value, time.perf_counter()
    acks = asyncio.run(bids(engine, bidder_token, f"h{readers}", n, start))
    elapsed = time.perf_counter() - t0
    cpu("stop")
    served = pages.value - pages_before
    stop.set()
    if proc is not None:
        proc.join(60)
        if proc.exitcode != 0:
            raise RuntimeError(f"the readers' process failed (exit {proc.exitcode}); its traceback is above")
    acks.sort()
    return {"readers": readers, "p50": statistics.median(acks), "p99": acks[int(len(acks) * 0.99) - 1],
            "max": acks[-1], "pages_per_s": served / elapsed, "engine_cpu": cpu.utilisation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=600)
    parser.add_argument("--readers", default="0,8,32")
    parser.add_argument("--bids", type=int, default=200)
    parser.add_argument("--path", default="/api/lots/{lot}/events?limit=10000",
                        help="what the readers loop over ({lot}: the lot), e.g. /api/lots?limit=200 or /api/lots/{lot}")
    args = parser.parse_args()
    signer = TokenSigner(SECRET)
    with tempfile.TemporaryDirectory(prefix="auction-bench-history-") as tmp:
        work = Path(tmp)
        (work / "redis").mkdir()
        redis = RedisServer(work / "redis", fsync="always").start()
        engine = Engine(redis.url, work)
        try:
            http = httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {signer.issue('auctioneer')}"},
                                timeout=30)
            http.post("/api/lots", json={"lot": LOT, "title": "history", "currency": "EUR", "start_price": 1000,
                                         "duration_s": 3600}).raise_for_status()
            http.post(f"/api/lots/{LOT}/open").raise_for_status()
            place_floor_bids(http, args.entries)
            bidder = register_bidder(http, "hist-b", "HB")
            readers = [register_bidder(http, f"hist-r{i}", f"HR{i}") for i in range(4)]
            readers += [signer.issue("watcher") for _ in range(4)]
            rows = []
            start = 10**9
            for n in (int(k) for k in args.readers.split(",")):
                rows.append(row(engine, args.path, readers, bidder, n, args.bids, start))
                start += args.bids * 1000 + 10**6
        finally:
            engine.stop()
            redis.stop()
    base = rows[0]
    print(f"a bidder's {args.bids} acks, one after another, while readers loop over GET {args.path} "
          f"({args.entries} entries in the lot's log)"
          f" (baseline: the row with {base['readers']} readers)")
    print(f"{'readers':>8} {'ack p50 ms':>11} {'p99 ms':>8} {'max ms':>8} {'pages/s':>8} {'engine CPU':>11} {'p99 / base':>11}")
    for r in rows:
        print(f"{r['readers']:>8} {r['p50']:>11.1f} {r['p99']:>8.1f} {r['max']:>8.1f} {r['pages_per_s']:>8.0f} "
              f"{r['engine_cpu']:>11.0%} {r['p99'] / base['p99']:>10.1f}x")


if __name__ == "__main__":
    main()
