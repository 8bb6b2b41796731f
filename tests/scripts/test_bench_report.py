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
