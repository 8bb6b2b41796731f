"""Where a lot lives: rendezvous hashing over the live nodes, and the heartbeat that says who lives.

Rendezvous (highest random weight) hashing gives every lot one preferred node and moves only
the lots of a node that joins or leaves: about 1/N of them, never a reshuffle. Each node
heartbeats into one sorted set (member = node id, score = last beat in ms) and publishes the
URL it serves on, so `GET /api/cluster` and the room can name it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

NODES_KEY = "auction:nodes"
NODE_URLS_KEY = "auction:node-urls"


def weight(node: str, lot: str) -> int:
    digest = hashlib.blake2b(f"{node}\x1f{lot}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def preferred(lot: str, nodes: Iterable[str]) -> str | None:
    """The live node that should own `lot`: the highest weight, ties broken by id."""
    best: tuple[int, str] | None = None
    for node in nodes:
        key = (weight(node, lot), node)
        if best is None or key > best:
            best = key
    return best[1] if best else None


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node: str
    url: str
    last_beat_ms: int


class Membership:
    """This node's heartbeat, and the live set as the heartbeats show it."""

    def __init__(self, redis: Any, node: str, url: str, ttl_ms: int) -> None:
        self.redis = redis
        self.node = node
        self.url = url
        self.ttl_ms = ttl_ms

    async def beat(self, now_ms: int) -> None:
        await self.redis.zadd(NODES_KEY, {self.node: now_ms})
        await self.redis.hset(NODE_URLS_KEY, self.node, self.url)

    async def leave(self) -> None:
        await self.redis.zrem(NODES_KEY, self.node)
        await self.redis.hdel(NODE_URLS_KEY, self.node)

    async def live(self, now_ms: int) -> list[NodeInfo]:
        rows = await self.redis.zrangebyscore(NODES_KEY, now_ms - self.ttl_ms, "+inf", withscores=True)
        urls = await self.redis.hgetall(NODE_URLS_KEY)
        out = []
        for member, score in rows:
            node = member.decode() if isinstance(member, bytes) else member
            url = urls.get(member.encode() if isinstance(member, str) else member, b"")
            out.append(NodeInfo(node, url.decode() if isinstance(url, bytes) else url, int(score)))
        return sorted(out, key=lambda n: n.node)
