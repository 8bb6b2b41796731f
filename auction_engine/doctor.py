"""`auction-engine doctor`: what in this deployment could lose a bid, leak a secret or stop a sale.

The engine's promises rest on settings outside its code: Redis keeps every acknowledged bid only
with the AOF on and fsynced (`appendfsync always`, or `everysec` plus replicas the acks wait
for), and only if it never evicts a key; nodes place lots and take leases by their clocks; a
secret shared with a test or left at a sample value signs anyone's tokens. Each check gives a
Finding: OK, WARN (works, but know why) or FAIL (unsafe), with what to do about it. Nothing is
changed: the doctor only reads (it does not run the migrations it finds missing).
"""

from __future__ import annotations

import asyncio
import resource
import stat
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from .auth import SECRET_FILE
from .config import Config
from .placement import NODES_KEY
from .redis_server import RedisServer

MIN_REDIS = (7, 0)
MIN_SECRET_CHARS = 32
# Values seen in samples, docs and tests: a secret equal to one of these is no secret.
KNOWN_SECRETS = frozenset({"secret", "changeme", "change-me", "change_me", "password", "test", "auction", "dev", "development"})
SKEW_WARN_MS, SKEW_FAIL_MS = 100, 500
SPARE_FILES = 1024  # descriptors beyond the WebSocket cap: Redis, the database, the log, the AOF


class Level(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    check: str
    message: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.level.value:4} {self.check}: {self.message}" + (f"\n     fix: {self.fix}" if self.fix else "")


def ok(check: str, message: str) -> Finding:
    return Finding(Level.OK, check, message)


def warn(check: str, message: str, fix: str) -> Finding:
    return Finding(Level.WARN, check, message, fix)


def fail(check: str, message: str, fix: str) -> Finding:
    return Finding(Level.FAIL, check, message, fix)


# -- secrets and files ---------------------------------------------------------------------------


def _weak(secret: str) -> str | None:
    if secret.strip().lower() in KNOWN_SECRETS or len(set(secret)) < 8:
        return "is a sample value"
    if len(secret) < MIN_SECRET_CHARS:
        return f"has {len(secret)} characters (fewer than {MIN_SECRET_CHARS})"
    return None


def _private(path: Path) -> bool:
    return not stat.S_IMODE(path.stat().st_mode) & 0o077


def check_secrets(config: Config) -> list[Finding]:
    """AUTH_SECRET and ESCROW_SECRET: set, strong, distinct; the files that hold them 0600."""
    found: list[Finding] = []
    auth_file = config.data_dir / SECRET_FILE
    auth = config.auth_secret or (auth_file.read_text().strip() if auth_file.exists() else None)
    clustered = bool(getattr(config, "node_id", None))
    if auth is None:
        found.append((fail if clustered else warn)(
            "secrets.auth", "no AUTH_SECRET and no <data-dir>/auth-secret: the engine will make one at start",
            "set AUTH_SECRET (the same on every node) from a secret store" if clustered else
            "fine for one node; set AUTH_SECRET when you add a second"))
    elif (why := _weak(auth)) is not None:
        found.append(fail("secrets.auth", f"the token secret {why}", "AUTH_SECRET=$(openssl rand -hex 32)"))
    else:
        found.append(ok("secrets.auth", "token secret set" + (" (AUTH_SECRET)" if config.auth_secret else f" ({auth_file})")))
    escrow = config.escrow_secret
    if escrow is not None and auth is not None and escrow == auth:
        found.append(fail("secrets.escrow", "ESCROW_SECRET equals AUTH_SECRET: a token holder could forge escrow callbacks",
                          "give escrow its own secret (the engine refuses to start like this)"))
    elif escrow is not None and (why := _weak(escrow)) is not None:
        found.append(fail("secrets.escrow", f"ESCROW_SECRET {why}", "set ESCROW_SECRET to 32+ random bytes, shared with escrow"))
    else:
        found.append(ok("secrets.escrow", "escrow secret distinct" if escrow else "escrow secret in <data-dir>/escrow-secret"))
    for path in (auth_file, config.data_dir / "escrow-secret", config.data_dir / "redis-password"):
        if path.exists() and not _private(path):
            found.append(fail("secrets.files", f"{path} is readable by others (mode {stat.S_IMODE(path.stat().st_mode):o})",
                              f"chmod 600 {path}"))
    if config.data_dir.exists() and not _private(config.data_dir):
        found.append(warn("files.data_dir", f"{config.data_dir} is open to other users (reserves, maxima, payments)",
                          f"chmod 700 {config.data_dir}"))
    return found


def check_open_files(config: Config) -> list[Finding]:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = config.max_connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < need:
        return [fail("limits.nofile", f"open file limit {soft} < {need} (AUCTION_MAX_CONNECTIONS {config.max_connections} "
                     f"+ {SPARE_FILES})", f"LimitNOFILE={max(need, 65536)} in the systemd unit (deploy/auction-engine.service), "
                     "or `ulimit -n` before serve")]
    return [ok("limits.nofile", f"open file limit {soft}")]


