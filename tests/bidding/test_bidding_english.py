"""RULES.md "English (ascending) with proxy bids", "Timed lots and anti-sniping", buy now,
and the refusals around a bid."""

import pytest

from bidding import AntiSnipe, Reason, next_min
from bidding.ladder import DEFAULT_LADDER, step
from tests.bidding.bidding_harness import RULES_LADDER, Lot, accepted, refused

# RULES.md worked example: ladder [[0, 100], [10000, 500], [100000, 1000]], start 5000, reserve 12000.
WORKED_EXAMPLE = [
    # command          leader price  next_min refusal
    ("A max 9000",      "A",  5000,  5100,  None),                     # first bid, proxy starts at start_price
    ("B amount 6000",   "A",  6100,  6200,  None),                     # A's proxy answers: min(9000, 6000 + 100)
    ("B max 9000",      "A",  9000,  9100,  None),                     # tie: A was first
    ("C max 15000",     "C",  12000, 12500, None),                     # 9000 + 100 = 9100, then the reserve jump
    ("A amount 12500",  "C",  13000, 13500, None),                     # C's proxy answers: min(15000, 12500 + 500)
    ("A max 20000",     "A",  15500, 16000, None),                     # min(20000, 15000 + 500)
    ("A amount 16000",  "A",  15500, 16000, Reason.ALREADY_LEADING),   # refused
    ("A max 25000",     "A",  15500, 16000, None),                     # raises A's maximum only
    ("B amount 15000",  "A",  15500, 16000, Reason.TOO_LOW),           # refused: next_min is 16000
]


def parse(command: str) -> tuple[str, dict]:
    bidder, kind, value = command.split()
    return bidder, {kind: int(value)}


def worked_example_lot() -> Lot:
    lot = Lot(increments=RULES_LADDER, start_price=5000, reserve=12000)
    lot.open(0)
    return lot


def test_rules_worked_example_row_by_row():
    lot = worked_example_lot()
    for at, (command, leader, price, nm, refusal) in enumerate(WORKED_EXAMPLE, start=1):
        bidder, kwargs = parse(command)
        decision = lot.bid(at * 1000, bidder, **kwargs)
        if refusal is None:
            assert accepted(decision), command
        else:
            assert refused(decision, refusal), command
            assert decision.next_min == nm
        assert (lot.state.leader, lot.state.price, next_min(lot.spec, lot.state)) == (leader, price, nm), command
    assert lot.state.maxima == {"A": 25000, "B": 9000, "C": 15000}
    assert lot.view()["reserve_met"] is True
    assert lot.view()["leader"] == "P-A"


def test_default_ladder_is_rules_md_and_step_picks_last_tier():
    assert DEFAULT_LADDER == ((0, 10000), (1000000, 20000), (5000000, 50000), (10000000, 100000), (50000000, 200000))
    assert [step(DEFAULT_LADDER, p) for p in (0, 999999, 1000000, 4999999, 5000000, 10**9)] == [
        10000, 10000, 20000, 20000, 50000, 200000
    ]
    assert [step(RULES_LADDER, p) for p in (9999, 10000, 100000)] == [100, 500, 1000]


def test_first_straight_bid_sets_the_price():
    lot = Lot(increments=RULES_LADDER)
    lot.open(0)
    assert accepted(lot.bid(1, "A", amount=7000))
    assert (lot.state.price, next_min(lot.spec, lot.state)) == (7000, 7100)


def test_straight_bid_below_next_min_is_too_low_with_next_min():
    lot = Lot(increments=RULES_LADDER)
    lot.open(0)
    decision = lot.bid(1, "A", amount=4999)
    assert refused(decision, Reason.TOO_LOW) and decision.next_min == 5000


def test_leader_proxy_not_above_own_maximum_is_too_low():
    lot = Lot(increments=RULES_LADDER)
    lot.open(0)
    lot.bid(1, "A", max=9000)
    assert refused(lot.bid(2, "A", max=9000), Reason.TOO_LOW)
    assert refused(lot.bid(3, "A", max=5050), Reason.TOO_LOW)
    assert accepted(lot.bid(4, "A", max=9001))
    assert lot.state.price == 5000


def test_straight_bid_over_the_leader_maximum_takes_the_lead_at_its_amount():
    lot = Lot(increments=RULES_LADDER)
    lot.open(0)
    lot.bid(1, "A", max=6000)
    assert accepted(lot.bid(2, "B", amount=8000))
    assert (lot.state.leader, lot.state.price) == ("B", 8000)


def test_reserve_jump_when_leader_raises_over_the_reserve():
    lot = Lot(increments=RULES_LADDER, reserve=12000)
    lot.open(0)
    lot.bid(1, "A", max=9000)
    assert lot.state.price == 5000
    lot.bid(2, "A", max=13000)
    assert lot.state.price == 12000


