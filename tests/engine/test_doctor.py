"""`auction-engine doctor` against real servers: a sound deployment passes, each unsafe setting is named
with its fix and makes the exit status 1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import redis

from auction_engine.placement import NODES_KEY
from auction_engine.redis_server import RedisServer, free_port
from auction_engine.store import Store

from ..conftest import ROOT, SECRET, EngineProcess

STRONG = "9f1c2e7a5b3d4c6e8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d"


def doctor(data_dir: Path, **env: str) -> tuple[int, str]:
    full = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "AUTH_SECRET", "ESCROW_SECRET", "DATABASE_URL")}
    done = subprocess.run([sys.executable, "-m", "auction_engine.cli", "doctor", "--data-dir", str(data_dir)],
                          cwd=ROOT, env={**full, **env}, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout


def levels(out: str) -> dict[str, str]:
    """check name -> OK | WARN | FAIL, from the report."""
    found = {}
    for line in out.splitlines():
        level, _, rest = line.partition(" ")
        if level in ("OK", "WARN", "FAIL"):
            found[rest.strip().split(":")[0]] = level
    return found


def test_a_running_engine_on_its_embedded_redis_passes(embedded_engine: EngineProcess) -> None:
    status, out = doctor(embedded_engine.data_dir, AUTH_SECRET=SECRET)
    found = levels(out)
    assert status == 0, out
    assert found["redis.fsync"] == found["redis.aof"] == found["redis.eviction"] == found["database.migrations"] == "OK", out
    assert found["redis.replicas"] == "WARN" and found["clock.redis"] == "OK", out
    assert "0 unsafe" in out


async def test_each_unsafe_setting_is_named_with_its_fix_and_exits_1(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", port=free_port(), fsync="no", disabled=(),
                         options=[("maxmemory-policy", "allkeys-lru")])
    (tmp_path / "redis").mkdir()
    server.start()
    try:
        store = await Store.open(None, tmp_path)  # the database exists, at head
        await store.close()
        # An hour ahead: the doctor's own start-up on a slow machine (seconds) cannot bring it under the limit.
        client = redis.Redis.from_url(server.url)
        client.zadd(NODES_KEY, {"n-ahead": time.time() * 1000 + 3_600_000})
        client.close()
        (tmp_path / "redis-password").write_text("x")
        (tmp_path / "redis-password").chmod(0o644)
        status, out = doctor(tmp_path, REDIS_URL=server.url, AUTH_SECRET="changeme", ESCROW_SECRET=STRONG)
    finally:
        server.stop()
    found = levels(out)
    assert status == 1, out
    for check in ("redis.fsync", "redis.eviction", "secrets.auth", "secrets.files", "clock.node.n-ahead"):
        assert found[check] == "FAIL", (check, out)
    assert "appendfsync always" in out and "maxmemory-policy noeviction" in out and "openssl rand" in out
    assert found["database.migrations"] == "OK" and found["secrets.escrow"] == "OK", out


def test_redis_that_does_not_answer_is_unsafe(tmp_path: Path) -> None:
    status, out = doctor(tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", AUTH_SECRET=STRONG, ESCROW_SECRET=STRONG)
    found = levels(out)
    assert status == 1 and found["redis"] == "FAIL" and found["secrets.escrow"] == "FAIL", out
