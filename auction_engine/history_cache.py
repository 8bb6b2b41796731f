"""The public JSON of each history item a reader was served, by lot and seq, so the next page
that asks for it costs a join instead of a Redis read, a msgpack decode and a JSON encode.

A lot's log only grows (an entry's seq names it for good; a correction is a new entry), so an
item encoded once is the item. Pages for staff (`command`, `hash`, the raw entry, for the
verifier) are always read from the log. Bounded: the least recently served items go first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import msgpack
import orjson

from .stream import Record

CAPACITY = 50_000  # items (~250 bytes each with their key): ~12 MB; 100 lots' 500-event pages


class HistoryCache:
    __slots__ = ("capacity", "_items")

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
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
            public = msgpack.unpackb(record.public, raw=False)
            item = orjson.dumps({"seq": record.seq, **public}, option=orjson.OPT_NON_STR_KEYS)
            items[(lot, record.seq)] = item
            items.move_to_end((lot, record.seq))
            out.append(item)
        while len(items) > self.capacity:
            items.popitem(last=False)
        return out

    def __len__(self) -> int:
        return len(self._items)
