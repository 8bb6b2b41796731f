"""The engine's settings: command-line flags over environment variables over defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


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
    snapshot_every: int = 256
    send_queue_limit: int = 1024
    so_sndbuf: int | None = None
    bid_rate: float = 20.0
    bid_burst: int = 40
    max_body: int = 64 * 1024
    catalogue_flush_s: float = 0.5
    escrow_retry_base_s: float = 0.5
    escrow_retry_cap_s: float = 60.0
    escrow_poll_s: float = 2.0
    escrow_lease_s: float = 30.0

    @classmethod
    def from_env(cls, **overrides: object) -> "Config":
        env = os.environ
        cfg = cls(
            redis_url=env.get("REDIS_URL") or None,
            database_url=env.get("DATABASE_URL") or None,
            escrow_url=env.get("ESCROW_URL") or None,
            escrow_secret=env.get("ESCROW_SECRET") or None,
            auth_secret=env.get("AUTH_SECRET") or None,
        )
        for name, kind in (("send_queue_limit", int), ("bid_rate", float), ("bid_burst", int), ("snapshot_every", int), ("so_sndbuf", int),
                           ("escrow_retry_base_s", float), ("escrow_retry_cap_s", float),
                           ("escrow_poll_s", float), ("escrow_lease_s", float)):
            value = env.get(f"AUCTION_{name.upper()}")
            if value:
                setattr(cfg, name, kind(value))
        if env.get("AUCTION_DATA_DIR"):
            cfg.data_dir = Path(env["AUCTION_DATA_DIR"])
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, value)
        cfg.data_dir = Path(cfg.data_dir).resolve()
        return cfg
