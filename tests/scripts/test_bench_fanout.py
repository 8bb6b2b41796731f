"""The fan-out measurement end to end against the bare `websockets` baseline (our own script; Nchan
and Socket.IO are the bench's alone): the baseline starts and stops as a real process, bulk watchers
in a reader process see every event in order, and the driver's events are what they counted."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from _bench_baselines import start_bare  # noqa: E402
from _bench_fanout import Target, measure  # noqa: E402

from auction_engine.frames import encode_json, event_frame  # noqa: E402


def test_bare_baseline_fans_every_event_out_to_every_bulk_watcher_in_order(tmp_path: Path) -> None:
    state = {"lot": "FAN", "status": "open", "price": 1_000_000, "next_min": 1_000_100, "seq": 7}
    server = start_bare(tmp_path, encode_json(event_frame("FAN", 7, "bid_placed", 1_795_667_491_000, state)))
    try:
        assert server.cpu_s() >= 0 and server.pids()[0] == server.proc.pid
        result = measure(Target("engine", server.base), "FAN", 12, duration=1.0, readers=1, rate=50)
    finally:
        server.stop()
    assert server.proc.poll() is not None
    assert (result["gaps"], result["closed"], result["refused"]) == (0, 0, 0)
    events = result["events"]
    assert events > 10  # 50/s offered for 1 s
    # every frame counted is one of the driver's events to one watcher; most reach all 12 in the window
    assert 12 * events // 2 <= result["frames"] <= 12 * events
    assert result["generator_cpu"] >= 0
