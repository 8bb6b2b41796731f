"""Fan-out measurement for bench.py: bulk watchers, a paced driver, and the bare baseline server.

The same client code measures the engine and every baseline: W watchers (bulk readers,
`_bench_feeds.py`, in `readers` processes) subscribe to one lot and count the event frames they
receive; one driver process causes events through the server's own route (the engine: bids whose
proxy maximum only grows, each accepted; Nchan: pipelined publisher POSTs; Socket.IO: a `bid` emit
the server broadcasts to the lot's room) and keeps the slowest watcher within `window` events of the
last answer, so the pipe stays full without pushing anyone past the engine's slow-consumer bound.
The generator's own CPU (readers + driver) is reported beside every figure.

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
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from _bench_feeds import ENGINE, SOCKETIO, ReaderSpec, reader_main
from _bench_frames import ack_id_of
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol


@dataclass
class Target:
    """A server under test: its dialect (`_bench_feeds.DIALECTS`), ws:// base URL and, for a driver
    that bids through the engine's protocol, a bidder token."""

    dialect: str
    base: str
    token: str = "x"
    template: str = ""  # an event frame: Nchan's driver publishes it with seq counted up


class Driver:
    """Sends one event's cause at a time through the server's own route, keeping at most `inflight`
    unanswered and the slowest watcher within `window` events of the last answer."""

    def __init__(self, target: Target, lot: str, window: int, lows: Any, inflight: int = 16, rate: float = 0.0) -> None:
        self.target, self.lot, self.window, self.lows, self.limit = target, lot, window, lows, inflight
        self.rate = rate  # events/s at most (0: as fast as the window allows)
        self.answered = self.sent = self.refused = self.inflight = 0
        self.wake = asyncio.Event()

    def may_send(self) -> bool:
        return self.inflight < self.limit and self.answered - min(self.lows[:]) < self.window

    def answer(self, ok: bool) -> None:
        self.inflight -= 1
        if ok:
            self.answered += 1
        else:
            self.refused += 1
        self.wake.set()

    async def run(self, duration: float) -> float:
        """Cause events for `duration` seconds (the connection is opened before, by `open`, and its
        answers read by `read` from then on: Socket.IO's pings come whether we send or not)."""
        started = time.perf_counter()
        t0_us = time.time_ns() // 1000
        while time.perf_counter() - started < duration:
            if self.rate and self.sent >= (time.perf_counter() - started) * self.rate:
                await asyncio.sleep(max(0.0, started + (self.sent + 1) / self.rate - time.perf_counter()))
            elif self.may_send():
                self.sent += 1
                self.inflight += 1
                await self.send(self.sent, time.time_ns() // 1000 - t0_us)
            else:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 0.002)
        return time.perf_counter() - started

    async def open(self) -> None:
        raise NotImplementedError

    async def send(self, n: int, step_us: int) -> None:
        raise NotImplementedError

    async def read(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class EngineDriver(Driver):
    """A bidder whose proxy maximum only grows: every bid is accepted and is one event (the bare
    `websockets` server speaks the same frames)."""

    ws: Any = None

    async def open(self) -> None:
        protocols = [Subprotocol("auction.v1.json"), Subprotocol(f"auction.token.{self.target.token}")]
        self.ws = await connect(self.target.base + ENGINE.path, subprotocols=protocols, max_size=2**20,
                                ping_interval=None, compression=None, open_timeout=120)

    async def send(self, n: int, step_us: int) -> None:
        await self.ws.send(json.dumps({"type": "bid", "lot": self.lot, "id": f"d-{n}", "max": 10_000_000 + step_us * 100}))

    async def read(self) -> None:
        async for raw in self.ws:
            if ack_id_of(raw.encode() if isinstance(raw, str) else raw) is not None:
                self.answer('"ok":true' in raw if isinstance(raw, str) else b'"ok":true' in raw)

    async def close(self) -> None:
        await self.ws.close()


class NchanDriver(Driver):
    """Nchan's publisher endpoint: HTTP POSTs pipelined on one keep-alive connection, so messages
    are published in seq order; a 201/202 answer is the ack."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def open(self) -> None:
        parts = urlsplit(self.target.base)
        self.reader, self.writer = await asyncio.open_connection(parts.hostname, parts.port)
        self.head = (f"POST /pub/{self.lot} HTTP/1.1\r\nHost: {parts.hostname}\r\nContent-Type: application/json\r\n"
                     f"Accept: text/json\r\nContent-Length: ").encode()
        self.frame = json.loads(self.target.template)
        self.frame["lot"] = self.lot

    async def send(self, n: int, step_us: int) -> None:
        body = json.dumps({**self.frame, "seq": n}, separators=(",", ":")).encode()
        self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def read(self) -> None:
        while True:
            head = await self.reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await self.reader.readexactly(length)
            self.answer(head.startswith((b"HTTP/1.1 201", b"HTTP/1.1 202")))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


class SocketIODriver(Driver):
    """A Socket.IO client (Engine.IO v4 over a WebSocket) emitting `bid`; the server broadcasts the
    event to the lot's room and emits `ack` back."""

    ws: Any = None

    async def open(self) -> None:
        self.ws = await connect(self.target.base + SOCKETIO.path, max_size=2**20, ping_interval=None,
                                compression=None, open_timeout=120)
        opened = await self.ws.recv()
        assert str(opened).startswith("0{"), opened
        await self.ws.send("40")
        while not str(await self.ws.recv()).startswith("40"):
            pass

    async def send(self, n: int, step_us: int) -> None:
        await self.ws.send('42["bid",{}]'.format(json.dumps({"lot": self.lot, "id": f"d-{n}"})))

    async def read(self) -> None:
        async for raw in self.ws:
            if raw == "2":
                await self.ws.send("3")
            elif str(raw).startswith('42["ack"'):
                self.answer(True)

    async def close(self) -> None:
        await self.ws.close()


DRIVERS: dict[str, type[Driver]] = {"engine": EngineDriver, "nchan": NchanDriver, "socketio": SocketIODriver}


def _driver_main(target: Target, lot: str, duration: float, window: int, lows: Any, out: Any, go: Any,
                 rate: float) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> dict[str, Any]:
        driver = DRIVERS[target.dialect](target, lot, window, lows, rate=rate)
        await driver.open()  # before `go`: the measured window has no connect in it
        reading = asyncio.create_task(driver.read())
        while not go.is_set():
            await asyncio.sleep(0.005)
        cpu0 = time.process_time()
        elapsed = await driver.run(duration)
        cpu = time.process_time() - cpu0
        # The answers still in flight are events the readers count too (they read on for a second):
        # counted here as well, or frames could exceed events x watchers.
        drained = time.perf_counter() + 2.0
        while driver.inflight and time.perf_counter() < drained:
            await asyncio.sleep(0.005)
        reading.cancel()
        await driver.close()
        return {"elapsed": elapsed, "cpu": cpu / elapsed, "answered": driver.answered,
                "refused": driver.refused}

    try:
        out.put(("done", "driver", asyncio.run(main())))
    except BaseException as exc:  # noqa: BLE001
        out.put(("failed", "driver", repr(exc)))


def measure(target: Target, lot: str, watchers: int, duration: float, readers: int = 2, window: int = 300,
            on_go: Any = None, period: float = 0.02, rate: float = 0.0) -> dict[str, Any]:
    """Frames per second delivered to `watchers` watchers of `lot` (bulk readers in `readers`
    processes), one driver process sending at most `rate` events/s (0: as fast as the slowest
    watcher keeps within `window`); with the generator's own CPU (readers + driver)."""
    ctx = mp.get_context("spawn")
    out, go, stop = ctx.Queue(), ctx.Event(), ctx.Event()
    lows = ctx.Array("q", readers, lock=False)
    ps = []
    for i in range(readers):
        share = watchers // readers + (1 if i < watchers % readers else 0)
        spec = ReaderSpec(i, target.base, target.dialect, [lot], share, duration, period=period)
        ps.append(ctx.Process(target=reader_main, args=(spec, out, go, stop, lows), daemon=True))
    ps.append(ctx.Process(target=_driver_main, args=(target, lot, duration, window, lows, out, go, rate), daemon=True))
    for p in ps:
        p.start()
    ready = 0
    results: list[dict[str, Any]] = []
    driver: dict[str, Any] | None = None
    while len(results) < readers:
        try:
            msg = out.get(timeout=180)
        except queue.Empty:
            raise RuntimeError("fan-out clients stalled") from None
        if msg[0] == "ready":
            ready += 1
            if ready == readers:
                if on_go:
                    on_go("start")
                go.set()
        elif msg[0] == "done" and msg[1] == "driver":
            driver = msg[2]
            if on_go:
                on_go("stop")
            time.sleep(1.0)  # the last events reach the readers
            stop.set()
        elif msg[0] == "done":
            results.append(msg[2])
        else:
            stop.set()
            raise RuntimeError(f"fan-out client {msg[1]} failed: {msg[2]}")
    for p in ps:
        p.join(10)
    assert driver is not None
    elapsed = driver["elapsed"]
    frames = sum(r["frames"] for r in results)
    lots = [r["lots"][lot] for r in results if lot in r["lots"]]
    return {
        "dialect": target.dialect,
        "offered_events_per_s": rate or None,
        "watchers": watchers,
        "frames": frames,
        "frames_per_s": frames / elapsed,
        "events": driver["answered"],
        "events_per_s": driver["answered"] / elapsed,
        "gaps": sum(a["gaps"] + a["dups"] for a in lots),
        "closed": sum(a["closed"] for a in lots),
        "refused": driver["refused"],
        "generator_cpu": round(sum(r["cpu"] for r in results) + driver["cpu"], 2),
        "reader_cpu": [round(r["cpu"], 2) for r in results],
        "reader_cpu_system": [round(r["cpu_system"], 2) for r in results],
        "driver_cpu": round(driver["cpu"], 2),
        "sweep_p99_ms": max(r["sweep_p99_ms"] for r in results),
        "sample": next((json.dumps(a["event"], separators=(",", ":")) for a in lots if a.get("event")), None),
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
                    await ws.send(json.dumps({"type": "snapshot", "lot": f["lot"], "seq": seq, "state": template["state"]},
                                             separators=(",", ":")))
                elif f.get("type") == "bid":
                    seq += 1
                    broadcast(subscribers, json.dumps({**template, "seq": seq}, separators=(",", ":")))
                    await ws.send(json.dumps({"type": "ack", "id": f["id"], "lot": f["lot"], "ok": True, "seq": seq},
                                             separators=(",", ":")))
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
