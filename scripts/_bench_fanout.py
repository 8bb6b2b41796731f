"""Fan-out measurement for bench.py: counting watchers, a paced bid driver, and the baseline server.

The same client code measures the engine and the baseline: W watchers subscribe to one lot and
count the event frames they receive; a driver per generator process sends bids (each one accepted:
a proxy maximum that only grows) and keeps the slowest of its watchers within `window` events of the
last ack, so the pipe stays full without pushing anyone past the engine's slow-consumer bound.

The baseline (`serve`) is a bare `websockets` server: on each `bid` it broadcasts the same event
frame (seq counted up) to every subscriber with `websockets.broadcast` and answers the sender with
an ack. No Redis, no rules, no per-connection queues: the cost of the sockets alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import queue
import time
from typing import Any

from _bench_ws import open_watcher
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol


async def _client(url: str, lot: str, watchers: int, token: str, duration: float, window: int, t0_us: int,
                  out: Any, go: Any, index: int) -> dict[str, Any]:
    lasts = [0] * watchers
    subscribed = [False] * watchers
    counts = {"frames": 0, "gaps": 0, "acked": 0, "refused": 0}
    counting = False
    sem = asyncio.Semaphore(64)
    sample: list[str | bytes] = []

    def on_message(i: int, raw: str | bytes, now: float) -> None:
        f = json.loads(raw)
        if f.get("type") == "event":
            seq = f["seq"]
            if lasts[i] and seq != lasts[i] + 1:
                counts["gaps"] += 1
            lasts[i] = seq
            if counting:
                counts["frames"] += 1
            if not sample:
                sample.append(raw)
        elif f.get("type") == "snapshot":
            lasts[i] = f["seq"]
            subscribed[i] = True

    async def watch(i: int) -> None:
        async with sem:
            ws = await open_watcher(url, "auction.v1.json", lambda raw, now: on_message(i, raw, now), timeout=120)
        ws.send_text(json.dumps({"type": "subscribe", "lot": lot}))
        try:
            await ws.closed
            counts["closed"] = counts.get("closed", 0) + 1
        except asyncio.CancelledError:
            ws.close()
            raise

    tasks = [asyncio.create_task(watch(i)) for i in range(watchers)]
    protocols = [Subprotocol("auction.v1.json"), Subprotocol(f"auction.token.{token}")]
    driver = await connect(url, subprotocols=protocols, max_size=2**20,
                           ping_interval=None, compression=None, open_timeout=120)
    acked = 0
    inflight = 0
    wake = asyncio.Event()

    async def acks() -> None:
        nonlocal acked, inflight
        async for raw in driver:
            f = json.loads(raw)
            if f.get("type") == "ack":
                inflight -= 1
                if f.get("ok"):
                    counts["acked"] += 1
                    acked = max(acked, f["seq"])
                else:
                    counts["refused"] += 1
                wake.set()

    reader = asyncio.create_task(acks())
    await asyncio.sleep(1.0)
    while not all(subscribed) and not all(t.done() for t in tasks):
        await asyncio.sleep(0.1)
    out.put(("ready", index))
    while not go.is_set():
        await asyncio.sleep(0.01)
    counting = True
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < duration:
        if inflight < 16 and acked - min(lasts) < window:
            n += 1
            inflight += 1
            step_us = time.time_ns() // 1000 - t0_us
            await driver.send(json.dumps({"type": "bid", "lot": lot, "id": f"d{index}-{n}", "max": 10_000_000 + step_us * 100}))
        else:
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), 0.002)
    counting = False
    elapsed = time.perf_counter() - started
    reader.cancel()
    await driver.close()
    for t in tasks:
        t.cancel()
    return {**counts, "elapsed": elapsed, "sample": sample[0] if sample else None}


def _client_main(*args: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = args[7]
    try:
        out.put(("done", args[-1], asyncio.run(_client(*args))))
    except BaseException as exc:  # noqa: BLE001
        out.put(("failed", args[-1], repr(exc)))


def measure(url: str, lot: str, watchers: int, tokens: list[str], duration: float, procs: int = 2,
            window: int = 300, on_go: Any = None) -> dict[str, Any]:
    """Frames per second delivered to `watchers` watchers of `lot`, from `procs` generator processes."""
    ctx = mp.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    t0_us = time.time_ns() // 1000
    ps = []
    for i in range(procs):
        share = watchers // procs + (1 if i < watchers % procs else 0)
        p = ctx.Process(target=_client_main, args=(url, lot, share, tokens[i], duration, window, t0_us, out, go, i), daemon=True)
        p.start()
        ps.append(p)
    ready = 0
    results: list[dict[str, Any]] = []
    while len(results) < procs:
        try:
            msg = out.get(timeout=120)
        except queue.Empty:
            raise RuntimeError("fan-out clients stalled") from None
        if msg[0] == "ready":
            ready += 1
            if ready == procs:
                if on_go:
                    on_go("start")
                go.set()
        elif msg[0] == "done":
            results.append(msg[2])
        else:
            raise RuntimeError(f"fan-out client failed: {msg[2]}")
    if on_go:
        on_go("stop")
    for p in ps:
        p.join(10)
    elapsed = max(r["elapsed"] for r in results)
    frames = sum(r["frames"] for r in results)
    return {
        "watchers": watchers,
        "frames": frames,
        "frames_per_s": frames / elapsed,
        "events_per_s": sum(r["acked"] for r in results) / elapsed,
        "gaps": sum(r["gaps"] for r in results),
        "closed": sum(r.get("closed", 0) for r in results),
        "refused": sum(r["refused"] for r in results),
        "sample": next((r["sample"] for r in results if r["sample"]), None),
    }


async def serve(port: int, frame_file: str) -> None:
    from websockets.asyncio.server import broadcast
    from websockets.asyncio.server import serve as ws_serve

    with open(frame_file) as fh:
        template = json.loads(fh.read())
    subscribers: set[Any] = set()
    seq = 0

    async def handler(ws: Any) -> None:
        nonlocal seq
        try:
            async for raw in ws:
                f = json.loads(raw)
                if f.get("type") == "subscribe":
                    subscribers.add(ws)
                    await ws.send(json.dumps({"type": "snapshot", "lot": f["lot"], "seq": seq, "state": template["state"]}))
                elif f.get("type") == "bid":
                    seq += 1
                    broadcast(subscribers, json.dumps({**template, "seq": seq}, separators=(",", ":")))
                    await ws.send(json.dumps({"type": "ack", "id": f["id"], "lot": f["lot"], "ok": True, "seq": seq}))
        finally:
            subscribers.discard(ws)

    async with ws_serve(handler, "127.0.0.1", port, subprotocols=[Subprotocol("auction.v1.json")], ping_interval=None,
                        compression=None, max_size=2**16, backlog=4096):
        await asyncio.Future()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["serve"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--frame", required=True)
    args = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.port, args.frame))


if __name__ == "__main__":
    main()
