"""Start-up checks that Redis and the SQL store describe the same auction.

Two ways data gets damaged without anyone noticing:
- the database is deleted or swapped (`auction.db` removed): Redis still holds the lots, but the
  bidders, credit limits and settlements are gone, and the engine would run on with unlimited
  credit. `check_database` refuses to start, with one message and the repair (docs/engine.md).
- the AOF is truncated, emptied or edited: a lot's log ends early or an entry no longer hashes.
  `check_head` compares the log with the head the SQL store recorded (`store/heads.py`); the
  engine quarantines such a lot (read-only, bids `unavailable`, listed in /healthz) and starts
  the others, rather than one bad byte stopping the whole engine.
"""

from __future__ import annotations

from .store.heads import Head
from .stream import RedisLog

REPAIR = "docs/engine.md, Security: Damaged data"


class DatabaseMismatch(SystemExit):
    """Redis holds lots the database does not know: refuse to start (the message is the exit text)."""


def check_database(redis_lots: dict[str, int], db_lots: set[str], where: str) -> list[str]:
    """Refuse (DatabaseMismatch) when the database is new or lost lots that have bids.

    `redis_lots` maps each lot in Redis to its log's last seq. A lot with only its creation
    entry (seq 1) missing from the catalogue is what a crash between `create_lot`'s two writes
    leaves: it has no bids, so nothing financial is lost; it is returned, for the catalogue to
    be written again, unless the database holds no lots at all (a new database)."""
    missing = sorted(lot for lot in redis_lots if lot not in db_lots)
    if not missing:
        return []
    with_bids = [lot for lot in missing if redis_lots[lot] > 1]
    if with_bids or not db_lots:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise DatabaseMismatch(
            f"refusing to start: Redis holds {len(redis_lots)} lots but the database at {where} "
            f"{'is new' if not db_lots else f'does not know {len(missing)} of them'} ({shown}). "
            "Bidders, credit limits and settlements would be lost. Restore the database from its backup, "
            f"or point DATABASE_URL at the database these lots were created with; see {REPAIR}."
        )
    return missing


async def check_head(log: RedisLog, lot: str, seq: int, head_hash: bytes, recorded: Head | None) -> str | None:
    """Why the lot's log (ending at `seq`, `head_hash`) disagrees with its recorded head; None if it agrees."""
    if recorded is None:
        return None
    if seq < recorded.seq:
        return f"the log ends at seq {seq} but seq {recorded.seq} was recorded: acknowledged entries are missing"
    if seq == recorded.seq:
        found = head_hash.hex()
    else:
        rows = await log.read(lot, recorded.seq - 1, recorded.seq)
        found = rows[0].hash.hex() if rows else ""
    if found != recorded.head_hash:
        return f"the entry at seq {recorded.seq} does not have the recorded hash: the log was changed"
    return None
