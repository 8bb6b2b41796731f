"""The engine's settings: command-line flags over environment variables over defaults."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

SQL_WRITERS = ("process", "thread")  # "thread" costs a process less, and takes the GIL from the loop when busy


Number = TypeVar("Number", int, float)


def env_number(env: Mapping[str, str], name: str, kind: type[Number], default: Number) -> Number:
    """The setting `name` as a non-negative, finite `kind`; `default` when unset. A typo in a deployment's
    settings stops the engine at start with the setting's name, rather than with a traceback, or with a
    NaN or a negative period that every comparison later gets wrong."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SystemExit(f"{name} must be {'an integer' if kind is int else 'a number'}, not {raw!r}") from None
    if not 0 <= value < math.inf:
        raise SystemExit(f"{name} must be zero or more and finite, not {raw!r}")
    return value


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = field(default_factory=lambda: Path("./auction-data"))
    redis_url: str | None = None
    database_url: str | None = None
    escrow_url: str | None = None
    escrow_secret: str | None = None
    auth_secret: str | None = None
    metrics_token: str | None = None  # what /metrics asks for; else <data dir>/metrics-token (app.metrics_token_of)
    snapshot_every: int = 256
    send_queue_limit: int = 1024
    feed_coalesce_ms: int = 25  # a lot with 100+ watchers is written to at most once per this (lotfeed.py); 0: off
    so_sndbuf: int | None = None
    bid_rate: float = 20.0
    bid_burst: int = 40
    max_body: int = 64 * 1024
    bidder_token_ttl_s: int = 12 * 3600
    staff_token_ttl_s: int = 12 * 3600
    catalogue_flush_s: float = 0.5
    timer_delay_ms: int = 0  # tests only: every lot timer fires this late (the outcome must not change)
    escrow_retry_base_s: float = 0.5
    escrow_retry_cap_s: float = 60.0
    escrow_poll_s: float = 2.0
    escrow_lease_s: float = 30.0
    redis_restart_s: float = 0.2  # first wait before restarting a dead embedded redis-server, doubling to 5 s
    # The edge (auction_engine/guard.py): sockets at once, in total and from one address, and how
    # long a request head and then its body may take. Loopback load tests raise the per-IP cap.
    max_connections: int = 15_000
    max_connections_per_ip: int = 1024
    header_timeout_s: float = 10.0
    request_timeout_s: float = 30.0
    keep_alive_s: int = 5
    anonymous_page: int = 500  # the largest history page for watchers and bidders; `verify` needs more
    anonymous_reads_per_s: float = 20.0  # per IP, for readers without a token
    settled_in_memory: int = 64  # settled lots read back on demand, least recently used evicted
    allowed_origins: tuple[str, ...] = ()  # browser origins for /ws besides the engine's own
    # Scale-out (docs/scale.md): set `node_id` to run as one node of many on a shared Redis
    # (`redis_cluster` for Redis Cluster) and a shared database; unset, the engine owns every lot.
    node_id: str | None = None
    redis_cluster: bool = False
    advertise_url: str | None = None  # the URL other nodes and clients may reach this node at
    lease_ms: int = 3000  # a dead node's lots are taken over within about this long
    forward_timeout_s: float = 5.0  # a command for a lot owned elsewhere waits this long for any owner
    outage_grace_ms: int = 10_000  # added to an open timed lot's end after a takeover from a dead node
    outage_min_ms: int = 1000  # a writer gap shorter than this (a hand-over) gives no time back
    min_replicas: int | None = None  # acks wait until this many Redis replicas hold the entry (Redis WAIT);
    # None: 1 on a Redis Cluster, 0 on a standalone Redis
    replica_wait_ms: int = 200
    ending_soon_s: int = 60  # bidders and watchers of a lot are alerted this long before its end (0: never)
    metrics_every_s: float = 1.0  # /metrics text made at most this often, however often it is asked (scrape.py)
    sql_writer: str = "process"  # where the sale's SQL writes run: "process" (store/writerproc.py) or "thread"

    @classmethod
    def from_env(cls, **overrides: object) -> Config:
        env = os.environ
        cfg = cls(
            redis_url=env.get("REDIS_URL") or None,
            database_url=env.get("DATABASE_URL") or None,
            escrow_url=env.get("ESCROW_URL") or None,
            escrow_secret=env.get("ESCROW_SECRET") or None,
            auth_secret=env.get("AUTH_SECRET") or None,
            metrics_token=env.get("METRICS_TOKEN") or None,
            timer_delay_ms=env_number(env, "AUCTION_TIMER_DELAY_MS", int, 0),
            node_id=env.get("NODE_ID") or None,
            redis_cluster=env.get("REDIS_CLUSTER", "") in ("1", "true", "yes"),
        )
        for name, kind in (("send_queue_limit", int), ("feed_coalesce_ms", int), ("bid_rate", float), ("bid_burst", int),
                           ("snapshot_every", int),
                           ("so_sndbuf", int),
                           ("bidder_token_ttl_s", int), ("staff_token_ttl_s", int),
                           ("escrow_retry_base_s", float), ("escrow_retry_cap_s", float),
                           ("escrow_poll_s", float), ("escrow_lease_s", float), ("redis_restart_s", float),
                           ("max_connections", int), ("max_connections_per_ip", int), ("header_timeout_s", float),
                           ("request_timeout_s", float), ("keep_alive_s", int), ("anonymous_page", int),
                           ("anonymous_reads_per_s", float), ("settled_in_memory", int),
                           ("lease_ms", int), ("forward_timeout_s", float), ("outage_grace_ms", int),
                           ("outage_min_ms", int), ("min_replicas", int), ("replica_wait_ms", int),
                           ("ending_soon_s", int), ("metrics_every_s", float), ("sql_writer", str)):
            key = f"AUCTION_{name.upper()}"
            if env.get(key):
                setattr(cfg, name, env[key] if kind is str else env_number(env, key, kind, getattr(cfg, name)))
        if env.get("AUCTION_ALLOWED_ORIGINS"):
            cfg.allowed_origins = tuple(o.strip().rstrip("/") for o in env["AUCTION_ALLOWED_ORIGINS"].split(",") if o.strip())
        if env.get("AUCTION_ADVERTISE_URL"):
            cfg.advertise_url = env["AUCTION_ADVERTISE_URL"]
        if env.get("AUCTION_DATA_DIR"):
            cfg.data_dir = Path(env["AUCTION_DATA_DIR"])
        for key, override in overrides.items():
            if override is not None:
                setattr(cfg, key, override)
        if cfg.sql_writer not in SQL_WRITERS:
            raise SystemExit(f"AUCTION_SQL_WRITER must be one of {', '.join(SQL_WRITERS)}, not {cfg.sql_writer!r}")
        if cfg.min_replicas is None:
            cfg.min_replicas = 1 if cfg.redis_cluster else 0
        cfg.data_dir = Path(cfg.data_dir).resolve()
        return cfg
