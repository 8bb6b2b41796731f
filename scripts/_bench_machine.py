"""What the machine's disk and Redis allow, measured at the start of a bench run.

A sale-day ack waits for a fenced append, and with `appendfsync always` that append waits for an
fsync of the AOF. Two machines "of the same kind" can differ 3x in fsync latency, so every table the
bench prints carries these figures: without them a reader cannot tell a slow engine from a slow disk.
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


def calibrate(data_dir: Path, redis_url: str, samples: int = 200) -> dict[str, Any]:
    """fsync in the bench's data dir, PING and one fenced Lua append to the bench's redis-server."""
    rtt = asyncio.run(_redis_rtt(redis_url, samples))
    return {"fsync": fsync_latency(data_dir, samples), "redis_ping": rtt["ping"], "fenced_append": rtt["fenced_append"]}


def describe(cal: dict[str, Any]) -> str:
    """One line to print beside every table."""
    f, p, a = cal["fsync"], cal["redis_ping"], cal["fenced_append"]
    return (f"this machine: write+fsync p50 {f['p50_ms']:.2f} / p99 {f['p99_ms']:.2f} ms (n={f['n']}); "
            f"Redis PING p50 {p['p50_ms']:.2f} / p99 {p['p99_ms']:.2f} ms; "
            f"one fenced append (fsync always) p50 {a['p50_ms']:.2f} / p99 {a['p99_ms']:.2f} ms")