# -- Redis ---------------------------------------------------------------------------------------


def _redis_target(config: Config) -> tuple[str | None, RedisServer | None]:
    """The URL to check, and the embedded server when there is no REDIS_URL."""
    if config.redis_url:
        return config.redis_url, None
    password = config.data_dir / "redis-password"
    if not password.exists():
        return None, None
    server = RedisServer.embedded(config.data_dir)
    return (server.url if server.socket_path.exists() else None), server


def _conf_value(server: RedisServer, name: str) -> str | None:
    conf = server.data_dir / "redis.conf"
    if not conf.exists():
        return None
    for line in conf.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return value.strip()
    return None


async def _config_get(redis: Redis, name: str) -> str | None:
    """CONFIG GET, or None where CONFIG is disabled (the embedded server renames it away)."""
    try:
        reply = await redis.config_get(name)
    except ResponseError:
        return None
    value = reply.get(name)
    return str(value) if value is not None else None


async def check_redis(config: Config) -> list[Finding]:
    url, embedded = _redis_target(config)
    if url is None:
        if embedded is None:
            return [warn("redis", "no REDIS_URL and no embedded redis-server in the data dir yet",
                         "run `serve` once, or set REDIS_URL; then run doctor again")]
        fsync = _conf_value(embedded, "appendfsync")
        return [warn("redis", "the embedded redis-server is not running (the engine starts it)", "run doctor while serve runs"),
                _fsync_finding(fsync, 0, getattr(config, "min_replicas", 0))]
    redis = Redis.from_url(url, socket_timeout=3, decode_responses=True)
    try:
        return await _redis_findings(config, redis, embedded)
    except (RedisError, OSError) as exc:
        return [fail("redis", f"cannot reach Redis: {exc}", "check REDIS_URL (host, port, password) and that redis-server runs")]
    finally:
        await redis.aclose()


async def _redis_findings(config: Config, redis: Redis, embedded: RedisServer | None) -> list[Finding]:
    found: list[Finding] = []
    before = time.time()
    info: dict[str, Any] = await redis.info()
    seconds, micros = await redis.time()
    after = time.time()
    version = str(info.get("redis_version", "0"))
    numbers = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    found.append(ok("redis.version", f"Redis {version}") if numbers >= MIN_REDIS else
                 fail("redis.version", f"Redis {version} is older than {'.'.join(map(str, MIN_REDIS))}", "upgrade redis-server"))
    if not int(info.get("aof_enabled", 0)):
        found.append(fail("redis.aof", "the AOF is off: a restart loses every bid since the last snapshot",
                          "appendonly yes in redis.conf"))
    elif info.get("aof_last_write_status") != "ok":
        found.append(fail("redis.aof", f"the last AOF write failed ({info.get('aof_last_write_status')})",
                          "free disk space on the Redis data volume; see redis.log"))
    else:
        found.append(ok("redis.aof", "AOF on, last write ok"))
    fsync = await _config_get(redis, "appendfsync")
    if fsync is None and embedded is not None:
        fsync = _conf_value(embedded, "appendfsync")
    replicas = int(info.get("connected_slaves", 0))
    found.append(_fsync_finding(fsync, replicas, getattr(config, "min_replicas", 0)))
    policy = str(info.get("maxmemory_policy", "noeviction"))
    found.append(ok("redis.eviction", "maxmemory-policy noeviction") if policy == "noeviction" else
                 fail("redis.eviction", f"maxmemory-policy {policy}: Redis may delete a lot's stream under memory pressure",
                      "maxmemory-policy noeviction (and size maxmemory for the sale: docs/deploy.md)"))
    found.append(_replica_finding(info, replicas, getattr(config, "min_replicas", 0)))
    redis_ms = seconds * 1000 + micros / 1000
    skew = redis_ms - (before + after) * 500
    found.append(_skew_finding("clock.redis", "this host and Redis", skew, (after - before) * 1000))
    found += await _node_clocks(redis, redis_ms, getattr(config, "lease_ms", 3000))
    return found


def _fsync_finding(fsync: str | None, replicas: int, min_replicas: int) -> Finding:
    if fsync is None:
        return warn("redis.fsync", "cannot read appendfsync (CONFIG is disabled on this server)",
                    "make sure redis.conf says appendfsync always")
    if fsync == "always":
        return ok("redis.fsync", "appendfsync always: an acknowledged bid is on disk")
    if fsync == "everysec" and min_replicas > 0 and replicas >= min_replicas:
        return ok("redis.fsync", f"appendfsync everysec, acks wait for {min_replicas} replica(s)")
    if fsync == "everysec":
        return warn("redis.fsync", "appendfsync everysec: a power cut can lose the last second of acknowledged bids",
                    "appendfsync always, or replicas with AUCTION_MIN_REPLICAS (docs/deploy.md)")
    return fail("redis.fsync", f"appendfsync {fsync}: acknowledged bids may exist only in memory",
                "appendfsync always in redis.conf")


