"""The lot's durable log in Redis: one stream per lot, appended in fenced batches.

Keys share the lot's hash tag (`auction:{L17}:log`, `auction:{L17}:meta`) so each
append touches one Redis Cluster slot. The stream id of an entry is `<seq>-1`, so
"everything after seq N" is a plain XRANGE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

import msgpack
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from .replication import ReplicatedAppends
from .tickpipe import TickPipeline

LOTS_KEY = "auction:lots"
SETTLED_KEY = "auction:settled"  # lots with a final result whose settlement is written: loaded on demand


class StreamError(RuntimeError):
    """The append was refused; the in-memory book is ahead of the log and must be rebuilt."""


class Fenced(StreamError):
    """Another writer took the lot (a higher epoch): this one must stop."""


class SeqMismatch(StreamError):
    """The log's last seq is not the one the writer expected."""


class LotExists(StreamError):
    """A lot with this id already has a log."""


class DamagedEntry(ValueError):
    """Redis returned a stream entry without its id or fields: append.lua never writes one."""


Item = tuple[bytes, bytes, bytes, bytes, bytes]
"""What one entry appends: entry bytes, hash, public frame, bid key (b"" if none), ack bytes."""


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    entry: bytes
    hash: bytes
    public: bytes


def _bytes(value: bytes | str) -> bytes:
    """redis-py types every reply as `bytes | str` (str only under decode_responses=True, which this
    client never sets); the log's values are binary, so a str is encoded back rather than trusted."""
    return value if isinstance(value, bytes) else value.encode()


def _text(value: bytes | str) -> str:
    """A member of a set of lot ids, as the str the engine keys lots by."""
    return value.decode() if isinstance(value, bytes) else value


def _record(stream_id: bytes | str | None, fields: Mapping[bytes | str, bytes | str] | None) -> Record:
    """One XRANGE/XREVRANGE row as a Record; the stream id is `<seq>-1`."""
    if stream_id is None or fields is None:
        raise DamagedEntry(f"stream entry {stream_id!r} has no id or no fields")
    seq = int(_bytes(stream_id).split(b"-", 1)[0])
    return Record(seq, _bytes(fields[b"e"]), _bytes(fields[b"h"]), _bytes(fields[b"p"]))


def _records(rows: Iterable[tuple[bytes | str | None, Mapping[bytes | str, bytes | str] | None]] | None) -> list[Record]:
    """XRANGE's reply (typed Optional by redis-py: None is read as no entries)."""
    return [_record(stream_id, fields) for stream_id, fields in rows or ()]


def pack_items(items: list[Item]) -> bytes:
    """A batch as ONE argument of append.lua: redis-py encodes each argument of a call on its own
    (5 per entry before, ~1.5-6% of the hot lot's engine CPU in `writelines`). msgpack's str type,
    not bin: Redis's Lua `cmsgpack` reads no bin, and its strings are binary-safe."""
    packed: bytes = msgpack.packb([field for item in items for field in item], use_bin_type=False)
    return packed


def log_key(lot: str) -> str:
    return f"auction:{{{lot}}}:log"


def meta_key(lot: str) -> str:
    return f"auction:{{{lot}}}:meta"


def ids_key(lot: str) -> str:
    return f"auction:{{{lot}}}:ids"


def snap_key(lot: str) -> str:
    return f"auction:{{{lot}}}:snap"


