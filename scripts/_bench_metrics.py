"""Per-stage latency of a bid, read from the engine's own /metrics after a scenario.

The load generator sees only the whole round trip (ack latency); the engine's histograms say which
stage took the time (queued at the actor, decided, appended, answered). Percentiles come from the
cumulative buckets by linear interpolation inside a bucket, as Prometheus' histogram_quantile does,
so they are no finer than the bucket bounds. Absent histograms are skipped: an older engine has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

HISTOGRAMS = ("auction_stage_seconds", "auction_append_seconds", "auction_append_pipeline_seconds")


@dataclass(frozen=True, slots=True)
class StageLatency:
    name: str
    count: int
    p50_ms: float
    p99_ms: float


def quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Seconds at quantile q from cumulative (upper bound, count) buckets, sorted, ending at +Inf."""
    total = buckets[-1][1]
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bound: all we know is "at least this"
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


def _series_name(family: str, labels: dict[str, str]) -> str:
    rest = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "le")
    return f"{family}{{{rest}}}" if rest else family


def stage_latencies(metrics_text: str, families: tuple[str, ...] = HISTOGRAMS) -> list[StageLatency]:
    """p50/p99 of every series of the named histograms, in the order /metrics lists them."""
    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in families or family.type != "histogram":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                key = _series_name(family.name, dict(sample.labels))
                buckets.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
    out = []
    for key, rows in buckets.items():
        rows.sort()
        count = int(rows[-1][1])
        if count:
            out.append(StageLatency(key, count, 1000 * quantile(0.5, rows), 1000 * quantile(0.99, rows)))
    return out
