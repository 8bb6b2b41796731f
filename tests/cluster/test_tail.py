"""Following a stream (`tail.py`): a reader sees what is appended after it started, in order,
and keeps reading when a batch's handler fails. On the real redis-server of tests/conftest.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from auction_engine.tail import Entries, StreamTail


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def until(check: Callable[[], object], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)


async def test_a_reader_sees_only_what_is_appended_after_it_started_and_in_order(redis: aioredis.Redis) -> None:
    key = f"test:tail:{uuid.uuid4().hex}"
    await redis.xadd(key, {"v": "before"})
    seen: list[bytes] = []

    async def read(entries: Entries) -> None:
        seen.extend(fields[b"v"] for _id, fields in entries)

    tail = StreamTail(redis, key, read, block_ms=100)
    await tail.start()
    try:
        for i in range(30):
            await redis.xadd(key, {"v": str(i)})
        await until(lambda: len(seen) == 30)
        assert seen == [str(i).encode() for i in range(30)]
    finally:
        await tail.stop()


async def test_a_reader_of_a_stream_not_yet_written_sees_its_first_entry(redis: aioredis.Redis) -> None:
    key = f"test:tail:{uuid.uuid4().hex}"
    seen: list[bytes] = []

    async def read(entries: Entries) -> None:
        seen.extend(fields[b"v"] for _id, fields in entries)

    tail = StreamTail(redis, key, read, block_ms=100)
    await tail.start()
    try:
        await redis.xadd(key, {"v": "first"})
        await until(lambda: seen)
        assert seen == [b"first"]
    finally:
        await tail.stop()


async def test_a_handler_that_fails_loses_its_batch_but_the_reader_goes_on(redis: aioredis.Redis) -> None:
    key = f"test:tail:{uuid.uuid4().hex}"
    seen: list[bytes] = []

    async def read(entries: Entries) -> None:
        values = [fields[b"v"] for _id, fields in entries]
        if b"poison" in values:
            raise ValueError("a handler bug")
        seen.extend(values)

    tail = StreamTail(redis, key, read, block_ms=100)
    await tail.start()
    try:
        await redis.xadd(key, {"v": "poison"})
        await until(lambda: tail.last_id != b"0-0")
        await redis.xadd(key, {"v": "after"})
        await until(lambda: seen)
        assert seen == [b"after"]
    finally:
        await tail.stop()
    assert tail.task is None
