"""The bench reads p50/p99 per stage from the engine's /metrics text, and skips what is absent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from _bench_metrics import stage_latencies  # noqa: E402


def exposition(observations: dict[str, list[float]]) -> str:
    """Real /metrics text from prometheus_client, as the engine serves it."""
    registry = CollectorRegistry()
    stage = Histogram("auction_stage_seconds", "per stage", ["stage"], buckets=(0.001, 0.01, 0.1), registry=registry)
    for name, values in observations.items():
        for v in values:
            stage.labels(stage=name).observe(v)
    return generate_latest(registry).decode()


def test_each_stage_gets_its_percentiles_from_the_buckets() -> None:
    text = exposition({"queued": [0.0005] * 99 + [0.05], "appended": [0.005] * 100})
    got = {s.name: s for s in stage_latencies(text)}
    assert got["auction_stage_seconds{stage=queued}"].count == 100
    assert got["auction_stage_seconds{stage=queued}"].p50_ms == pytest.approx(0.505, abs=0.01)
    assert 1.0 <= got["auction_stage_seconds{stage=queued}"].p99_ms <= 10.0
    assert 1.0 <= got["auction_stage_seconds{stage=appended}"].p50_ms <= 10.0


def test_absent_histograms_give_nothing() -> None:
    assert stage_latencies("# no metrics here\nauction_open_lots 3.0\n") == []
