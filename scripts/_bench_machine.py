"""What the machine's disk, Redis and cores allow, measured at the start of a bench run.

A sale-day ack waits for a fenced append, and with `appendfsync always` that append waits for an
fsync of the AOF. Two machines "of the same kind" can differ 3x in fsync latency, so every table the
bench prints carries these figures: without them a reader cannot tell a slow engine from a slow disk.

The cores differ too. Most of a sale day's engine CPU is not Python but the kernel's loopback TCP:
one `send` per watcher per event, each waking a reader in another process (issue 18, 2026-11-27: two
machines of this kind gave a 2x apart sale day on disks of the same speed). So the line also gives the
CPU one such write costs the writer, and the CPU of encoding one event frame in Python.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import hdrh.histogram

Item = tuple[bytes, bytes, bytes, bytes, bytes]
_CALIBRATION_LOT = "BENCH-CALIBRATE"
_RECORD = b"x" * 120 + b"\n"  # about one AOF record of a bid (XADD + HSET in a MULTI)


def _summary(samples_us: list[int]) -> dict[str, float]:
    hist = hdrh.histogram.HdrHistogram(1, 60_000_000, 3)
    for us in samples_us:
        hist.record_value(max(1, us))
    return {"n": len(samples_us), "p50_ms": hist.get_value_at_percentile(50) / 1000,
            "p99_ms": hist.get_value_at_percentile(99) / 1000, "max_ms": hist.get_max_value() / 1000}


def _elapsed_us(t: float) -> int:
    return int((time.perf_counter() - t) * 1e6)


def fsync_latency(directory: Path, samples: int = 200) -> dict[str, float]:
    """A small append + os.fsync, as Redis does once per event-loop turn under appendfsync always."""
    path = directory / "fsync-probe.bin"
    taken: list[int] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(samples):
            t = time.perf_counter()
            os.write(fd, _RECORD)
            os.fsync(fd)
            taken.append(_elapsed_us(t))
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return _summary(taken)


async def _redis_rtt(redis_url: str, samples: int) -> dict[str, dict[str, float]]:
    from redis.asyncio import Redis

    from auction_engine.stream import RedisLog, ids_key, log_key, meta_key

    redis = Redis.from_url(redis_url)
    try:
        pings: list[int] = []
        for _ in range(samples):
            t = time.perf_counter()
            await redis.ping()
            pings.append(_elapsed_us(t))
        log = RedisLog(redis)
        epoch = await log.claim(_CALIBRATION_LOT)
        appends: list[int] = []
        seq = await log.last_seq(_CALIBRATION_LOT)
        for i in range(max(1, samples // 4)):
            item: Item = (b"calibrate", b"0" * 32, b"{}", f"c-{i}".encode(), b"\x80")
            t = time.perf_counter()
            seq = await log.append(_CALIBRATION_LOT, seq, epoch, [item])
            appends.append(_elapsed_us(t))
        await redis.delete(log_key(_CALIBRATION_LOT), meta_key(_CALIBRATION_LOT), ids_key(_CALIBRATION_LOT))
        return {"ping": _summary(pings), "fenced_append": _summary(appends)}
    finally:
        await redis.aclose()


_READER = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
while s.recv(65536):
    pass
"""
_FRAME = b"\x81\x7e\x01\x90" + b"x" * 400  # a text frame of 400 bytes, about one event with its public state


