"""metrics.py: each metric is defined once per process, under the name the dashboards and alerts
use, and its help text says what it counts."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

from auction_engine import metrics

EXPECTED = {
    "auction_bids_accepted_total", "auction_bids_refused_total", "auction_append_seconds", "auction_batch_entries",
    "auction_open_lots", "auction_connections", "auction_slow_consumers_total", "auction_loop_lag_seconds",
    "auction_stage_seconds", "auction_lots_owned", "auction_takeovers_total", "auction_forwarded_total",
    "auction_forward_seconds", "auction_append_pipeline_seconds", "auction_append_pipeline_appends",
}


def test_every_metric_the_dashboards_name_is_exposed_with_a_help_text() -> None:
    text = generate_latest(REGISTRY).decode()
    for name in EXPECTED:
        assert f"# HELP {name} " in text or f"# HELP {name.removesuffix('_total')}_total " in text, name


def test_the_scale_out_metrics_count_what_they_say() -> None:
    before = REGISTRY.get_sample_value("auction_forwarded_total", {"outcome": "answered"}) or 0.0
    metrics.FORWARDED.labels("answered").inc()
    assert REGISTRY.get_sample_value("auction_forwarded_total", {"outcome": "answered"}) == before + 1
    metrics.LOTS_OWNED.set(3)
    assert REGISTRY.get_sample_value("auction_lots_owned") == 3
