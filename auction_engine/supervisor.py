"""Keeps the embedded redis-server running: a dead one is restarted with backoff.

While it is down every append fails at once (a refused unix socket, no retry backoff on the
engine's pool), so each bid is answered `unavailable` instead of waiting; `/healthz` says 503.
Nothing acknowledged is lost by the death: with `appendfsync always` every acknowledged entry
was on disk before its ack, and the restarted server loads it from the AOF. An actor whose
append failed reloads its book from the log by itself (`LotActor._rebuild`); the others hold
exactly what the log holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError

from .redis_server import RedisServer, RedisServerError, describe_binary
from .secret_file import private_dir

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_S = 2.0  # a sale day's append p99 is 14 ms; a reply this late means a hung server


class RedisSupervisor:
    def __init__(self, server: RedisServer, on_restart: Callable[[], Awaitable[None]],
                 poll_s: float = 0.1, backoff_s: float = 0.1, backoff_cap_s: float = 5.0) -> None:
        self.server = server
        self.on_restart = on_restart
        self.poll_s = poll_s
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-supervisor")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            if self.server.alive():
                continue
            code = self.server.process.returncode if self.server.process else None
            log.error("the embedded redis-server died (exit code %s); restarting it", code)
            await self._restart()

    async def _restart(self) -> None:
        delay = self.backoff_s
        while True:
            await asyncio.sleep(delay)
            try:
                await asyncio.to_thread(self.server.start)
                break
            except RedisServerError as exc:
                delay = min(self.backoff_cap_s, delay * 2)
                log.error("redis-server did not restart (%s); next try in %.1f s", exc, delay)
        self.restarts += 1
        log.warning("the embedded redis-server is back (restart %d)", self.restarts)
        try:
            await self.on_restart()
        except Exception:
            log.exception("after the redis-server restart")


def engine_redis(url: str) -> Redis:
    """The engine's client. Blocking, not raising, when every connection is busy: 500 lot actors
    append at once on a sale day. One quick retry on a broken connection, not redis-py's default
    of three with up to 10 s of backoff: a dead server must turn into an `unavailable` answer within
    a second. A server that hangs (stopped, swapping) times out after `SOCKET_TIMEOUT_S` (twice at
    most, when the hang meets a new connection's AUTH), so that its bids too are answered within
    about 4 s; blocking reads on this client must block for less than that."""
    retry = Retry(ExponentialBackoff(cap=0.05, base=0.01), 1, supported_errors=(ConnectionError,))
    return Redis(connection_pool=BlockingConnectionPool.from_url(
        url, max_connections=256, timeout=20, retry=retry, socket_timeout=SOCKET_TIMEOUT_S))


@contextlib.asynccontextmanager
async def redis_for(data_dir: Path, url: str | None, restart_s: float = 0.2,
                    cluster: bool = False) -> AsyncIterator[Redis | RedisCluster]:
    """The engine's Redis for its whole life: `url` if given, else the embedded server, supervised.

    The data dir is made private first, and the process umask 077, so that the AOF, auction.db
    and escrow.jsonl (reserves, maxima, payments) are created readable by the engine's user only.
    The embedded server is stopped however the engine's own shutdown ends."""
    os.umask(0o077)
    private_dir(data_dir)
    if cluster:
        if not url:
            raise SystemExit("--redis-cluster needs --redis-url (any node of the cluster)")
        client = RedisCluster.from_url(url, socket_timeout=SOCKET_TIMEOUT_S)
        try:
            yield client
        finally:
            await client.aclose()
        return
    embedded = supervisor = None
    if not url:
        embedded = RedisServer.embedded(data_dir)
        print(f"  redis-server:       {describe_binary()} on {embedded.socket_path}", flush=True)
        await asyncio.to_thread(embedded.start)
        url = embedded.url
    redis = engine_redis(url)
    try:
        if embedded is not None:
            supervisor = RedisSupervisor(embedded, functools.partial(redis.connection_pool.disconnect, inuse_connections=False),
                                         backoff_s=restart_s)
            supervisor.start()
        yield redis
    finally:
        try:
            if supervisor is not None:
                await supervisor.stop()
            await redis.aclose()
        finally:
            if embedded is not None:
                embedded.stop()
