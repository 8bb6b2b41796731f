"""The feed and the mailboxes between nodes, on a real Redis Cluster."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from auction_engine.feed import Feed
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


async def test_other_nodes_hear_which_lots_moved_and_the_bidders_notices_in_order(cluster: Any) -> None:
    moved: list[tuple[str, int]] = []
    notices: list[tuple[str, dict[str, Any]]] = []
    own: list[tuple[str, int]] = []

    async def on_moved(lot: str, seq: int) -> None:
        moved.append((lot, seq))

    async def on_own_moved(lot: str, seq: int) -> None:
        own.append((lot, seq))

    owner = Feed(cluster, "node-a", on_own_moved, lambda b, f: None, block_ms=200)
    other = Feed(cluster, "node-b", on_moved, lambda b, f: notices.append((b, f)), block_ms=200)
    await owner.start()
    await other.start()
    try:
        for seq in range(1, 6):
            await owner.announce("L9", seq, [("dealer-1", {"type": "outbid", "lot": "L9", "seq": seq})] if seq == 3 else [])
        for _ in range(50):
            if len(moved) == 5:
                break
            await asyncio.sleep(0.05)
        assert moved == [("L9", s) for s in range(1, 6)]
        assert notices == [("dealer-1", {"type": "outbid", "lot": "L9", "seq": 3})]
        assert own == []  # the owner told its own watchers when it appended
    finally:
        await owner.stop()
        await other.stop()
