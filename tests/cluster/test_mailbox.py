"""The mailboxes between nodes (`mailbox.py`): a command forwarded to the lot's owner is answered
through the sender's own mailbox, on a real Redis Cluster."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from auction_engine.mailbox import Letter, Mailbox, NoAnswer
from auction_engine.redis_cluster import LocalRedisCluster


@pytest.fixture
async def cluster(redis_cluster: LocalRedisCluster) -> Any:
    client = RedisCluster.from_url(redis_cluster.url)
    yield client
    await client.aclose()


async def test_a_forwarded_command_is_answered_by_the_owner_through_the_senders_mailbox(cluster: Any) -> None:
    seen: list[Letter] = []

    async def owner_runs(letter: Letter) -> None:
        seen.append(letter)
        await owner.answer(letter, {"ok": True, "echo": letter.body["amount"]})

    async def nothing(letter: Letter) -> None:
        raise AssertionError("the sender is asked nothing")

    owner = Mailbox(cluster, "owner-1", owner_runs, block_ms=200)
    sender = Mailbox(cluster, "edge-1", nothing, block_ms=200)
    await owner.start()
    await sender.start()
    try:
        answers = await asyncio.gather(*(
            sender.ask("owner-1", "L1", {"amount": 100 + i}, timeout=5) for i in range(20)
        ))
        assert [a["echo"] for a in answers] == [100 + i for i in range(20)]
        assert {letter.sender for letter in seen} == {"edge-1"} and {letter.lot for letter in seen} == {"L1"}
    finally:
        await owner.stop()
        await sender.stop()


async def test_a_letter_to_a_node_that_is_not_reading_gets_no_answer_in_time(cluster: Any) -> None:
    async def nothing(letter: Letter) -> None:
        return None

    sender = Mailbox(cluster, "edge-2", nothing, block_ms=200)
    await sender.start()
    try:
        with pytest.raises(NoAnswer):
            await sender.ask("dead-node", "L2", {"amount": 1}, timeout=0.3)
    finally:
        await sender.stop()