class RedisLog:
    """Thin async wrapper over the lot keys; the Lua script is registered once."""

    def __init__(self, redis: Redis | RedisCluster, replicated: tuple[str, int, int] | None = None) -> None:
        """`replicated` = (Redis URL, replicas, wait ms): each append waits for that many replicas
        (`replication.py`); None (the default) acknowledges once the master has it."""
        self.redis = redis
        source = resources.files(__package__).joinpath("append.lua").read_text()
        self._append = redis.register_script(source)
        wait = (replicated[1], replicated[2]) if replicated and replicated[1] > 0 else None
        # One round trip per loop tick for every lot's append on a plain Redis, ending with one WAIT
        # when replicas must hold them; a Cluster's lots are on several masters and keep one call
        # (and one WAIT) each.
        self.replicated = (ReplicatedAppends(redis, *replicated, source)
                           if replicated and wait and not isinstance(redis, Redis) else None)
        self._tick = TickPipeline(redis, self._append, wait) if isinstance(redis, Redis) else None

    async def claim(self, lot: str) -> int:
        """Take the lot for this writer: the new epoch fences every earlier writer."""
        return int(await self.redis.hincrby(meta_key(lot), "epoch", 1))

    async def append(self, lot: str, expected_seq: int, epoch: int, items: list[Item]) -> int:
        args: list[bytes | int | str] = [expected_seq, epoch, pack_items(items)]
        keys = [log_key(lot), meta_key(lot), ids_key(lot)]
        if self.replicated is not None:
            seq, detail = await self.replicated.run(keys, args)
        elif self._tick is not None:
            seq, detail = await self._tick.run(keys, args)
        else:
            seq, detail = await self._append(keys=keys, args=args)
        if seq == -1:
            raise Fenced(f"lot {lot}: epoch {epoch} fenced by {detail}")
        if seq == -2:
            if expected_seq == 0:
                raise LotExists(lot)
            raise SeqMismatch(f"lot {lot}: expected seq {expected_seq}, log has {detail}")
        return int(seq)

    async def create(self, lot: str, items: list[Item]) -> int:
        """Write seq 1 of a new lot; LotExists if the id is taken."""
        if not await self.redis.hsetnx(meta_key(lot), "created", 1):
            raise LotExists(lot)
        epoch = await self.claim(lot)
        await self.append(lot, 0, epoch, items)
        await self.redis.sadd(LOTS_KEY, lot)
        return epoch

    async def read(self, lot: str, after: int = 0, upto: int | None = None, count: int | None = None) -> list[Record]:
        end = f"{upto}-1" if upto is not None else "+"
        rows = await self.redis.xrange(log_key(lot), f"({after}-1" if after else "-", end, count=count)
        return _records(rows)

    async def last_records(self, lots: list[str]) -> dict[str, Record | None]:
        """Each stream's own last entry (not the meta's seq, which a damaged AOF may contradict),
        in one pipelined round trip per 1,000 lots: start-up reads this for every lot."""
        out: dict[str, Record | None] = {}
        for start in range(0, len(lots), 1000):
            chunk = lots[start:start + 1000]
            pipe = self.redis.pipeline(transaction=False)
            for lot in chunk:
                pipe.xrevrange(log_key(lot), "+", "-", count=1)
            # One reply per queued command: the lengths match by construction.
            for lot, rows in zip(chunk, await pipe.execute(), strict=True):
                records = _records(rows)
                out[lot] = records[0] if records else None
        return out

    async def last_seq(self, lot: str) -> int:
        return int(await self.redis.hget(meta_key(lot), "seq") or 0)

    async def save_snapshot(self, lot: str, blob: bytes) -> None:
        await self.redis.set(snap_key(lot), blob)

    async def load_snapshot(self, lot: str) -> bytes | None:
        blob = await self.redis.get(snap_key(lot))
        return None if blob is None else _bytes(blob)

    async def acks(self, lot: str) -> dict[bytes, bytes]:
        return {_bytes(key): _bytes(value) for key, value in (await self.redis.hgetall(ids_key(lot))).items()}

    async def mark_settled(self, lot: str) -> None:
        await self.redis.sadd(SETTLED_KEY, lot)

    async def settled_ids(self) -> set[str]:
        return {_text(m) for m in await self.redis.smembers(SETTLED_KEY)}

    async def lot_ids(self) -> list[str]:
        return sorted(_text(m) for m in await self.redis.smembers(LOTS_KEY))
