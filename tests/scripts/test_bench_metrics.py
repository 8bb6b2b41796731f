"""The bench reads p50/p99 per stage from the engine's /metrics text, and skips what is absent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from _bench_metrics import stage_latencies, sums_and_counts, timeline_rows  # noqa: E402


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


def test_the_timeline_reads_sums_and_counts_of_its_series_and_the_engines_cpu() -> None:
    registry = CollectorRegistry()
    stage = Histogram("auction_stage_seconds", "per stage", ["stage"], buckets=(0.01,), registry=registry)
    append = Histogram("auction_append_seconds", "append", buckets=(0.01,), registry=registry)
    for _ in range(4):
        stage.labels(stage="queued").observe(0.002)
        stage.labels(stage="decided").observe(1.0)  # not a timeline series: left out
    append.observe(0.03)
    text = generate_latest(registry).decode() + "process_cpu_seconds_total 12.5\n"
    got = sums_and_counts(text)
    assert got['auction_stage_seconds{stage="queued"}_count'] == 4
    assert got['auction_stage_seconds{stage="queued"}_sum'] == pytest.approx(0.008)
    assert got["auction_append_seconds_count"] == 1
    assert got["cpu"] == 12.5
    assert not any("decided" in key for key in got)


def test_the_timelines_rows_are_means_and_rates_over_each_step() -> None:
    queued, trips = 'auction_stage_seconds{stage="queued"}', "auction_append_pipeline_appends"
    samples = [
        (100.0, {"cpu": 10.0, f"{queued}_count": 0, f"{queued}_sum": 0.0, f"{trips}_count": 0, f"{trips}_sum": 0}),
        (102.0, {"cpu": 11.6, f"{queued}_count": 200, f"{queued}_sum": 1.0, f"{trips}_count": 20, f"{trips}_sum": 200}),
        (104.0, {"cpu": 12.0, f"{queued}_count": 200, f"{queued}_sum": 1.0, f"{trips}_count": 20, f"{trips}_sum": 200}),
    ]
    first, second = timeline_rows(samples, start=101.0, stop=104.0)
    assert first["t"] == -1.0
    assert first["cpu"] == pytest.approx(0.8)
    assert first["bids"] == pytest.approx(100)  # per second
    assert first["per_trip"] == pytest.approx(10)
    assert first["trips"] == pytest.approx(10)
    assert second["bids"] == 0 and second["per_trip"] == 0 and second["cpu"] == pytest.approx(0.2)