def test_reserve_jump_on_first_proxy_bid():
    lot = Lot(increments=RULES_LADDER, reserve=12000)
    lot.open(0)
    lot.bid(1, "A", max=20000)
    assert lot.state.price == 12000


@pytest.mark.parametrize(
    "amount, max_",
    [(None, None), (6000, 7000), (5000.0, None), (None, 5000.0), (True, None), (None, True), (0, None),
     (None, -5), ("6000", None), (None, 10**16)],
)
def test_bad_amount(amount, max_):
    lot = Lot(increments=RULES_LADDER)
    lot.open(0)
    assert refused(lot.bid(1, "A", amount=amount, max=max_), Reason.BAD_AMOUNT)


def test_bids_refused_by_lot_status():
    lot = Lot()
    assert refused(lot.bid(1, "A", amount=5000), Reason.LOT_NOT_OPEN)
    lot.open(10)
    lot.pause(20)
    assert refused(lot.bid(30, "A", amount=5000), Reason.LOT_PAUSED)
    lot.resume(40)
    lot.hammer(50)
    assert refused(lot.bid(60, "A", amount=5000), Reason.LOT_CLOSED)


# RULES.md: opened at 0, duration_s 600, window 120, extend 120.
ANTI_SNIPE_EXAMPLE = [
    # bid at   ends_at  refusal
    (400000, 600000, None),                # outside the window: changes nothing
    (500000, 620000, None),
    (530000, 650000, None),
    (650000, 650000, Reason.LOT_CLOSED),   # at ends_at, before any close has run
]


def test_rules_anti_sniping_example():
    lot = Lot(duration_s=600, anti_snipe=AntiSnipe(window_s=120, extend_s=120), increments=RULES_LADDER)
    lot.open(0)
    for i, (at, ends_at, refusal) in enumerate(ANTI_SNIPE_EXAMPLE):
        decision = lot.bid(at, "AB"[i % 2], amount=next_min(lot.spec, lot.state))
        assert accepted(decision) if refusal is None else refused(decision, refusal)
        assert lot.state.ends_at == ends_at
    assert lot.state.extensions == 2


def test_anti_sniping_stops_at_max_extensions():
    lot = Lot(duration_s=600, anti_snipe=AntiSnipe(window_s=120, extend_s=120, max_extensions=1))
    lot.open(0)
    lot.bid(500000, "A", amount=5000)
    lot.bid(530000, "B", amount=next_min(lot.spec, lot.state))
    assert (lot.state.ends_at, lot.state.extensions) == (620000, 1)


def test_tick_closes_as_of_ends_at_even_when_late():
    lot = Lot(duration_s=600, increments=RULES_LADDER)
    lot.open(0)
    lot.bid(1000, "A", max=9000)
    assert refused(lot.tick(599999), Reason.NOT_ALLOWED)
    assert accepted(lot.tick(3_600_000))
    assert (lot.state.status, lot.state.result, lot.state.closed_at) == ("closed", "sold", 600000)
    assert lot.state.price == 5000


def test_buy_now_offered_until_the_first_accepted_bid():
    lot = Lot(increments=RULES_LADDER, reserve=12000, buy_now=20000)
    lot.open(0)
    assert lot.view()["buy_now"] == 20000
    assert refused(lot.bid(1, "A", amount=100), Reason.TOO_LOW)
    assert lot.view()["buy_now"] == 20000
    lot.bid(2, "A", amount=5000)
    assert lot.view()["buy_now"] is None
    assert refused(lot.buy_now(3, "B"), Reason.NOT_ALLOWED)


def test_buy_now_closes_the_lot_sold():
    lot = Lot(increments=RULES_LADDER, reserve=12000, buy_now=20000)
    assert refused(lot.buy_now(1, "B"), Reason.LOT_NOT_OPEN)
    lot.open(0)
    assert accepted(lot.buy_now(5, "B"))
    s = lot.state
    assert (s.status, s.result, s.price, s.leader, s.closed_at) == ("closed", "sold", 20000, "B", 5)
    assert refused(lot.bid(6, "A", amount=30000), Reason.LOT_CLOSED)


def test_buy_now_without_a_price_is_not_allowed():
    lot = Lot()
    lot.open(0)
    assert refused(lot.buy_now(1, "A"), Reason.NOT_ALLOWED)


def test_floor_bid_is_a_straight_bid_and_cannot_be_a_proxy():
    lot = Lot(increments=RULES_LADDER)
    lot.open(0)
    assert accepted(lot.bid(1, "floor:101", amount=5000, floor=True))
    assert lot.view()["leader"] == "P-floor:101"
    assert refused(lot.bid(2, "floor:102", max=9000, floor=True), Reason.BAD_AMOUNT)
