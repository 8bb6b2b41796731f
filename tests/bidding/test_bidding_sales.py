"""docs/rules.md "Sales": lots that end one after another, and group soft close (an anti-sniping
extension of one lot moves every later lot of the sale by the same amount)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bidding import AntiSnipe, Bid, ExtendBy, JoinSale, Reason, public_view
from bidding.commands import command_from_dict, command_to_dict
from bidding.log import verify
from bidding.sales import group_extensions, staggered_ends
from bidding.state import CLOSED, SOLD
from tests.bidding.bidding_harness import RULES_LADDER, Lot, accepted, refused, spec

SALE = ("A", "B", "C")
SNIPE = AntiSnipe(window_s=120, extend_s=120)


class Sale:
    """Three lots driven as the engine drives a sale: after each accepted command, a lot whose own
    anti-sniping moved it sends `extend_by` with its running total to every later lot."""

    def __init__(self, lots: tuple[str, ...] = SALE, first_end_at: int = 600_000, stagger_s: int = 60,
                 group: bool = True, duration_s: int = 3600) -> None:
        self.order = lots
        self.stagger_ms = stagger_s * 1000
        self.lots = {name: Lot(spec(lot=name, increments=RULES_LADDER, anti_snipe=SNIPE, duration_s=duration_s))
                     for name in lots}
        for name, ends_at in zip(lots, staggered_ends(first_end_at, stagger_s, len(lots)), strict=True):
            assert accepted(self.lots[name].do(JoinSale(at=0, sale="S1", ends_at=ends_at, group=group, lots=lots)))
        for lot in self.lots.values():
            assert accepted(lot.open(1000))

    def take(self, name: str, cmd: object):
        lot = self.lots[name]
        before = lot.state.snipe_ms
        decision = lot.take(cmd)
        total = lot.state.snipe_ms
        if total > before and lot.state.sale and lot.state.sale["group"]:
            for later, sent in group_extensions(self.order, name, total):
                self.lots[later].take(ExtendBy(at=cmd.at, source=name, total=sent))  # type: ignore[attr-defined]
        return decision

    def bid(self, name: str, at: int, bidder: str, amount: int):
        return self.take(name, Bid(at=at, bidder=bidder, paddle=f"P-{bidder}", id=f"{name}-{bidder}-{at}", amount=amount))

    def ends(self) -> tuple[int | str, ...]:
        return tuple("closed" if self.lots[n].state.status == CLOSED else self.lots[n].state.ends_at for n in self.order)


def test_staggered_ends_and_group_soft_close_worked_example_row_by_row():
    sale = Sale()
    assert sale.ends() == (600_000, 660_000, 720_000)  # row 1
    assert all(lot.view()["sale"] == "S1" for lot in sale.lots.values())
    assert accepted(sale.bid("A", 400_000, "X", 5000))  # row 2
    assert sale.ends() == (600_000, 660_000, 720_000)
    assert accepted(sale.bid("A", 530_000, "Y", 5100))  # row 3
    assert sale.ends() == (650_000, 710_000, 770_000)
    assert sale.lots["A"].state.snipe_ms == 50_000
    assert accepted(sale.bid("A", 640_000, "X", 5200))  # row 4
    assert sale.ends() == (760_000, 820_000, 880_000)
    assert [e.ms for e in sale.lots["C"].events() if e.kind == "extended"] == [50_000, 110_000]
    assert refused(sale.lots["C"].take(ExtendBy(at=641_000, source="A", total=50_000)), Reason.NOT_ALLOWED)  # row 5
    assert accepted(sale.lots["A"].tick(760_000))  # row 6
    assert sale.ends() == ("closed", 820_000, 880_000) and sale.lots["A"].state.result == SOLD
    assert accepted(sale.bid("B", 800_000, "Z", 5000))  # row 7
    assert sale.ends() == ("closed", 920_000, 980_000)
    assert (sale.lots["B"].state.extensions, sale.lots["C"].state.extensions) == (1, 0)  # a group move is no anti-snipe
    assert refused(sale.lots["B"].take(ExtendBy(at=801_000, source="C", total=1000)), Reason.NOT_ALLOWED)  # row 8
    for lot in sale.lots.values():
        assert verify(lot.log).ok


def test_who_may_join_a_sale():
    live = Lot(spec(lot="A", mode="live"))
    assert refused(live.do(JoinSale(at=0, sale="S", ends_at=10_000, group=True, lots=("A",))), Reason.NOT_ALLOWED)
    opened = Lot(spec(lot="A", duration_s=600))
    opened.open(0)
    assert refused(opened.do(JoinSale(at=1, sale="S", ends_at=599_999, group=True, lots=("A",))), Reason.NOT_ALLOWED)
    assert refused(opened.do(JoinSale(at=1, sale="S", ends_at=700_000, group=True, lots=("B",))), Reason.NOT_ALLOWED)
    assert accepted(opened.do(JoinSale(at=1, sale="S", ends_at=700_000, group=True, lots=("A", "B"))))
    assert opened.state.ends_at == 700_000
    assert refused(opened.do(JoinSale(at=2, sale="T", ends_at=800_000, group=True, lots=("A",))), Reason.NOT_ALLOWED)
    opened.hammer(3)
    closed = opened
    assert refused(closed.do(ExtendBy(at=4, source="X", total=5)), Reason.LOT_CLOSED)
    late = Lot(spec(lot="A"))
    assert accepted(late.do(JoinSale(at=0, sale="S", ends_at=5000, group=False, lots=("A",))))
    late.open(6000)  # opened after its slot: opens and closes at once
    assert accepted(late.tick(6000)) and late.state.status == CLOSED


def test_join_sale_and_extend_by_round_trip_through_the_log_encoding():
    for cmd in (JoinSale(at=1, sale="S", ends_at=9, group=True, lots=("A", "B")), ExtendBy(at=2, source="A", total=3)):
        assert command_from_dict(command_to_dict(cmd)) == cmd


def test_a_paused_or_scheduled_later_lot_keeps_its_place():
    sale = Sale()
    sale.lots["C"].pause(500_000)
    assert accepted(sale.bid("A", 530_000, "Y", 5000))
    assert sale.lots["C"].state.remaining_ms == 220_000 + 50_000
    scheduled = Lot(spec(lot="B", increments=RULES_LADDER))
    scheduled.do(JoinSale(at=0, sale="S", ends_at=660_000, group=True, lots=("A", "B")))
    assert accepted(scheduled.do(ExtendBy(at=10, source="A", total=50_000)))
    scheduled.open(20)
    assert scheduled.state.ends_at == 710_000 and public_view(scheduled.spec, scheduled.state)["ends_at"] == 710_000


def test_without_group_soft_close_each_lot_keeps_its_own_end():
    sale = Sale(group=False)
    assert accepted(sale.bid("A", 530_000, "Y", 5000))
    assert sale.ends() == (650_000, 660_000, 720_000)
    assert refused(sale.lots["B"].take(ExtendBy(at=531_000, source="A", total=50_000)), Reason.NOT_ALLOWED)


@settings(max_examples=60, deadline=None)
@given(
    stagger_s=st.integers(min_value=0, max_value=300),
    bids=st.lists(st.tuples(st.integers(min_value=0, max_value=3), st.integers(min_value=1, max_value=900_000)),
                  max_size=40),
)
def test_order_and_gaps_are_kept_under_any_sequence_of_extensions(stagger_s, bids):
    """Whatever late bids land on whichever lots, while every lot is open its end is at least
    `stagger_s` after the lot before it, and every later lot has taken exactly the earlier lots'
    own extensions (replay agrees)."""
    names = ("A", "B", "C", "D")
    sale = Sale(lots=names, stagger_s=stagger_s)
    amount = 5000
    for index, at in sorted(bids, key=lambda b: b[1]):
        name = names[index]
        sale.bid(name, at, f"X{at}", amount)
        amount += 100
        states = [sale.lots[n].state for n in names]
        for i, later in enumerate(states[1:], start=1):
            assert later.group_in == {n: sale.lots[n].state.snipe_ms for n in names[:i] if sale.lots[n].state.snipe_ms}
            earlier = states[i - 1]
            if earlier.status != CLOSED and later.status != CLOSED:
                assert later.ends_at is not None and earlier.ends_at is not None
                assert later.ends_at - earlier.ends_at >= sale.stagger_ms
    for lot in sale.lots.values():
        assert verify(lot.log).ok
