"""The lot's durable log in Redis: one stream per lot, appended in fenced batches.

Keys share the lot's hash tag (`auction:{L17}:log`, `auction:{L17}:meta`) so each
append touches one Redis Cluster slot. The stream id of an entry is `<seq>-1`, so
"everything after seq N" is a plain XRANGE.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis

LOTS_KEY = "auction:lots"
SETTLED_KEY = "auction:settled"  # lots with a final result whose settlement is written: loaded on demand


class LogError(RuntimeError):
    """The append was refused; the in-memory book is ahead of the log and must be rebuilt."""


class Fenced(LogError):
    """Another writer took the lot (a higher epoch): this one must stop."""


class SeqMismatch(LogError):
    """The log's last seq is not the one the writer expected."""


class LotExists(LogError):
    """A lot with this id already has a log."""


Item = tuple[bytes, bytes, bytes, bytes, bytes]
"""What one entry appends: entry bytes, hash, public frame, bid key (b"" if none), ack bytes."""


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    entry: bytes
    hash: bytes
    public: bytes


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

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        source = resources.files(__package__).joinpath("append.lua").read_text()
        self._append = redis.register_script(source)

    async def claim(self, lot: str) -> int:
        """Take the lot for this writer: the new epoch fences every earlier writer."""
        return int(await self.redis.hincrby(meta_key(lot), "epoch", 1))

    async def append(self, lot: str, expected_seq: int, epoch: int, items: list[Item]) -> int:
        args: list[bytes | int | str] = [expected_seq, epoch]
        for item in items:
            args += item
        seq, detail = await self._append(keys=[log_key(lot), meta_key(lot), ids_key(lot)], args=args)
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
        out = []
        for stream_id, fields in rows:
            seq = int(stream_id.split(b"-", 1)[0])
            out.append(Record(seq, fields[b"e"], fields[b"h"], fields[b"p"]))
        return out

    async def last_records(self, lots: list[str]) -> dict[str, Record | None]:
        """Each stream's own last entry (not the meta's seq, which a damaged AOF may contradict),
        in one pipelined round trip per 1,000 lots: start-up reads this for every lot."""
        out: dict[str, Record | None] = {}
        for start in range(0, len(lots), 1000):
            chunk = lots[start:start + 1000]
            pipe = self.redis.pipeline(transaction=False)
            for lot in chunk:
                pipe.xrevrange(log_key(lot), "+", "-", count=1)
            for lot, rows in zip(chunk, await pipe.execute()):
                out[lot] = None
                if rows:
                    stream_id, fields = rows[0]
                    out[lot] = Record(int(stream_id.split(b"-", 1)[0]), fields[b"e"], fields[b"h"], fields[b"p"])
        return out

    async def last_seq(self, lot: str) -> int:
        return int(await self.redis.hget(meta_key(lot), "seq") or 0)

    async def save_snapshot(self, lot: str, blob: bytes) -> None:
        await self.redis.set(snap_key(lot), blob)

    async def load_snapshot(self, lot: str) -> bytes | None:
        return await self.redis.get(snap_key(lot))

    async def acks(self, lot: str) -> dict[bytes, bytes]:
        return await self.redis.hgetall(ids_key(lot))

    async def mark_settled(self, lot: str) -> None:
        await self.redis.sadd(SETTLED_KEY, lot)

    async def settled_ids(self) -> set[str]:
        return {m.decode() for m in await self.redis.smembers(SETTLED_KEY)}

    async def lot_ids(self) -> list[str]:
        return sorted(m.decode() for m in await self.redis.smembers(LOTS_KEY))
