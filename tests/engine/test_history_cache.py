"""The public history items kept encoded (`history_cache.py`): a page comes from it only when
every item of it is there, an item is the JSON a fresh read would give, and the least recently
served items go first."""

from __future__ import annotations

import json

import msgpack

from auction_engine.history_cache import HistoryCache
from auction_engine.stream import Record


def record(seq: int, price: int) -> Record:
    public = msgpack.packb({"kind": "bid_accepted", "price": price, "title": "丰田凯美瑞 2019"})
    return Record(seq, b"entry", b"hash", public)


def test_an_item_is_the_json_a_fresh_read_gives() -> None:
    cache = HistoryCache()
    [item] = cache.keep("L1", [record(1, 5000)])
    assert json.loads(item) == {"seq": 1, "kind": "bid_accepted", "price": 5000, "title": "丰田凯美瑞 2019"}


def test_a_page_is_served_only_when_every_item_of_it_is_kept() -> None:
    cache = HistoryCache()
    cache.keep("L1", [record(seq, 1000 * seq) for seq in range(1, 6)])
    page = cache.page("L1", 0, 5)
    assert page is not None and [json.loads(i)["seq"] for i in page] == [1, 2, 3, 4, 5]
    assert cache.page("L1", 2, 4) is not None
    assert cache.page("L1", 3, 6) is None  # seq 6 was never read
    assert cache.page("L2", 0, 1) is None  # another lot's seq 1 is not this one's
    assert cache.page("L1", 5, 5) == []


def test_the_least_recently_served_items_go_first_once_the_budget_is_spent() -> None:
    one = len(HistoryCache().keep("X", [record(1, 1000)])[0])  # every record here encodes to the same size
    cache = HistoryCache(budget=4 * one)
    cache.keep("L1", [record(1, 1000), record(2, 2000)])
    cache.keep("L2", [record(1, 1000), record(2, 2000)])
    assert cache.page("L1", 0, 2) is not None  # L1 served again: L2's items are now the oldest
    cache.keep("L3", [record(1, 1000)])
    assert len(cache) == 4 and cache.size == 4 * one
    assert cache.page("L1", 0, 2) is not None and cache.page("L3", 0, 1) is not None
    assert cache.page("L2", 0, 2) is None and cache.page("L2", 1, 2) is not None
    cache.keep("L3", [record(1, 1000)])  # read again: counted once
    assert cache.size == 4 * one