def socket_write_cpu(samples: int = 1000, pause_s: float = 0.0005) -> dict[str, float]:
    """The writer's CPU for one `send` of a 400-byte frame on loopback TCP to a reader in another process
    that sleeps in `recv` between frames, as an idle watcher does: what one watcher's copy of one event
    costs the engine, kernel included (thread CPU time, so the reader's own CPU is not counted)."""
    import socket
    import subprocess
    import sys

    with socket.create_server(("127.0.0.1", 0)) as server:
        reader = subprocess.Popen([sys.executable, "-c", _READER, str(server.getsockname()[1])])
        try:
            conn, _ = server.accept()
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                taken: list[int] = []
                for _ in range(samples):
                    time.sleep(pause_s)
                    t = time.thread_time_ns()
                    conn.sendall(_FRAME)
                    taken.append((time.thread_time_ns() - t) // 1000)
        finally:
            reader.wait(10)
    return _summary(taken)


def encode_cpu(samples: int = 2000) -> dict[str, float]:
    """The CPU of encoding one event frame as JSON, the engine's one Python step per event: a plain
    measure of the core's speed for the interpreter's work."""
    import json

    state = {"lot": "SALE-0001", "title": "2019 Volkswagen Passat 330TSI", "format": "english", "mode": "timed",
             "status": "open", "result": None, "currency": "CNY", "start_price": 5_000_000, "price": 5_630_000,
             "next_min": 5_650_000, "leader": "P-1042", "bids": 37, "buy_now": None, "starts_at": 1_795_000_000_000,
             "opened_at": 1_795_000_000_000, "ends_at": 1_795_000_040_000, "remaining_ms": None, "closed_at": None,
             "extensions": 3, "fair_warning": False, "outage_ms": 0, "correction": None, "pre_bids": 0}
    taken: list[int] = []
    for seq in range(samples):
        t = time.thread_time_ns()
        json.dumps({"type": "event", "lot": "SALE-0001", "seq": seq, "kind": "bid", "at": 1_795_000_000_000,
                    "state": state}, separators=(",", ":"))
        taken.append((time.thread_time_ns() - t) // 1000)
    return _summary(taken)


def calibrate(data_dir: Path, redis_url: str, samples: int = 200) -> dict[str, Any]:
    """fsync in the bench's data dir, PING and one fenced Lua append to the bench's redis-server, one
    loopback write to another process and one event frame's JSON (CPU)."""
    rtt = asyncio.run(_redis_rtt(redis_url, samples))
    return {"fsync": fsync_latency(data_dir, samples), "redis_ping": rtt["ping"], "fenced_append": rtt["fenced_append"],
            "socket_write": socket_write_cpu(), "encode": encode_cpu()}


def describe(cal: dict[str, Any]) -> str:
    """One line to print beside every table."""
    f, p, a = cal["fsync"], cal["redis_ping"], cal["fenced_append"]
    return (f"this machine: write+fsync p50 {f['p50_ms']:.2f} / p99 {f['p99_ms']:.2f} ms (n={f['n']}); "
            f"Redis PING p50 {p['p50_ms']:.2f} / p99 {p['p99_ms']:.2f} ms; "
            f"one fenced append (fsync always) p50 {a['p50_ms']:.2f} / p99 {a['p99_ms']:.2f} ms; "
            f"CPU of a loopback send to a sleeping reader p50 {cal['socket_write']['p50_ms'] * 1000:.0f} us, "
            f"of an event frame's JSON p50 {cal['encode']['p50_ms'] * 1000:.0f} us"
            + (f"; redis-server's every fsync held {cal['disk_delay_us']:,} us longer (--disk-delay-us, strace)"
               if cal.get("disk_delay_us") else ""))


# -- the disk during a run: how long fsync stalled, and the ack latency that alone forces --

PROBE_INTERVAL_S = 0.01


class StallProbe:
    """A small append + fsync every 10 ms in the data dir's filesystem, for as long as a scenario runs.

    Why: the start-of-run calibration (200 fsyncs, a fraction of a second) sees a disk that stalls a few
    times a minute as fast. On the machine of issue 18 the AOF's fsync took 0.27 ms at p50 and 160-330 ms
    a few times in a 40 s sale day (`strace -T` of redis-server), and under `appendfsync always` every
    append in the whole server waits for the fsync in progress. The probe shows what the disk did in
    each scenario, whatever the server's fsync policy; it does not stand for the server's own fsyncs,
    which it neither times nor always meets in the same stall (redis-server's latency monitor does:
    see `wait_floor`). It runs in a session of its own so that the generator's CPU does not stretch it."""

    def __init__(self, directory: Path) -> None:
        import subprocess
        import sys

        self.out = directory / "stall-probe.txt"
        self.window: list[float] = []
        self.proc = subprocess.Popen([sys.executable, __file__, "probe", str(directory), str(self.out)],
                                     start_new_session=True)

    def phase(self, name: str) -> None:
        """loadtest's phases: the window its bids are sent in ("start" to "stop") is what counts."""
        if name in ("start", "stop"):
            self.window.append(time.monotonic())

    def stop(self) -> dict[str, Any]:
        """What the disk did in the load window (the whole run without one): see `stall_figures`, and
        `over_at`, each stall over its limit as (second of the window, ms)."""
        import signal

        ended = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        samples = [(float(at), float(ms)) for at, ms in (line.split() for line in self.out.read_text().splitlines())
                   if ms]
        first, last = (self.window[0], self.window[-1]) if len(self.window) >= 2 else (samples[0][0] if samples else 0, ended)
        inside = [(at, ms) for at, ms in samples if first <= at <= last]
        figures: dict[str, Any] = dict(stall_figures([ms for _, ms in inside], last - first))
        figures["over_at"] = [(int(at - first), ms) for at, ms in inside if ms > figures["over_ms"]]
        return figures


def waiting_share(stalls_ms: list[float], elapsed_s: float, x_ms: float) -> float:
    """The share of a run's evenly spread arrivals that wait longer than `x_ms` behind these stalls.

    An append that arrives while a stall of D ms is in progress waits for the rest of it: between 0 and
    D ms, evenly. So the time in which an arrival waits longer than x is the sum of max(0, D - x)."""
    return sum(d - x_ms for d in stalls_ms if d > x_ms) / max(elapsed_s * 1000, 1e-9)


def wait_floor(stalls_ms: list[float], elapsed_s: float, share: float = 0.01) -> float:
    """The smallest x for which at most `share` of the arrivals wait longer than x ms behind these stalls:
    with `share` 0.01, a floor under the ack p99 that no engine beats while every ack waits for them."""
    lo, hi = 0.0, max(stalls_ms, default=0.0)
    while hi - lo > 0.05:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if waiting_share(stalls_ms, elapsed_s, mid) > share else (lo, mid)
    return hi


def stall_figures(taken_ms: list[float], elapsed_s: float, over_ms: float = 20.0) -> dict[str, float]:
    """The probe's fsyncs over a run of `elapsed_s`: their spread, and how much of the run they stalled."""
    return {
        **_summary([int(ms * 1000) for ms in taken_ms]),
        "over": len([d for d in taken_ms if d > over_ms]),
        "over_ms": over_ms,
        "stalled_share": waiting_share(taken_ms, elapsed_s, over_ms),
    }


def describe_stalls(s: dict[str, Any]) -> str:
    worst = sorted(s.get("over_at", []), key=lambda at_ms: -at_ms[1])[:5]
    where = f" (worst at: {', '.join(f't+{at}s {ms:.0f}' for at, ms in worst)})" if worst else ""
    return (f"a probe's write+fsync every {PROBE_INTERVAL_S * 1000:.0f} ms (n={s['n']:,.0f}): p50 {s['p50_ms']:.2f} / "
            f"p99 {s['p99_ms']:.2f} / max {s['max_ms']:.0f} ms, {s['over']:.0f} over {s['over_ms']:.0f} ms{where}, "
            f"which stalled {s['stalled_share']:.2%} of the window by more than {s['over_ms']:.0f} ms")


def _probe(directory: Path, out: Path) -> None:
    import signal

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    path = directory / "stall-probe.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        with open(out, "w", buffering=1) as taken:  # a line per fsync, as it goes
            while not stop:
                t = time.perf_counter()
                os.write(fd, _RECORD)
                os.fdatasync(fd)
                taken.write(f"{time.monotonic():.4f} {(time.perf_counter() - t) * 1000:.3f}\n")
                time.sleep(PROBE_INTERVAL_S)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["probe"]:
        _probe(Path(sys.argv[2]), Path(sys.argv[3]))
