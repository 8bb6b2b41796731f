"""What the bench prints under its table when a scenario's load test found the feeds inconsistent."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench  # noqa: E402


def test_failed_checks_are_listed_and_a_soaks_bare_flag_is_no_crash() -> None:
    """The soak keeps `consistency` as a flag; a run of `--only hot,soak` printed its whole table and
    then died reading the flag as a report (2026-11-27)."""
    results = {
        "quick": False,
        "hot": {"consistency": {"ok": False, "problems": ["watcher 3: seq 17 after 15", "lot HOT-1: final state"]}},
        "sale_day": {"consistency": {"ok": True, "problems": []}},
        "soak": {"consistency": True, "rss_per_connection_kib": 15.7},
        "sale_day_timeline": {"label": "sale day", "rows": []},
    }
    assert bench.consistency_problems(results) == [("hot", "watcher 3: seq 17 after 15"), ("hot", "lot HOT-1: final state")]
    assert bench.consistency_problems({"soak": {"consistency": True}}) == []


def test_the_disks_stalls_are_printed_with_the_second_of_the_window_they_fell_in() -> None:
    """A stall at the sale's closes (t+23 s) and one of the disk's own (t+5 s) read the same as bare
    figures; the second tells them apart."""
    import _bench_machine

    floor = {"stalls_ms": [12.0, 136.0], "stalls_at": [(5, 12.0), (23, 136.0)], "window_s": 40.0,
             "share_over_20ms": 0.0029, "p99_floor_ms": 0.0}
    assert bench.describe_floor(floor).startswith("2: 136 at t+23s, 12 at t+5s ms;")
    probe = {"n": 4000, "p50_ms": 0.3, "p99_ms": 7.7, "max_ms": 86.0, "over": 2, "over_ms": 20.0,
             "stalled_share": 0.004, "over_at": [(6, 31.0), (24, 86.0)]}
    assert "(worst at: t+24s 86, t+6s 31)" in _bench_machine.describe_stalls(probe)
    assert "worst at" not in _bench_machine.describe_stalls({**probe, "over": 0, "over_at": []})
