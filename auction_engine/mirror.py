"""A lot owned by another node, as this node serves it: the lot's own log, applied entry by entry.

A node's watchers of a lot it does not own need snapshots (the public, bidder and auctioneer
views) and the events in the log's order. The mirror rebuilds the lot from its snapshot and tail
without claiming it (no epoch is taken: it never writes), then, told by the feed that the lot
moved, reads the entries after its seq from the lot's stream and applies them with `bidding`,
checking each entry's seq and hash chain. So a watcher on any node sees exactly the log, gapless,
and a lost or late announcement only delays what the next one (or a periodic check) catches up.
"""

from __future__ import annotations

import asyncio

import msgpack

from bidding.commands import Create
from bidding.log import LogError, apply_entry, chain, decode_entry, replay, resume
from bidding.spec import LotSpec
from bidding.state import LotState

from .stream import RedisLog


class MirrorBroken(RuntimeError):
    """The lot's log does not continue the mirror's chain: reload the mirror from the log."""


async def read_book(stream: RedisLog, lot: str) -> tuple[LotSpec, LotState] | None:
    """The lot as its log says, from the snapshot and the tail; None when there is no such lot.
    The writer (`Engine.load_book`, after it took the lot) and a replica read a lot the same way."""
    first = await stream.read(lot, 0, 1)
    if not first:
        return None
    snap = await stream.load_snapshot(lot)
    if snap is None:
        records = await stream.read(lot)
        return replay([(r.entry, r.hash) for r in records])
    saved = msgpack.unpackb(snap, raw=False)
    create = decode_entry(first[0].entry, first[0].hash).command
    if not isinstance(create, Create):
        raise LogError(1, "the first entry is not `create`")
    spec = create.spec
    tail = await stream.read(lot, saved["seq"])
    return spec, resume(spec, LotState.from_dict(saved["state"]), [(r.entry, r.hash) for r in tail])


class LotMirror:
    """Read-only book of one lot; `catch_up` returns the new entries' (seq, public face) in order."""

    def __init__(self, stream: RedisLog, lot: str, spec: LotSpec, state: LotState) -> None:
        self.stream = stream
        self.lot = lot
        self.spec = spec
        self.state = state
        self._lock = asyncio.Lock()

    @classmethod
    async def load(cls, stream: RedisLog, lot: str) -> LotMirror | None:
        book = await read_book(stream, lot)
        return None if book is None else cls(stream, lot, *book)

    @property
    def seq(self) -> int:
        return self.state.seq

    async def catch_up(self, upto: int | None = None) -> list[tuple[int, bytes]]:
        """Apply the log's entries after this mirror's seq (up to `upto`, when the feed named it)."""
        async with self._lock:
            if upto is not None and upto <= self.state.seq:
                return []
            records = await self.stream.read(self.lot, self.state.seq, upto)
            state = self.state.copy()
            out: list[tuple[int, bytes]] = []
            try:
                for record in records:
                    entry = decode_entry(record.entry, record.hash, state.head_hash)
                    if entry.seq != state.seq + 1:
                        raise MirrorBroken(f"lot {self.lot}: seq {entry.seq} after {state.seq}")
                    if chain(state.head_hash, record.entry) != record.hash:
                        raise MirrorBroken(f"lot {self.lot}: entry {entry.seq} does not continue the chain")
                    apply_entry(self.spec, state, entry)
                    out.append((record.seq, record.public))
            except LogError as exc:
                raise MirrorBroken(f"lot {self.lot}: {exc}") from exc
            self.state = state
            return out
