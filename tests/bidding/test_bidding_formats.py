"""RULES.md "Sealed bids", "Descending (Dutch)", "Live lots", "Close and result": the worked
example and the rules around it, one behaviour per test."""

from bidding import DutchSpec, Reason, dutch_price, exposure, next_deadline
from tests.bidding.bidding_harness import Lot, accepted, refused


def sealed(fmt: str, **fields) -> Lot:
    lot = Lot(format=fmt, start_price=1000, increments=((0, 100),), **fields)
    lot.open(0)
    return lot


# RULES.md: sealed_second, start 1000, ladder [[0, 100]]: A 3000, B 2500, C 2000 -> A wins at 2600.
def test_rules_sealed_second_example():
    lot = sealed("sealed_second")
    for at, (bidder, amount) in enumerate([("A", 3000), ("B", 2500), ("C", 2000)], start=1):
        assert accepted(lot.bid(at, bidder, amount=amount))
    view = lot.view()
    assert (view["price"], view["leader"], view["next_min"], view["bids"]) == (None, None, None, 3)
    lot.tick(600000)
    s = lot.state
    assert (s.result, s.leader, s.price) == ("sold", "A", 2600)
    assert lot.view()["leader"] == "P-A"


SEALED_CASES = [
    # format           bids (bidder, amount) in order          reserve  winner  price  result
    ("sealed_first",  [("A", 3000), ("B", 3500), ("C", 2000)], None,    "B",    3500,  "sold"),
    ("sealed_first",  [("A", 3000), ("B", 3000)],              None,    "A",    3000,  "sold"),   # tie: earlier
    ("sealed_second", [("A", 3000)],                           None,    "A",    1000,  "sold"),   # alone: start
    ("sealed_second", [("A", 3000), ("B", 3000)],              None,    "A",    3000,  "sold"),   # capped at the bid
    ("sealed_second", [("A", 3000), ("B", 2500)],              2800,    "A",    2800,  "sold"),   # reserve jump
    ("sealed_second", [("A", 3000), ("B", 2500)],              3500,    "A",    2600,  "pending_approval"),
    ("sealed_first",  [("A", 3000), ("B", 2500)],              3500,    "A",    3000,  "pending_approval"),
    ("sealed_second", [("A", 2000), ("B", 2500), ("A", 2700)], None,    "A",    2600,  "sold"),   # A raised
]


def test_sealed_results():
    for fmt, bids, reserve, winner, price, result in SEALED_CASES:
        lot = sealed(fmt, reserve=reserve)
        for at, (bidder, amount) in enumerate(bids, start=1):
            assert accepted(lot.bid(at, bidder, amount=amount)), (fmt, bids)
        lot.tick(600000)
        assert (lot.state.leader, lot.state.price, lot.state.result) == (winner, price, result), (fmt, bids)


def test_sealed_later_bid_must_beat_own_earlier_bid():
    lot = sealed("sealed_first")
    lot.bid(1, "A", amount=3000)
    decision = lot.bid(2, "A", amount=3000)
    assert refused(decision, Reason.TOO_LOW) and decision.next_min == 3001
    assert refused(lot.bid(3, "A", amount=999), Reason.TOO_LOW)
    assert accepted(lot.bid(4, "B", amount=1000))
    assert accepted(lot.bid(5, "A", max=3100))  # max is treated as the amount


def test_sealed_hides_amounts_and_leading_until_close():
    lot = sealed("sealed_second", reserve=1500)
    lot.bid(1, "A", amount=3000)
    view = lot.view()
    assert view["reserve_met"] is None
    from bidding import bidder_view

    mine = bidder_view(lot.spec, lot.state, "A")
    assert (mine["your_max"], mine["leading"], mine["price"]) == (3000, None, None)
    assert exposure(lot.spec, lot.state) == {"A": 3000}


DUTCH = DutchSpec(step=1000, tick_s=10, floor=60000)


def dutch_lot() -> Lot:
    lot = Lot(format="dutch", start_price=100000, dutch=DUTCH, duration_s=600)
    lot.open(1000)
    return lot


DUTCH_PRICES = [
    # at (ms)     price
    (1000,        100000),   # opened
    (10999,       100000),
    (11000,       99000),    # one tick
    (26000,       98000),    # floor_div(25000, 10000) = 2
    (401000,      60000),    # 40 ticks would be 60000
    (600000,      60000),    # the floor holds
]


def test_rules_dutch_price_curve():
    lot = dutch_lot()
    for at, price in DUTCH_PRICES:
        assert dutch_price(lot.spec, lot.state, at) == price, at
        assert lot.view(now=at)["price"] == price


