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


def test_the_loops_own_metrics_expose_what_prometheus_clients_would() -> None:
    """A bid's metrics are plain numbers read at scrape time (LoopMetric); the text a scraper gets is
    the one prometheus_client's Histogram and Counter give for the same observations."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    reference = CollectorRegistry()
    stage = Histogram("auction_stage_seconds", "x", ["stage"], buckets=metrics.STAGE_BUCKETS, registry=reference)
    refused = Counter("auction_bids_refused_total", "x", ["reason"], registry=reference)
    ours_stage = metrics.LoopMetric("auction_stage_seconds", "x", ["stage"], buckets=metrics.STAGE_BUCKETS,
                                    collected=False)
    ours_refused = metrics.LoopMetric("auction_bids_refused_total", "x", ["reason"], collected=False)
    for value in (0.00005, 0.0003, 0.02, 1.0, 2.0):  # on a bound, between bounds, past the last
        stage.labels("queued").observe(value)
        ours_stage.labels("queued").observe(value)
    refused.labels("too_low").inc(3)
    ours_refused.labels("too_low").inc(3)
    theirs = {line for line in generate_latest(reference).decode().splitlines()
              if not line.startswith("#") and "_created" not in line}
    ours = {line for metric in (ours_stage, ours_refused) for line in _exposition(metric)}
    assert ours == theirs


def test_a_labelled_loop_metric_wants_its_label_values() -> None:
    import pytest

    with pytest.raises(ValueError, match="1 label values expected"):
        metrics.BIDS_REFUSED.labels()


def _exposition(metric: metrics.LoopMetric) -> list[str]:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(_One(metric))
    return [line for line in generate_latest(registry).decode().splitlines() if not line.startswith("#")]


class _One:
    def __init__(self, metric: metrics.LoopMetric) -> None:
        self.metric = metric

    def collect(self) -> list[object]:
        return [self.metric.family()]
