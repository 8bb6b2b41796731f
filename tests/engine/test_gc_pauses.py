"""Garbage collection stops the event loop, and no other figure shows it: every pass is timed into
`auction_gc_pause_seconds`, by generation (metrics.time_gc, installed by `serve`)."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY, generate_latest

from auction_engine import metrics

from ..conftest import METRICS_AUTH


def _passes(generation: int) -> int:
    return sum(metrics.labelled(metrics.GC_PAUSE_SECONDS, str(generation)).counts)


def test_every_collection_is_timed_by_generation_and_scraped() -> None:
    timed = metrics.time_gc()
    try:
        before = [_passes(g) for g in range(3)]
        garbage = [[] for _ in range(1000)]
        for item in garbage:
            item.append(item)  # cycles: only a collection frees them
        del garbage, item
        gc.collect(0)
        gc.collect(2)
        after = [_passes(g) for g in range(3)]
    finally:
        gc.callbacks.remove(timed)
    assert after[0] >= before[0] + 1 and after[2] >= before[2] + 1
    text = generate_latest(REGISTRY).decode()
    assert 'auction_gc_pause_seconds_bucket{generation="2",le="0.001"}' in text
    assert f'auction_gc_pause_seconds_count{{generation="2"}} {float(after[2])}' in text


def test_the_engine_serves_its_own_passes(engine) -> None:
    import httpx

    text = httpx.get(f"{engine.url}/metrics", headers=METRICS_AUTH, timeout=10).text
    counts = {line.split("}")[0].split('"')[1]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line.startswith("auction_gc_pause_seconds_count")}
    assert set(counts) == {"0", "1", "2"} and counts["0"] > 0, counts
