"""Bulk watchers (scripts/_bench_feeds.py) against the real engine: subscribed through the engine's
own protocol, they end on the engine's last seq and state, with no gap, after reads in both modes
(frames walked while subscribing, `scan` once counting)."""

from __future__ import annotations

import select
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from _bench_feeds import Reader, ReaderSpec  # noqa: E402


def test_bulk_watchers_end_on_the_engine_s_seq_and_state(engine) -> None:
    staff = engine.http()
    staff.post("/api/lots", json={"lot": "FEED-1", "title": "feeds", "currency": "EUR", "start_price": 1000,
                                  "duration_s": 600}).raise_for_status()
    staff.post("/api/lots/FEED-1/open").raise_for_status()
    bidders = [engine.http("bidder", "feed-b1"), engine.http("bidder", "feed-b2")]
    bidders[0].post("/api/lots/FEED-1/bids", json={"id": "before", "max": 5_000}).raise_for_status()
    before = staff.get("/api/lots/FEED-1").json()["seq"]

    reader = Reader(ReaderSpec(0, engine.url.replace("http", "ws", 1), "engine", ["FEED-1"], 5, duration=5))
    poller = select.epoll()
    reader.connect_all(poller)
    for _ in range(200):
        if all(f.ready for f in reader.feeds.values()):
            break
        reader.sweep(poller, 0.02)
    assert [(f.ready, f.last) for f in reader.feeds.values()] == [(True, before)] * 5  # each snapshot's seq

    reader.counting = reader.fast = True
    for i in range(30):
        placed = bidders[(i + 1) % 2].post("/api/lots/FEED-1/bids", json={"id": f"b{i}", "max": 1_000_000 + 100_000 * i})
        assert placed.status_code == 200, placed.text
        if i % 7 == 0:
            reader.sweep(poller, 0)
    state = staff.get("/api/lots/FEED-1").json()
    for _ in range(200):
        if all(f.last == state["seq"] for f in reader.feeds.values()):
            break
        reader.sweep(poller, 0.02)

    report = reader.result((0.0, 0.0), 1.0, [])["lots"]["FEED-1"]
    assert report["lasts"] == {str(state["seq"]): 5}
    assert (report["gaps"], report["dups"], report["closed"]) == (0, 0, 0)
    assert report["frames"] == 5 * (state["seq"] - before)
    assert {k: report["final"][k] for k in ("seq", "price", "leader", "bids")} == \
           {k: state[k] for k in ("seq", "price", "leader", "bids")}
