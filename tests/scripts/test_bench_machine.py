"""The arithmetic the sale-day bench prints beside its ack figures: how much of a run's appends a
disk's stalls alone hold up (scripts/_bench_machine.py), and the probe that times the disk."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import _bench_machine as machine  # noqa: E402


def test_an_arrival_during_a_stall_waits_for_the_rest_of_it() -> None:
    # one 300 ms stall in 10 s: arrivals in its first 280 ms wait more than 20 ms, 2.8% of them
    assert machine.waiting_share([300.0], 10.0, 20.0) == pytest.approx(0.028)
    assert machine.waiting_share([300.0, 15.0], 10.0, 20.0) == pytest.approx(0.028), "a short fsync holds no one 20 ms"
    assert machine.waiting_share([], 10.0, 20.0) == 0.0


def test_the_p99_floor_is_where_one_arrival_in_a_hundred_still_waits_longer() -> None:
    # 300 ms in 10 s: waiting longer than x for (300 - x) ms of 10,000 -> 1% at x = 200
    assert machine.wait_floor([300.0], 10.0) == pytest.approx(200.0, abs=0.1)
    # two stalls share the 1%: (250 - x) + (330 - x) = 100 -> x = 240
    assert machine.wait_floor([250.0, 330.0], 10.0) == pytest.approx(240.0, abs=0.1)
    # a stall shorter than the floor adds nothing to it: 330 - x = 100 -> x = 230
    assert machine.wait_floor([160.0, 330.0], 10.0) == pytest.approx(230.0, abs=0.1)
    assert machine.wait_floor([50.0], 40.0) == pytest.approx(0.0, abs=0.1), "stalls shorter than 1% of the run set no floor"


def test_the_probe_times_fsyncs_only_inside_the_load_window(tmp_path) -> None:
    probe = machine.StallProbe(tmp_path)
    before = _lines(probe, 1)  # running
    probe.phase("start")
    _lines(probe, before + 5)
    probe.phase("stop")
    _lines(probe, before + 10)  # and some after the window, which do not count
    figures = probe.stop()
    assert probe.proc.returncode == 0
    assert 5 <= figures["n"] < before + 10
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert not (tmp_path / "stall-probe.bin").exists(), "it leaves no file behind"


def _lines(probe: machine.StallProbe, at_least: int) -> int:
    """Wait until the probe has timed `at_least` fsyncs (it writes a line per fsync as it goes)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        n = len(probe.out.read_text().splitlines()) if probe.out.exists() else 0
        if n >= at_least:
            return n
        time.sleep(0.01)
    raise AssertionError(f"the probe timed fewer than {at_least} fsyncs in 30 s")


def test_the_machine_line_gives_the_cpu_of_a_loopback_send_and_of_an_event_frame() -> None:
    sends, frames = machine.socket_write_cpu(samples=50, pause_s=0.0002), machine.encode_cpu(samples=50)
    assert sends["n"] == 50 and frames["n"] == 50
    assert 0 < sends["p50_ms"] <= sends["p99_ms"] < 50, "a send's CPU, in ms: microseconds, not a stall"
    line = machine.describe({"fsync": {"n": 1, "p50_ms": 0.2, "p99_ms": 0.4}, "redis_ping": {"p50_ms": 0.1, "p99_ms": 0.2},
                             "fenced_append": {"p50_ms": 0.7, "p99_ms": 2.0}, "socket_write": sends, "encode": frames})
    assert f"loopback send to a sleeping reader p50 {sends['p50_ms'] * 1000:.0f} us" in line
    assert "event frame's JSON p50" in line