def _replica_finding(info: dict[str, Any], replicas: int, min_replicas: int) -> Finding:
    if info.get("role") not in (None, "master"):
        return fail("redis.role", f"this Redis is a {info.get('role')}: the engine writes to the primary only",
                    "point REDIS_URL at the primary")
    if replicas < min_replicas:
        return fail("redis.replicas", f"{replicas} replica(s) connected, AUCTION_MIN_REPLICAS is {min_replicas}: "
                    "every ack would time out", "start the replicas, or lower AUCTION_MIN_REPLICAS")
    if replicas == 0:
        return warn("redis.replicas", "no replica: a lost disk on this host loses the sale",
                    "add a replica (and AUCTION_MIN_REPLICAS=1) for a sale you cannot re-run")
    return ok("redis.replicas", f"{replicas} replica(s) connected")


def _skew_finding(check: str, between: str, skew_ms: float, uncertainty_ms: float) -> Finding:
    size = abs(skew_ms) - uncertainty_ms / 2
    text = f"clocks of {between} differ by {skew_ms:+.0f} ms (+/- {uncertainty_ms / 2:.0f})"
    if size > SKEW_FAIL_MS:
        return fail(check, text + ": lot timers and leases go by these clocks", "run chrony or systemd-timesyncd on every host")
    if size > SKEW_WARN_MS:
        return warn(check, text, "run chrony or systemd-timesyncd on every host")
    return ok(check, text)


async def _node_clocks(redis: Redis, redis_ms: float, lease_ms: int) -> list[Finding]:
    """Each node stamps its heartbeat with its own clock (placement.Membership.beat), at least
    every lease third: a stamp ahead of Redis's clock is a clock ahead; one older than the lease
    is a node gone, or a clock behind."""
    rows = await redis.zrange(NODES_KEY, 0, -1, withscores=True)
    found: list[Finding] = []
    for raw, stamp in (row for row in rows if isinstance(row, tuple | list)):
        node = raw.decode() if isinstance(raw, bytes) else str(raw)
        ahead = stamp - redis_ms
        if ahead > SKEW_WARN_MS:
            found.append(_skew_finding(f"clock.node.{node}", f"node {node} and Redis", ahead, 0))
        elif -ahead > lease_ms:
            found.append(warn(f"cluster.node.{node}", f"node {node} last beat {-ahead / 1000:.1f} s ago: gone, or its clock is "
                              "behind", "check the node; a stopped node's entry expires by itself"))
        else:
            found.append(ok(f"cluster.node.{node}", f"node {node} beating, {ahead:+.0f} ms from Redis's clock"))
    return found


# -- the database --------------------------------------------------------------------------------


async def check_database(config: Config) -> list[Finding]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from .store.db import make_engine, normalise_url
    from .store.migrate import config as alembic_config

    url = normalise_url(config.database_url, config.data_dir)
    if url.startswith("sqlite") and not (config.data_dir / "auction.db").exists():
        return [warn("database", "no database yet (SQLite in the data dir is made at the first start)", "run serve once")]
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    except Exception as exc:
        return [fail("database", f"cannot reach the database: {type(exc).__name__}: {exc}"[:300],
                     "check DATABASE_URL and that the database answers")]
    finally:
        await engine.dispose()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    found = [ok("database", f"reachable ({url.split('://', 1)[0]})")]
    if current == head:
        found.append(ok("database.migrations", f"at head ({head})"))
    else:
        found.append(warn("database.migrations", f"at {current}, code expects {head}: serve migrates on start",
                          "back up first (`auction-engine backup`), then start one node before the others"))
    if url.startswith("sqlite") and getattr(config, "node_id", None):
        found.append(fail("database.shared", "SQLite in a cluster: every node would keep its own ledger",
                          "set DATABASE_URL to the shared PostgreSQL on every node"))
    return found


async def diagnose(config: Config) -> list[Finding]:
    checks = await asyncio.gather(check_redis(config), check_database(config))
    return [*check_secrets(config), *check_open_files(config), *checks[0], *checks[1]]


def report(findings: list[Finding]) -> tuple[str, int]:
    """The printed report and the exit status: 1 when anything is unsafe."""
    failed = sum(f.level == Level.FAIL for f in findings)
    warned = sum(f.level == Level.WARN for f in findings)
    summary = f"{failed} unsafe, {warned} to know about, {len(findings) - failed - warned} fine"
    return "\n".join([*(f.line() for f in findings), summary]), 1 if failed else 0
