"""`auction-engine backup` and `restore`: one file holding the SQL store and every Redis key.

Consistency, without stopping the sale:
- the SQL store is read first, in one read transaction (a snapshot on SQLite and PostgreSQL);
- then Redis: the keys are listed (SCAN), and dumped together in one MULTI/EXEC, so every key is
  as of one instant, after the SQL snapshot. Every row of the SQL store (a settlement, a lot's
  recorded head) then refers to log entries the dump holds: a lot's log only grows. A lot whose
  settlement was written between the two reads is marked settled in Redis (`auction:settled`) but
  has no row in the SQL part: `restore` unmarks it, so the engine settles it again on start. Every
  bid acknowledged before the backup began is in its lot's stream, which is in the dump.
- the file also names each lot's head (seq and hash of its last entry), as dumped, for the
  operator to compare with `verify` after a restore.

Redis's DUMP format is read back by the same Redis version or a newer one. The file holds
reserves, maxima and bidders: it is written 0600; keep it like the data dir. It holds no
secret: AUTH_SECRET, ESCROW_SECRET and the data dir's secret files are backed up separately.
A Redis Cluster (one MULTI cannot span slots) is not supported here: back its nodes up with
their own RDB snapshots.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis

from .redis_server import RedisServer
from .store import Store
from .store.schema import metadata
from .stream import SETTLED_KEY, log_key

FORMAT = "auction-engine-backup"
VERSION = 1
SCAN_COUNT = 1000


class RestoreRefused(Exception):
    """The target is not empty, or the file is not a backup this version reads."""


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$b64"}:
        return base64.b64decode(value["$b64"])
    return value


async def dump_sql(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the migrations made, read in one transaction."""
    tables: dict[str, list[dict[str, Any]]] = {}
    async with store.engine.connect() as conn, conn.begin():
        for table in metadata.sorted_tables:
            rows = (await conn.execute(sa.select(table))).mappings().all()
            tables[table.name] = [{k: _encode(v) for k, v in row.items()} for row in rows]
    return tables


async def dump_redis(redis: Redis) -> tuple[list[list[Any]], dict[str, dict[str, Any]]]:
    """(key, pttl, DUMP) of every key, as of one instant; and each lot's head as dumped."""
    keys: list[bytes] = [key async for key in redis.scan_iter(count=SCAN_COUNT)]
    if not keys:
        return [], {}
    async with redis.pipeline(transaction=True) as pipe:
        for key in keys:
            pipe.pttl(key)
            pipe.dump(key)
        for key in keys:
            if key.endswith(b"}:log"):
                pipe.xrevrange(key, "+", "-", count=1)
        replies = await pipe.execute()
    entries = [[base64.b64encode(key).decode(), int(replies[2 * i]), base64.b64encode(replies[2 * i + 1]).decode()]
               for i, key in enumerate(keys) if replies[2 * i + 1] is not None]
    heads: dict[str, dict[str, Any]] = {}
    logs = [key for key in keys if key.endswith(b"}:log")]
    for key, rows in zip(logs, replies[2 * len(keys):], strict=True):
        if rows:
            stream_id, fields = rows[0]
            lot = key.decode()[len("auction:{"):-len("}:log")]
            assert key.decode() == log_key(lot)
            heads[lot] = {"seq": int(stream_id.split(b"-", 1)[0]), "hash": fields[b"h"].hex()}
    return entries, heads


async def backup(redis: Redis, store: Store, out: Path) -> dict[str, Any]:
    """Write the backup file (gzipped JSON, 0600); return its summary."""
    started = int(time.time() * 1000)
    sql = await dump_sql(store)
    keys, heads = await dump_redis(redis)
    doc = {"format": FORMAT, "version": VERSION, "taken_at": started, "sql": sql, "redis": keys, "heads": heads}
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as f:
        f.write(json.dumps(doc, separators=(",", ":")).encode())
    return {"taken_at": started, "keys": len(keys), "lots": len(heads),
            "rows": sum(len(rows) for rows in sql.values())}


def read(path: Path) -> dict[str, Any]:
    """The backup in `path`. Raises RestoreRefused for anything else (before a server is touched)."""
    try:
        with gzip.open(path, "rb") as f:
            doc = json.loads(f.read())
    except (OSError, EOFError, ValueError) as exc:
        raise RestoreRefused(f"{path} cannot be read as a backup: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise RestoreRefused(f"{path} is not an {FORMAT} file of version {VERSION}")
    return dict(doc)


async def restore(redis: Redis, store: Store, doc: dict[str, Any]) -> dict[str, Any]:
    """Load a backup into an empty Redis and an empty (migrated) SQL store. Raises RestoreRefused
    when either holds data: a restore never merges into a live sale."""
    if await redis.dbsize():
        raise RestoreRefused("Redis is not empty: restore into a new Redis (or FLUSHALL it knowingly first)")
    async with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar():
                raise RestoreRefused(f"the database's table {table.name} is not empty: restore into a new database")
    async with store.engine.begin() as conn:
        for table in metadata.sorted_tables:
            rows = doc["sql"].get(table.name, [])
            if rows:
                await conn.execute(table.insert(), [{k: _decode(v) for k, v in row.items()} for row in rows])
    async with redis.pipeline(transaction=True) as pipe:
        for key, pttl, blob in doc["redis"]:
            pipe.restore(base64.b64decode(key), max(pttl, 0), base64.b64decode(blob))
        await pipe.execute()
    settled = {row["lot"] for row in doc["sql"].get("settlements", [])}
    unsettled = [m for m in await redis.smembers(SETTLED_KEY) if (m.decode() if isinstance(m, bytes) else m) not in settled]
    if unsettled:
        await redis.srem(SETTLED_KEY, *unsettled)
    return {"keys": len(doc["redis"]), "lots": len(doc["heads"]), "rows": sum(len(r) for r in doc["sql"].values())}


def redis_of(data_dir: Path, url: str | None) -> tuple[str, RedisServer | None]:
    """The URL to use, and the embedded server to start first when there is no REDIS_URL and
    the engine is not running (its socket is absent)."""
    if url:
        return url, None
    server = RedisServer.embedded(data_dir)
    return server.url, (None if server.socket_path.exists() else server)
