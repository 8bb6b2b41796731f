"""Prometheus metrics, defined once per process (tests start several engines in one)."""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

STAGE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
COUNT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

BIDS_ACCEPTED = Counter("auction_bids_accepted_total", "Bids accepted (including buy-now)")
BIDS_REFUSED = Counter("auction_bids_refused_total", "Commands refused, by reason", ["reason"])
APPEND_SECONDS = Histogram(
    "auction_append_seconds", "Decide + append of one batch to the lot's stream",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
BATCH_SIZE = Histogram(
    "auction_batch_entries", "Entries per group-committed append", buckets=COUNT_BUCKETS,
)
OPEN_LOTS = Gauge("auction_open_lots", "Lots not closed")
LOTS_IN_MEMORY = Gauge("auction_lots_in_memory", "Lots with an actor; settled lots are read back on demand")
CONNECTIONS = Gauge("auction_connections", "Open WebSocket connections")
SEND_QUEUE = Gauge("auction_send_queue_frames", "Frames waiting in all connections' send queues")
SLOW_CONSUMERS = Counter("auction_slow_consumers_total", "Connections dropped for falling behind")
CONNECTIONS_REFUSED = Counter(
    "auction_connections_cut_total", "TCP connections refused at the cap or cut at a request deadline", ["why"],
)
WS_FRAMES = Counter(
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
STAGE_SECONDS = Histogram(
    "auction_stage_seconds",
    "Where a lot's time goes: queued (a command's receipt to the start of its batch), then each stage of the batch: "
    "decided (rules and credit), appended (the fenced append), answered (acks, events, notices)",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
PIPELINE_SECONDS = Histogram(
    "auction_append_pipeline_seconds",
    "The appended stage split (tickpipe.py, a single Redis): waiting (an append queued behind the batch in flight), "
    "round_trip (its batch sent to Redis and answered), resumed (the answer set to the lot's actor running again)",
    ["phase"],
    buckets=STAGE_BUCKETS,
)
PIPELINE_APPENDS = Histogram(
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