def test_dutch_first_bid_at_or_over_the_clock_price_wins_at_the_clock_price():
    lot = dutch_lot()
    decision = lot.bid(26000, "A", amount=97000)
    assert refused(decision, Reason.TOO_LOW) and decision.next_min == 98000
    assert accepted(lot.bid(26000, "B", amount=99000))
    s = lot.state
    assert (s.status, s.result, s.price, s.leader, s.closed_at) == ("closed", "sold", 98000, "B", 26000)
    assert refused(lot.bid(27000, "A", max=100000), Reason.LOT_CLOSED)


def test_dutch_no_taker_by_ends_at_is_unsold():
    lot = dutch_lot()
    assert next_deadline(lot.spec, lot.state) == 601000
    assert accepted(lot.tick(601000))
    assert (lot.state.status, lot.state.result, lot.state.price) == ("closed", "unsold", None)


def test_dutch_cannot_pause():
    lot = dutch_lot()
    assert refused(lot.pause(2000), Reason.NOT_ALLOWED)


def live_lot(**fields) -> Lot:
    lot = Lot(mode="live", increments=((0, 100),), **fields)
    lot.open(0)
    return lot


def test_live_lot_opens_without_an_end_and_closes_on_fair_warning():
    lot = live_lot()
    assert lot.state.ends_at is None and next_deadline(lot.spec, lot.state) is None
    lot.bid(50000, "A", amount=5000)
    assert lot.state.ends_at is None
    assert accepted(lot.fair_warning(100000))
    assert lot.state.ends_at == 110000 and lot.view()["fair_warning"] is True
    assert refused(lot.fair_warning(101000), Reason.NOT_ALLOWED)
    lot.bid(105000, "B", amount=5100)      # a bid during fair warning: max(ends_at, t + 10 s)
    assert lot.state.ends_at == 115000
    lot.bid(105500, "A", amount=5200)
    assert lot.state.ends_at == 115500
    assert refused(lot.tick(115499), Reason.NOT_ALLOWED)
    assert accepted(lot.tick(115600))
    s = lot.state
    assert (s.result, s.price, s.leader, s.closed_at) == ("sold", 5200, "A", 115500)


def test_live_hammer_closes_at_once():
    lot = live_lot()
    lot.bid(1000, "A", amount=5000)
    assert accepted(lot.hammer(2000))
    assert (lot.state.status, lot.state.result, lot.state.closed_at) == ("closed", "sold", 2000)
    assert refused(lot.hammer(3000), Reason.LOT_CLOSED)


def test_live_auto_fair_warning_counts_from_open_then_from_the_last_bid():
    lot = live_lot(auto_fair_warning_s=30)
    assert next_deadline(lot.spec, lot.state) == 30000
    lot.bid(20000, "A", amount=5000)
    assert next_deadline(lot.spec, lot.state) == 50000
    assert refused(lot.tick(49999), Reason.NOT_ALLOWED)
    assert accepted(lot.tick(50000))
    assert (lot.state.fair_warning, lot.state.ends_at) == (True, 60000)
    assert next_deadline(lot.spec, lot.state) == 60000
    lot.tick(60000)
    assert (lot.state.result, lot.state.closed_at) == ("sold", 60000)


def test_live_late_timer_gives_the_warning_and_closes_as_due():
    lot = live_lot(auto_fair_warning_s=30)
    decision = lot.tick(100000)
    assert [e.kind for e in decision.events] == ["fair_warning", "closed"]
    assert (lot.state.result, lot.state.closed_at) == ("unsold", 40000)


def test_live_pause_during_fair_warning_keeps_the_remaining_time():
    lot = live_lot()
    lot.bid(1000, "A", amount=5000)
    lot.fair_warning(10000)
    assert accepted(lot.pause(14000))
    assert (lot.state.ends_at, lot.state.remaining_ms, lot.view()["remaining_ms"]) == (None, 6000, 6000)
    assert refused(lot.bid(15000, "B", amount=5100), Reason.LOT_PAUSED)
    assert refused(lot.tick(100000), Reason.NOT_ALLOWED)
    assert accepted(lot.resume(100000))
    assert lot.state.ends_at == 106000


def test_timed_pause_and_resume():
    lot = Lot(duration_s=600)
    lot.open(0)
    assert refused(lot.resume(1), Reason.NOT_ALLOWED)
    lot.pause(100000)
    assert refused(lot.pause(100001), Reason.NOT_ALLOWED)
    assert refused(lot.tick(600000), Reason.NOT_ALLOWED)
    lot.resume(200000)
    assert (lot.state.status, lot.state.ends_at) == ("open", 700000)


