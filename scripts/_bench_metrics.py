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

HISTOGRAMS = ("auction_stage_seconds", "auction_append_seconds", "auction_append_pipeline_seconds", "auction_gc_pause_seconds")


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


# -- second by second: where the time went while it went ------------------------------------------

TIMELINE_SERIES = {
    "bids": 'auction_stage_seconds{stage="queued"}',
    "lag": "auction_loop_lag_seconds",
    "append": "auction_append_seconds",
    "waiting": 'auction_append_pipeline_seconds{phase="waiting"}',
    "round_trip": 'auction_append_pipeline_seconds{phase="round_trip"}',
    "resumed": 'auction_append_pipeline_seconds{phase="resumed"}',
    "per_trip": "auction_append_pipeline_appends",
}


def _exposed(series: str, suffix: str) -> str:
    """How /metrics names a series' `_sum` or `_count`: the suffix goes before the labels."""
    base, _, labels = series.partition("{")
    return f"{base}{suffix}{{{labels}" if labels else f"{base}{suffix}"


_TIMELINE_KEYS = {_exposed(series, suffix): f"{series}{suffix}"
                  for series in TIMELINE_SERIES.values() for suffix in ("_sum", "_count")}


def sums_and_counts(metrics_text: str) -> dict[str, float]:
    """`<series>_sum`, `<series>_count` of TIMELINE_SERIES and the engine's CPU seconds, from /metrics."""
    out: dict[str, float] = {}
    for line in metrics_text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == "process_cpu_seconds_total":
            out["cpu"] = float(value)
        elif key in _TIMELINE_KEYS:
            out[_TIMELINE_KEYS[key]] = float(value)
    return out


class Timeline:
    """The engine's /metrics read every `every` seconds in a thread while a scenario runs.

    Why: a p99 over a whole run does not say when or where. In the sale day of 2026-11-27 the per-second
    means showed the appends' round trips growing with the loop's lag, not with Redis (a turn of the loop
    of 20 ms, a batch's round trip of 50, with Redis at 6% of a core), which no end-of-run histogram did."""

    def __init__(self, url: str, headers: dict[str, str], every: float = 2.0) -> None:
        import threading

        self.url = url
        self.headers = headers  # the metrics token
        self.every = every
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-timeline", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import time

        import httpx

        with httpx.Client(timeout=5, headers=self.headers) as http:
            while not self._stop.is_set():
                try:
                    text = http.get(f"{self.url}/metrics").text
                except httpx.HTTPError:
                    pass
                else:
                    self.samples.append((time.time(), sums_and_counts(text)))
                self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def rows(self, start: float, stop: float, step: float = 2.0) -> list[dict[str, float]]:
        return timeline_rows(self.samples, start, stop, step)


def timeline_rows(samples: list[tuple[float, dict[str, float]]], start: float, stop: float,
                  step: float = 2.0) -> list[dict[str, float]]:
    """Per `step` seconds from wall-clock `start` to `stop`: the engine's CPU share, bids queued per
    second, and the mean of each series in ms (appends per round trip for `per_trip`)."""
    kept = [(t, v) for t, v in samples if start - step <= t <= stop + step]
    out: list[dict[str, float]] = []
    i = 0
    while i < len(kept) - 1:
        j = i + 1
        while j < len(kept) - 1 and kept[j][0] - kept[i][0] < step:
            j += 1
        (t0, a), (t1, b) = kept[i], kept[j]
        elapsed = max(t1 - t0, 1e-9)
        row = {"t": t0 - start, "cpu": (b.get("cpu", 0) - a.get("cpu", 0)) / elapsed}
        for name, series in TIMELINE_SERIES.items():
            n = b.get(f"{series}_count", 0) - a.get(f"{series}_count", 0)
            total = b.get(f"{series}_sum", 0) - a.get(f"{series}_sum", 0)
            if name == "bids":
                row[name] = n / elapsed
            elif name == "per_trip":
                row[name] = total / n if n else 0.0
                row["trips"] = n / elapsed
            else:
                row[name] = 1000 * total / n if n else 0.0
        out.append(row)
        i = j
    return out
