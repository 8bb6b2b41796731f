"""PROTOCOL.md private frames: who is told `outbid`, `won` or `lost` by one entry (bidding/notices.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bidding.notices import Lost, Notice, Outbid, Won, notices
from tests.bidding.bidding_harness import Lot, accepted


def english() -> Lot:
    lot = Lot(reserve=10000, increments=((0, 100),))
    lot.open(0)
    return lot


def pending() -> Lot:
    lot = english()
    lot.bid(1, "A", max=9000)
    lot.bid(2, "B", max=7000)
    lot.hammer(4)
    return lot


def told(lot: Lot, step: Callable[[Lot], Any]) -> list[Notice]:
    before_leader, before_result = lot.state.leader, lot.state.result
    assert accepted(step(lot))
    return notices(lot.spec, before_leader, before_result, lot.state)


def with_bids(*bids: tuple[str, int]) -> Callable[[], Lot]:
    def make() -> Lot:
        lot = english()
        for at, (bidder, v) in enumerate(bids, start=1):
            lot.bid(at, bidder, max=v)
        return lot

    return make


NOTICES: list[tuple[str, Callable[[], Lot], Callable[[Lot], Any], list[Notice]]] = [
    # case, lot, entry, who is told
    ("first bid: nobody", english, lambda lot: lot.bid(1, "A", max=9000), []),
    ("a higher max outbids the leader", with_bids(("A", 6000)), lambda lot: lot.bid(2, "B", max=8000), [Outbid("A", 6100, 6200)]),
    ("the leader raising tells nobody", with_bids(("A", 6000)), lambda lot: lot.bid(2, "A", max=8000), []),
    ("a lower max loses, nobody told", with_bids(("A", 9000)), lambda lot: lot.bid(2, "B", max=7000), []),
    ("sold: won, others lost", with_bids(("A", 12000), ("B", 11000)), lambda lot: lot.hammer(9), [Won("A", 11100), Lost("B")]),
    ("under reserve: all but leader", with_bids(("A", 9000), ("B", 7000)), lambda lot: lot.hammer(9), [Lost("B")]),
    ("approved: the leader wins", pending, lambda lot: lot.approve(9), [Won("A", 7100)]),
    ("rejected: the leader loses", pending, lambda lot: lot.reject(9), [Lost("A")]),
    ("withdrawn: everyone lost", with_bids(("A", 9000), ("B", 7000)), lambda lot: lot.withdraw(9), [Lost("A"), Lost("B")]),
    ("closed with no bids: nobody", english, lambda lot: lot.hammer(9), []),
]


def test_notices_table() -> None:
    for case, make, step, expected in NOTICES:
        assert told(make(), step) == expected, case


def test_a_sealed_lot_tells_nobody_outbid() -> None:
    lot = Lot(format="sealed_first", start_price=1000)
    lot.open(0)
    lot.bid(1, "A", amount=3000)
    assert told(lot, lambda lot: lot.bid(2, "B", amount=5000)) == []