def test_fair_warning_is_for_live_lots():
    lot = Lot()
    lot.open(0)
    assert refused(lot.fair_warning(1), Reason.NOT_ALLOWED)


CLOSE_RESULTS = [
    # bids (bidder, max)               reserve  result
    ([],                               None,    "unsold"),
    ([("A", 9000)],                    None,    "sold"),
    ([("A", 9000)],                    5000,    "sold"),
    ([("A", 9000)],                    9000,    "sold"),       # reserve jump to exactly 9000
    ([("A", 9000), ("B", 7000)],       10000,   "pending_approval"),
]


def test_close_results():
    for bids, reserve, result in CLOSE_RESULTS:
        lot = Lot(reserve=reserve, increments=((0, 100),))
        lot.open(0)
        for at, (bidder, v) in enumerate(bids, start=1):
            lot.bid(at, bidder, max=v)
        lot.hammer(100)
        assert lot.state.result == result, (bids, reserve)


def pending_lot() -> Lot:
    lot = Lot(reserve=10000, increments=((0, 100),))
    lot.open(0)
    lot.bid(1, "A", max=9000)
    lot.bid(2, "B", max=7000)
    assert refused(lot.approve(3), Reason.NOT_ALLOWED)
    lot.hammer(4)
    assert (lot.state.result, lot.state.price) == ("pending_approval", 7100)
    assert exposure(lot.spec, lot.state) == {"A": 7100}
    return lot


def test_approve_sells_at_the_price():
    lot = pending_lot()
    assert accepted(lot.approve(5))
    assert (lot.state.result, lot.state.price, lot.state.leader) == ("sold", 7100, "A")
    assert refused(lot.approve(6), Reason.NOT_ALLOWED)
    assert refused(lot.reject(6), Reason.NOT_ALLOWED)


def test_reject_leaves_the_lot_unsold():
    lot = pending_lot()
    assert accepted(lot.reject(5))
    assert lot.state.result == "unsold"
    assert exposure(lot.spec, lot.state) == {}


def test_withdraw_from_scheduled_open_and_paused():
    for steps in ([], ["open"], ["open", "pause"]):
        lot = Lot()
        for i, name in enumerate(steps):
            getattr(lot, name)(i)
        assert accepted(lot.withdraw(10))
        assert (lot.state.status, lot.state.result) == ("closed", "withdrawn")
        assert refused(lot.withdraw(11), Reason.LOT_CLOSED)
        assert refused(lot.open(12), Reason.LOT_CLOSED)


def test_auctioneer_commands_out_of_place():
    lot = Lot()
    for name in ("pause", "resume", "fair_warning", "hammer", "approve", "reject"):
        assert refused(getattr(lot, name)(1), Reason.NOT_ALLOWED), name
    lot.open(0)
    assert refused(lot.open(1), Reason.NOT_ALLOWED)
    assert refused(lot.hammer(600000), Reason.LOT_CLOSED)  # past ends_at: only the timer closes it


def test_scheduled_lot_opens_on_tick_at_starts_at():
    lot = Lot(starts_at=50000, duration_s=600)
    assert next_deadline(lot.spec, lot.state) == 50000
    assert refused(lot.tick(49999), Reason.NOT_ALLOWED)
    assert refused(lot.bid(49999, "A", amount=5000), Reason.LOT_NOT_OPEN)
    assert accepted(lot.tick(50020))
    assert (lot.state.opened_at, lot.state.ends_at) == (50000, 650000)


def test_a_bid_after_starts_at_opens_the_lot_before_the_timer_does():
    lot = Lot(starts_at=50000, duration_s=600)
    decision = lot.bid(50001, "A", amount=5000)
    assert [e.kind for e in decision.events] == ["opened", "bid"]
    assert (lot.state.opened_at, lot.state.price) == (50000, 5000)
    assert refused(lot.tick(50002), Reason.NOT_ALLOWED)


def test_engine_down_through_the_whole_window_opens_and_closes_as_scheduled():
    lot = Lot(starts_at=50000, duration_s=600)
    assert refused(lot.bid(700000, "A", amount=5000), Reason.LOT_CLOSED)
    decision = lot.tick(700000)
    assert [e.kind for e in decision.events] == ["opened", "closed"]
    assert (lot.state.result, lot.state.closed_at) == ("unsold", 650000)
