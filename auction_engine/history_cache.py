"""The public JSON of each history item a reader was served, by lot and seq, so the next page
that asks for it costs a join instead of a Redis read, a msgpack decode and a JSON encode.

A lot's log only grows (an entry's seq names it for good; a correction is a new entry), so an
item encoded once is the item. Pages for staff (`command`, `hash`, the raw entry, for the
verifier) are always read from the log. Bounded: the least recently served items go first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import msgpack
import orjson

from .stream import Record

# Bytes of JSON kept. An item is ~550 bytes (a lot's public state at that seq) and ~220 more in the
# dict, its key and the bytes object: 12 MiB of JSON is ~23,000 items and ~17 MiB of memory, the
# 500-event pages of about 45 lots.
BUDGET = 12 * 2**20


def public_item(record: Record) -> dict[str, Any]:
    """A history item as anyone may see it: its seq and the public event logged beside the entry."""
    return {"seq": record.seq, **msgpack.unpackb(record.public, raw=False)}


class HistoryCache:
    __slots__ = ("budget", "size", "_items")

    def __init__(self, budget: int = BUDGET) -> None:
        self.budget = budget
        self.size = 0  # bytes of JSON kept
        self._items: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    def page(self, lot: str, after: int, upto: int) -> list[bytes] | None:
        """Items after..upto (seqs are contiguous), if every one is here; None otherwise."""
        items = self._items
        out = []
        for seq in range(after + 1, upto + 1):
            item = items.get((lot, seq))
            if item is None:
                return None
            out.append(item)
        for seq in range(after + 1, upto + 1):  # once the page is whole: recently served, kept longest
            items.move_to_end((lot, seq))
        return out

    def keep(self, lot: str, records: Iterable[Record]) -> list[bytes]:
        """Encode records read from the log, keep them, and return them in order."""
        items = self._items
        out = []
        for record in records:
            item = orjson.dumps(public_item(record), option=orjson.OPT_NON_STR_KEYS)
            old = items.pop((lot, record.seq), None)
            self.size += len(item) - (len(old) if old is not None else 0)
            items[(lot, record.seq)] = item
            out.append(item)
        while self.size > self.budget and items:
            self.size -= len(items.popitem(last=False)[1])
        return out

    def __len__(self) -> int:
        return len(self._items)
