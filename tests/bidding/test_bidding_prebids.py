"""docs/rules.md "Pre-bids": proxy maxima left on a scheduled lot, placed in order at its open."""

from bidding import Outage, Reason, exposure, next_min, public_view
from bidding.commands import Open
from bidding.log import verify
from tests.bidding.bidding_harness import RULES_LADDER, Lot, accepted, refused

# command, refusal, next_min of the refusal, public pre_bids after
WORKED_EXAMPLE = [
    ("A max 9000 @10000",   None,             None, 1),
    ("B amount 6000 @20000", Reason.LOT_NOT_OPEN, None, 1),
    ("B max 4000 @20000",   Reason.TOO_LOW,   5000, 1),
    ("B max 9000 @30000",   None,             None, 2),
    ("C max 15000 @40000",  None,             None, 3),
    ("A max 8000 @50000",   Reason.TOO_LOW,   9001, 3),
    ("D max 5000 @60000",   None,             None, 4),
]


def scheduled(**fields) -> Lot:
    return Lot(increments=RULES_LADDER, start_price=5000, reserve=12000, starts_at=100_000, **fields)


def place(lot: Lot, command: str):
    bidder, kind, value, at = command.split()
    return lot.bid(int(at.lstrip("@")), bidder, **{kind: int(value)})


def test_pre_bids_worked_example_row_by_row():
    lot = scheduled()
    for command, refusal, nm, count in WORKED_EXAMPLE:
        decision = place(lot, command)
        if refusal is None:
            assert accepted(decision), command
        else:
            assert refused(decision, refusal) and decision.next_min == nm, command
        view = lot.view()
        assert (view["pre_bids"], view["price"], view["leader"], view["bids"]) == (count, None, None, 0), command
    assert exposure(lot.spec, lot.state) == {"A": 9000, "B": 9000, "C": 15000, "D": 5000}
    assert accepted(lot.tick(100_000))  # row 8: the open
    state = lot.state
    assert (state.leader, state.price, next_min(lot.spec, state), state.bids, state.ends_at) == ("C", 12000, 12500, 3, 700_000)
    assert lot.view()["pre_bids"] == 0 and state.maxima == {"A": 9000, "B": 9000, "C": 15000}
    assert exposure(lot.spec, state) == {"C": 15000}
    opening = lot.events()[-4:]
    assert [e.kind for e in opening] == ["opened", "bid", "bid", "bid"] and all(e.at == 100_000 for e in opening)
    assert verify(lot.log).ok


def test_the_open_is_the_same_as_placing_each_pre_bid_at_the_open():
    pre = scheduled()
    live = scheduled()
    moves = [("A", 9000), ("B", 9000), ("C", 15000), ("D", 5000), ("A", 16000), ("B", 15500)]
    for i, (bidder, maximum) in enumerate(moves):
        pre.bid(1000 + i, bidder, max=maximum)
    pre.tick(100_000)
    live.tick(100_000)
    for bidder, maximum in moves:
        live.bid(100_000, bidder, max=maximum)
    keep = ("leader", "price", "maxima", "paddles", "bids", "ends_at", "extensions")
    assert {k: getattr(pre.state, k) for k in keep} == {k: getattr(live.state, k) for k in keep}
    assert public_view(pre.spec, pre.state) == public_view(live.spec, live.state) | {"seq": pre.state.seq}


def test_an_auctioneers_open_and_an_open_inside_an_outage_place_the_pre_bids_too():
    lot = Lot(increments=RULES_LADDER, start_price=5000)
    lot.bid(10, "A", max=9000)
    lot.bid(20, "B", amount=6000)
    assert accepted(lot.do(Open(at=50)))
    assert (lot.state.leader, lot.state.price) == ("A", 5000)
    outage = scheduled()
    outage.bid(10_000, "A", max=9000)
    assert accepted(outage.do(Outage(at=130_000, outage_ms=60_000, grace_ms=10_000)))
    assert (outage.state.leader, outage.state.price, outage.state.ends_at) == ("A", 5000, 740_000)
    assert verify(outage.log).ok


def test_no_pre_bids_on_sealed_or_dutch_lots_nor_from_the_floor():
    sealed = Lot(format="sealed_first", starts_at=100)
    assert refused(sealed.bid(1, "A", max=9000), Reason.LOT_NOT_OPEN)
    lot = scheduled()
    assert refused(lot.bid(1, "floor:7", amount=9000, floor=True), Reason.LOT_NOT_OPEN)
    assert lot.view()["pre_bids"] == 0


def test_pre_bids_placed_at_the_open_never_extend_the_lot():
    from bidding import AntiSnipe

    lot = Lot(increments=RULES_LADDER, start_price=5000, starts_at=1000, duration_s=60,
              anti_snipe=AntiSnipe(window_s=300, extend_s=300))
    lot.bid(10, "A", max=9000)
    lot.bid(20, "B", max=8000)
    assert accepted(lot.tick(1000))
    assert (lot.state.leader, lot.state.price, lot.state.ends_at, lot.state.extensions) == ("A", 8100, 61_000, 0)
    assert accepted(lot.bid(2000, "C", amount=9100))  # a bid after the open extends as ever
    assert (lot.state.ends_at, lot.state.extensions) == (302_000, 1)
