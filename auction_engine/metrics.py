"""Prometheus metrics, defined once per process (tests start several engines in one).

The metrics a bid touches on its way (its stages, its append, its frames, accepted and refused) are
`LoopCounter` and `LoopHistogram`: plain numbers that only the event loop's thread adds to, read
by a collector when /metrics is scraped. prometheus_client's own take a lock per call (an `inc`
~0.95 us, an `observe` ~1.6 us, against ~0.1 and ~0.25 here): at a sale day's peak the engine
spent 1-2% less CPU per bid without them (issue 18, docs/performance.md "Round ten"). The exposition
is the same: names, labels, buckets, `_sum` and `_count`; only the `_created` series are not there.
"""

from __future__ import annotations

import bisect
import functools
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class LoopCounter:
    """One series of a counter, added to by the event loop's thread only."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class LoopHistogram:
    """One series of a histogram, observed by the event loop's thread only; `counts[i]` holds the
    values in bucket i alone (not cumulative), the last one those above every bound."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.sum += value
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # le: a value on a bound is in its bucket


class LoopMetric:
    """A family of `LoopCounter`s or `LoopHistogram`s by label values; without labels it is its own
    single series (`inc` / `observe` on it directly), as prometheus_client's metrics are."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (),
                 buckets: Sequence[float] | None = None, collected: bool = True) -> None:
        """`collected=False`: /metrics does not list it (a test's family beside the engine's of that name)."""
        self.name, self.documentation, self.labelnames, self.buckets = name, documentation, tuple(labelnames), buckets
        self._les = [*map(repr, map(float, buckets)), "+Inf"] if buckets is not None else []  # the `le` labels
        self.series: dict[tuple[str, ...], Any] = {}
        self._single = None if self.labelnames else self.labels()  # exported at 0 from the start, as before
        if collected:
            _LOOP_METRICS.append(self)

    def labels(self, *values: str) -> Any:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: {len(self.labelnames)} label values expected, got {values!r}")
        series = self.series.get(values)
        if series is None:
            series = self.series[values] = LoopCounter() if self.buckets is None else LoopHistogram(self.buckets)
        return series

    def inc(self, amount: float = 1) -> None:
        assert self._single is not None, f"{self.name} has labels: inc one of its series"
        self._single.inc(amount)

    def observe(self, value: float) -> None:
        assert self._single is not None, f"{self.name} has labels: observe one of its series"
        self._single.observe(value)

    def family(self) -> Metric:
        if self.buckets is None:
            counters = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
            for values, counter in tuple(self.series.items()):  # a copy: a scrape from another thread
                counters.add_metric(list(values), counter.value)
            return counters
        histograms = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, hist in tuple(self.series.items()):
            cumulative, buckets = 0, []
            for bound, count in zip(self._les, hist.counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            histograms.add_metric(list(values), buckets, sum_value=hist.sum)
        return histograms


_LOOP_METRICS: list[LoopMetric] = []


class _LoopCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        for metric in _LOOP_METRICS:
            yield metric.family()


STAGE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
COUNT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

BIDS_ACCEPTED = LoopMetric("auction_bids_accepted_total", "Bids accepted (including buy-now)")
BIDS_REFUSED = LoopMetric("auction_bids_refused_total", "Commands refused, by reason", ["reason"])
APPEND_SECONDS = LoopMetric(
    "auction_append_seconds", "Decide + append of one batch to the lot's stream",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
BATCH_SIZE = LoopMetric(
    "auction_batch_entries", "Entries per group-committed append", buckets=COUNT_BUCKETS,
)
OPEN_LOTS = Gauge("auction_open_lots", "Lots not closed")
LOTS_IN_MEMORY = Gauge("auction_lots_in_memory", "Lots with an actor; settled lots are read back on demand")
CONNECTIONS = Gauge("auction_connections", "Open WebSocket connections")
SEND_QUEUE = Gauge("auction_send_queue_frames", "Frames waiting in all connections' send queues")
EXPOSITIONS = Counter("auction_metrics_expositions_total", "Times this text was made: at most once per metrics_every_s")
SLOW_CONSUMERS = Counter("auction_slow_consumers_total", "Connections dropped for falling behind")
CONNECTIONS_REFUSED = Counter(
    "auction_connections_cut_total", "TCP connections refused at the cap or cut at a request deadline", ["why"],
)
WS_FRAMES = LoopMetric(
    "auction_ws_frames_total",
    "WebSocket frames handed to the socket, by path: batched (the engine's WebSocket layer, one write per batch, "
    "ws_protocol.py) or asgi (one ASGI send per frame, under another server)",
    ["path"],
)
BAD_FRAMES = Counter("auction_bad_frames_total", "Frames refused before reaching a lot", ["code"])
LOOP_LAG = Histogram(
    "auction_loop_lag_seconds", "How late a 100 ms sleep wakes: time the event loop spent on something else",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CATALOGUE_FLUSH_SECONDS = Histogram(
    "auction_catalogue_flush_seconds", "One write of changed lots to the SQL catalogue",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
STAGE_SECONDS = LoopMetric(
    "auction_stage_seconds",
    "Where a lot's time goes: queued (a command's receipt to the start of its batch), then each stage of the batch: "
    "decided (rules and credit), appended (the fenced append), answered (acks, events, notices)",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
PIPELINE_SECONDS = LoopMetric(
    "auction_append_pipeline_seconds",
    "The appended stage split (tickpipe.py, a single Redis): waiting (an append queued behind the batch in flight), "
    "round_trip (its batch sent to Redis and answered), resumed (the answer set to the lot's actor running again)",
    ["phase"],
    buckets=STAGE_BUCKETS,
)
PIPELINE_APPENDS = LoopMetric(
    "auction_append_pipeline_appends", "Lots' appends per Redis round trip (tickpipe.py)",
    buckets=COUNT_BUCKETS,
)
# Scale-out (auction_engine/cluster.py): zero on a single node.
LOTS_OWNED = Gauge("auction_lots_owned", "Lots whose lease this node holds (it is their one writer)")
TAKEOVERS = Counter("auction_takeovers_total", "Lots this node took from a holder whose lease lapsed or was handed over")
FORWARDED = Counter("auction_forwarded_total", "Commands sent to the owning node's mailbox, by outcome", ["outcome"])
FORWARD_SECONDS = Histogram(
    "auction_forward_seconds", "A forwarded command from sending to the owner's answer",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
# Read at scrape time (auction_engine/scrape.py) for deploy/grafana and deploy/prometheus.
OUTBOX_PENDING = Gauge("auction_outbox_pending", "Outbox rows (escrow hand-offs) not yet delivered")
OUTBOX_OLDEST = Gauge("auction_outbox_oldest_seconds", "Age of the oldest undelivered outbox row (0 when none)")
REDIS_RTT = Gauge("auction_redis_rtt_seconds", "One PING to Redis at the last scrape (1.0 when it did not answer within 1 s)")


@functools.cache
def labelled(metric: Any, *values: str) -> Any:
    """`metric.labels(*values)`, looked up once: `labels` costs ~3 us (it validates and locks), and
    the actor asked it twice per command (a stage, a refusal's reason): 11% of its time."""
    return metric.labels(*values)


# Garbage collection stops the event loop (cli.tune_gc): a pass's length, by generation.
GC_PAUSE_SECONDS = LoopMetric(
    "auction_gc_pause_seconds", "One garbage collection pass, which the event loop waits for, by generation",
    ["generation"], buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)


def time_gc() -> Callable[[str, dict[str, int]], None]:
    """Time every collection into `auction_gc_pause_seconds` (the callback is returned: a test removes it).

    Why: a pass is invisible in every other figure, and it can be the longest stop of the loop.
    While a sale's 7,000 connections opened in four seconds, young passes took 10-17 ms each and
    one middle-generation pass 216-282 ms (docs/performance.md "Round twelve"); the same happens
    on the surviving nodes when a failed node's bidders all reconnect. The callback runs inside the
    collection, in whichever thread allocated: it only adds to plain numbers (`LoopHistogram`),
    never takes a lock that the interrupted code could be holding."""
    series = [labelled(GC_PAUSE_SECONDS, str(generation)) for generation in range(3)]
    started = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            series[info["generation"]].observe(time.perf_counter() - started[0])

    gc.callbacks.append(timed)
    return timed


REGISTRY.register(_LoopCollector())
