"""Who writes a lot: a lease in Redis with an epoch that fences every earlier writer.

One node owns a lot at a time. A lease names the node and its incarnation (a random id per
process), so a restarted node takes its own lots back at once with a new epoch. The lease
(`auction:{L17}:lease`, value `node|epoch`, with a TTL) lives in the lot's hash slot beside the
meta hash whose `epoch` `append.lua` checks, so taking a lease and fencing the old writer are one
atomic script on one Redis Cluster shard.
A node that stops renewing (crashed, paused, cut off) loses the lease when it expires; the next
node to take it bumps the epoch, and the old node's late appends are refused (`Fenced`).
Nothing here is a consensus of our own: Redis's single-threaded script is the arbiter.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .stream import meta_key


def lease_key(lot: str) -> str:
    return f"auction:{{{lot}}}:lease"


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease this node holds: `epoch` is the fencing token for the lot's appends."""

    lot: str
    holder: str
    epoch: int
    taken: bool
    """True when this call took the lot from nobody (a new epoch), False when it already held it."""
    gap_ms: int | None = None
    """When taken: how long since the previous holder's last renewal (None if it never had one)."""


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lot's lease, as anyone may read it: the node id, its incarnation, the epoch."""

    node: str
    epoch: int
    incarnation: str = ""


class Ownership:
    """Acquire, renew and release lot leases for one node."""

    def __init__(self, redis: Any, node: str, lease_ms: int, incarnation: str | None = None) -> None:
        if "|" in node or "/" in node:
            raise ValueError("a node id may not contain '|' or '/'")
        self.redis = redis
        self.node = node
        self.incarnation = incarnation or secrets.token_hex(4)
        self.holder_id = f"{node}/{self.incarnation}"
        self.lease_ms = lease_ms
        source = resources.files(__package__).joinpath("lease.lua").read_text()
        self._script = redis.register_script(source)

    async def _run(self, lot: str, op: str, epoch: int, now_ms: int) -> list[Any]:
        result: list[Any] = await self._script(
            keys=[lease_key(lot), meta_key(lot)], args=[op, self.holder_id, epoch, self.lease_ms, now_ms, self.node],
        )
        return result

    async def acquire(self, lot: str, now_ms: int) -> Lease | Holder:
        """Take the lot if nobody holds it; the current holder otherwise."""
        result = await self._run(lot, "acquire", 0, now_ms)
        epoch = int(result[0])
        if epoch == -1:
            return _holder(result[1])
        taken = bool(int(result[1]))
        gap = None
        if taken and len(result) > 2 and result[2]:
            gap = max(0, now_ms - int(result[2]))
        return Lease(lot, self.holder_id, epoch, taken, gap)

    async def renew(self, lease: Lease, now_ms: int) -> bool:
        """Extend the lease; False when it was lost (expired and taken, or released)."""
        result = await self._run(lease.lot, "renew", lease.epoch, now_ms)
        return int(result[0]) != -1

    async def release(self, lease: Lease, now_ms: int) -> bool:
        """Give the lot up so that another node can take it at once (a graceful hand-over)."""
        result = await self._run(lease.lot, "release", lease.epoch, now_ms)
        return int(result[0]) != -1

    async def holder(self, lot: str) -> Holder | None:
        raw = await self.redis.get(lease_key(lot))
        return _holder(raw) if raw else None


def _holder(raw: bytes | str) -> Holder:
    text = raw.decode() if isinstance(raw, bytes) else raw
    holder, _, epoch = text.rpartition("|")
    node, _, incarnation = holder.partition("/")
    return Holder(node, int(epoch), incarnation)
