"""What rendering a contract PDF costs, and what it costs the event loop beside it.

    python scripts/bench_contract.py [--renders 5]

A contract is rendered with fpdf2, which parses and subsets the Noto CJK font with fontTools in
pure Python. Printed per way of running it: the mean time per render and the worst stall of an
asyncio loop ticking every 5 ms meanwhile (what a bid waiting on the engine's loop would feel).
Baseline: the render in a thread (`asyncio.to_thread`), the first version; the engine now renders
in a spawned process (`AfterSale._render`).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auction_engine.store.contract import Facts, render  # noqa: E402
from auction_engine.store.models import Settlement  # noqa: E402

FACTS = Facts(
    Settlement("BENCH-1", "sold", "b-1", "101", 10_000_000, 450_000, 10_450_000, "CNY", 1_764_000_000_000, 1_764_000_000_000,
               42, "9f" * 32, 1_764_259_200_000, None),
    "2022 比亚迪 汉 EV", {"vin": "LGXCE4CB5N0123456", "make": "比亚迪", "model": "汉 EV", "year": 2022, "mileage_km": 23000,
                         "seller": "上海浦东二手车行", "inspection": {"grade": "A", "report_url": "https://inspect.example/r/7"}},
    "杭州某某汽车贸易有限公司", "91330100MA2XXXXX1X", 7,
)


async def measure(renders: int, work: Callable[[], Awaitable[bytes]]) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    worst, done = 0.0, False

    async def tick() -> None:
        nonlocal worst
        while not done:
            started = loop.time()
            await asyncio.sleep(0.005)
            worst = max(worst, loop.time() - started - 0.005)

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    for _ in range(renders):
        await work()
    elapsed = (time.perf_counter() - started) / renders
    done = True
    await ticker
    return elapsed, worst


async def main(renders: int) -> None:
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    await loop.run_in_executor(pool, render, FACTS)  # the process's start is paid once, not per render
    async def idle() -> bytes:
        await asyncio.sleep(1.0)
        return b""

    rows = [
        ("no render (the machine's own noise; 1 s sleeps)", await measure(renders, idle)),
        ("thread (baseline)", await measure(renders, lambda: asyncio.to_thread(render, FACTS))),
        ("spawned process", await measure(renders, lambda: loop.run_in_executor(pool, render, FACTS))),
    ]
    pool.shutdown()
    print(f"| how | ms per render | worst loop stall, ms |  ({renders} renders, {len(render(FACTS))} bytes each)")
    print("| --- | --- | --- |")
    for name, (per, worst) in rows:
        print(f"| {name} | {per * 1000:.0f} | {worst * 1000:.0f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renders", type=int, default=5)
    asyncio.run(main(parser.parse_args().renders))
