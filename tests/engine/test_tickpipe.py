"""auction_engine/tickpipe.py against the real redis-server: the appends of many lots made in one
turn of the loop reach Redis in one round trip, and each keeps its own fencing and answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from auction_engine.stream import Fenced, RedisLog, SeqMismatch
from bidding.log import create_lot
from bidding.spec import LotSpec

from .helpers import tap_pipelines

LOTS = [f"P{i}" for i in range(40)]


def item(lot: str, n: int) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    return b"entry %s %d" % (lot.encode(), n), b"hash %d" % n, b"public %d" % n, b"", b""


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


async def created(redis_url: str) -> dict[str, int]:
    """Every lot of LOTS with its create entry, through a client of its own; lot -> epoch."""
    redis = Redis.from_url(redis_url)
    log, epochs = RedisLog(redis), {}
    for lot in LOTS:
        _spec, _state, entry, raw = create_lot(LotSpec(lot=lot, title="Skoda Octavia", start_price=100, duration_s=600), at=1_000)
        epochs[lot] = await log.create(lot, [(raw, entry.hash, b"public 1", b"", b"")])
    await redis.aclose()
    return epochs


async def connections(admin: Redis) -> int:
    return int((await admin.info("stats"))["total_connections_received"])


async def test_forty_lots_appending_in_one_turn_use_one_connection_and_each_gets_its_own_seq(
    redis_url: str, admin: Redis
) -> None:
    epochs = await created(redis_url)
    redis = Redis.from_url(redis_url)  # a fresh pool: each connection it opens is one Redis counts
    log = RedisLog(redis)
    before = await connections(admin)
    seqs = await asyncio.gather(*(log.append(lot, 1, epochs[lot], [item(lot, 2), item(lot, 3)]) for lot in LOTS))
    opened = await connections(admin) - before - 1  # less the INFO's own connection, reused
    assert seqs == [3] * len(LOTS)
    assert opened <= 1, f"{opened} connections for one turn's appends"
    for lot in LOTS:
        assert [r.entry for r in await log.read(lot, after=1)] == [item(lot, 2)[0], item(lot, 3)[0]]
    await redis.aclose()


async def test_a_fenced_or_stale_lot_in_the_same_turn_fails_alone(redis_url: str) -> None:
    epochs = await created(redis_url)
    redis = Redis.from_url(redis_url)
    log = RedisLog(redis)
    stale, fenced, good = LOTS[0], LOTS[1], LOTS[2:]
    await log.claim(fenced)  # a newer writer took it: the old epoch is fenced
    results = await asyncio.gather(
        log.append(stale, 5, epochs[stale], [item(stale, 2)]),
        log.append(fenced, 1, epochs[fenced], [item(fenced, 2)]),
        *(log.append(lot, 1, epochs[lot], [item(lot, 2)]) for lot in good),
        return_exceptions=True,
    )
    assert isinstance(results[0], SeqMismatch) and isinstance(results[1], Fenced)
    assert results[2:] == [2] * len(good)
    assert await log.last_seq(stale) == 1 and await log.last_seq(fenced) == 1
    await redis.aclose()


async def test_appends_go_on_after_redis_forgot_the_script(redis_url: str, admin: Redis) -> None:
    epochs = await created(redis_url)
    redis = Redis.from_url(redis_url)
    log = RedisLog(redis)
    await admin.script_flush()
    seqs = await asyncio.gather(*(log.append(lot, 1, epochs[lot], [item(lot, 2)]) for lot in LOTS[:5]))
    assert seqs == [2] * 5
    await redis.aclose()


async def test_appends_made_while_a_batch_is_away_wait_for_it_and_go_out_together(
    redis_url: str, admin: Redis
) -> None:
    """One batch in flight: a Redis slow to answer (paused here) grows the next batch instead of
    opening a connection and sending a pipeline per turn of the loop."""
    epochs = await created(redis_url)
    redis = Redis.from_url(redis_url)
    log = RedisLog(redis)
    await log.last_seq(LOTS[0])  # the pool's first connection, opened before counting
    before = await connections(admin)
    await admin.client_pause(300, all=False)  # write commands wait 300 ms; reads (INFO) answer
    first = asyncio.create_task(log.append(LOTS[0], 1, epochs[LOTS[0]], [item(LOTS[0], 2)]))
    later = []
    for lot in LOTS[1:]:  # one append per turn while the first batch waits on Redis
        await asyncio.sleep(0.005)
        later.append(asyncio.create_task(log.append(lot, 1, epochs[lot], [item(lot, 2)])))
    seqs = await asyncio.gather(first, *later)
    opened = await connections(admin) - before
    assert seqs == [2] * len(LOTS)
    assert opened == 0, f"{opened} connections opened for appends queued behind a batch in flight"
    calls = (await admin.info("commandstats"))["cmdstat_evalsha"]["calls"]
    assert calls >= len(LOTS)  # each lot still its own script call
    await redis.aclose()


class _Turns:
    """Counts turns of the running loop: a callback that schedules itself for the next turn."""

    def __init__(self) -> None:
        self.n = 0
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.n += 1
        self._handle = self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._handle.cancel()


async def test_a_batch_queued_behind_one_in_flight_leaves_in_the_turn_that_answers_it(redis_url: str) -> None:
    """A task per batch, started from the last one's done callback, lost two turns of the loop
    between batches; on a loaded loop (a sale's last seconds) each turn is milliseconds, and the
    appends waited 4x their round trip. The next batch now leaves before the answered lot even
    resumes."""
    epochs = await created(redis_url)
    sent: list[int] = []
    redis = Redis.from_url(redis_url)
    tap_pipelines(redis, sent=lambda: sent.append(turns.n))
    log = RedisLog(redis)
    await log.last_seq(LOTS[0])  # the pool's connection, opened before
    turns = _Turns()
    resumed: list[int] = []

    async def append(lot: str) -> int:
        seq = await log.append(lot, 1, epochs[lot], [item(lot, 2)])
        resumed.append(turns.n)
        return seq

    try:
        first = asyncio.create_task(append(LOTS[0]))
        while not sent:
            await asyncio.sleep(0)
        second = asyncio.create_task(append(LOTS[1]))
        assert await asyncio.gather(first, second) == [2, 2]
    finally:
        turns.stop()
        await redis.aclose()
    assert len(sent) == 2
    assert sent[1] <= resumed[0], f"the second batch left {sent[1] - resumed[0]} turns after the first lot resumed"


async def test_a_batch_whose_replies_make_no_sense_fails_alone_and_the_next_still_goes(redis_url: str) -> None:
    """Whatever goes wrong with one batch's replies, the appends queued behind it are not stranded
    (each batch is sent by the one task that sends them all)."""
    epochs = await created(redis_url)
    broken = [True]

    def garbled(replies: list[Any]) -> list[Any]:
        if broken:
            broken.clear()
            return replies[:-1]  # one reply short: not what a pipeline of N commands answers
        return replies

    redis = Redis.from_url(redis_url)
    tap_pipelines(redis, replies=garbled)
    log = RedisLog(redis)
    try:
        first = asyncio.create_task(log.append(LOTS[0], 1, epochs[LOTS[0]], [item(LOTS[0], 2)]))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the first batch is away
        second = asyncio.create_task(log.append(LOTS[1], 1, epochs[LOTS[1]], [item(LOTS[1], 2)]))
        with pytest.raises(ValueError):
            await asyncio.wait_for(first, 5)
        assert await asyncio.wait_for(second, 5) == 2
    finally:
        await redis.aclose()
