"""docs/rules.md "Clerk corrections": retract_last, asking and reopen, row by row, and around them."""

from bidding import Asking, Reason, Reopen, RetractLast, next_min
from bidding.log import verify
from bidding.state import RETRACT_DEPTH
from tests.bidding.bidding_harness import RULES_LADDER, Lot, accepted, refused

# command, leader, price, next_min (None once closed), refusal
WORKED_EXAMPLE = [
    ("A max 9000 @1000",                           "A", 5000,  5100,  None),
    ("B amount 6000 @2000",                        "A", 6100,  6200,  None),
    ("C max 15000 @3000",                          "C", 12000, 12500, None),
    ("retract_last phone-bid-misheard @4000",      "A", 6100,  6200,  None),
    ("retract_last duplicate @5000",               "A", 5000,  5100,  None),
    ("asking 9500 @6000",                          "A", 5000,  9500,  None),
    ("B amount 9000 @7000",                        "A", 5000,  9500,  Reason.TOO_LOW),
    ("B max 11000 @8000",                          "B", 9500,  9600,  None),
    ("close @10000",                               "B", 9500,  None,  None),
    ("reopen @40000",                              "B", 9500,  9600,  None),
    ("A max 20000 @41000",                         "A", 12000, 12500, None),
    ("asking 12400 @42000",                        "A", 12000, 12500, Reason.TOO_LOW),
    ("close @43000",                               "A", 12000, None,  None),
    ("reopen @103000",                             "A", 12000, None,  Reason.NOT_ALLOWED),
]
RESULTS = {9: "pending_approval", 10: None, 13: "sold", 14: "sold"}


def live_lot() -> Lot:
    lot = Lot(mode="live", increments=RULES_LADDER, start_price=5000, reserve=12000)
    lot.open(0)
    return lot


def run(lot: Lot, command: str):
    words = command.split()
    at = int(words[-1].lstrip("@"))
    if words[0] == "retract_last":
        return lot.do(RetractLast(at=at, reason=words[1].replace("-", " ")))
    if words[0] == "asking":
        return lot.do(Asking(at=at, amount=int(words[1])))
    if words[0] == "reopen":
        return lot.do(Reopen(at=at))
    if words[0] == "close":
        return lot.hammer(at)
    bidder, kind, value = words[:3]
    return lot.bid(at, bidder, **{kind: int(value)})


def test_clerk_corrections_worked_example_row_by_row():
    lot = live_lot()
    for row, (command, leader, price, nm, refusal) in enumerate(WORKED_EXAMPLE, start=1):
        decision = run(lot, command)
        if refusal is None:
            assert accepted(decision), command
        else:
            assert refused(decision, refusal), command
            if refusal == Reason.TOO_LOW:
                assert decision.next_min == nm, command
        assert (lot.state.leader, lot.state.price, next_min(lot.spec, lot.state)) == (leader, price, nm), command
        if row in RESULTS:
            assert lot.state.result == RESULTS[row], command
        if row == 4:
            assert "C" not in lot.state.maxima and lot.state.bids == 2
            assert lot.view()["correction"] == {"kind": "retracted", "at": 4000, "reason": "phone bid misheard"}
        if row == 5:
            assert lot.state.maxima == {"A": 9000} and lot.state.bids == 1
    assert verify(lot.log).ok
    kinds = [e.kind for e in lot.events()]
    assert kinds.count("retracted") == 2 and kinds.count("reopened") == 1 and kinds.count("asking") == 1


def test_a_retraction_brings_back_the_leading_proxy_and_buy_now():
    lot = Lot(increments=RULES_LADDER, start_price=5000, buy_now=50000)
    lot.open(0)
    lot.bid(1, "A", max=9000)
    lot.bid(2, "A", max=12000)  # the leader raises: retracting it gives back 9000
    lot.bid(3, "B", amount=10000)  # answered by A's proxy at 10500
    assert (lot.state.leader, lot.state.price) == ("A", 10500)
    assert accepted(lot.do(RetractLast(at=4, reason="wrong lot")))
    assert (lot.state.leader, lot.state.price, lot.state.maxima) == ("A", 5000, {"A": 12000})
    assert accepted(lot.do(RetractLast(at=5, reason="raise typed wrong")))
    assert lot.state.maxima == {"A": 9000}
    assert accepted(lot.do(RetractLast(at=6, reason="test bid")))
    assert (lot.state.leader, lot.state.price, lot.state.maxima, lot.state.paddles) == (None, None, {}, {})
    assert lot.view()["buy_now"] == 50000 and lot.state.bids == 0
    assert refused(lot.do(RetractLast(at=7, reason="nothing left")), Reason.NOT_ALLOWED)
    assert verify(lot.log).ok


def test_a_retraction_never_moves_the_end_earlier():
    from bidding import AntiSnipe

    lot = Lot(increments=RULES_LADDER, anti_snipe=AntiSnipe(window_s=60, extend_s=60))
    lot.open(0)
    lot.bid(590_000, "A", amount=6000)
    assert (lot.state.ends_at, lot.state.extensions) == (650_000, 1)
    assert accepted(lot.do(RetractLast(at=591_000, reason="shill")))
    assert (lot.state.ends_at, lot.state.extensions, lot.state.price) == (650_000, 1, None)


def test_corrections_out_of_place_are_refused_and_change_nothing():
    timed = Lot(increments=RULES_LADDER)
    timed.open(0)
    assert refused(timed.do(Asking(at=1, amount=9000)), Reason.NOT_ALLOWED)  # live lots only
    timed.hammer(2)
    assert refused(timed.do(Reopen(at=3)), Reason.NOT_ALLOWED)  # live lots only
    sealed = Lot(format="sealed_first")
    sealed.open(0)
    sealed.bid(1, "A", amount=6000)
    assert refused(sealed.do(RetractLast(at=2, reason="x")), Reason.NOT_ALLOWED)
    lot = live_lot()
    lot.bid(1, "A", amount=6000)
    for reason in ("", "x" * 201):
        assert refused(lot.do(RetractLast(at=2, reason=reason)), Reason.NOT_ALLOWED)
    for amount in (0, -1, True, 1.5, 10**16):
        assert refused(lot.do(Asking(at=2, amount=amount)), Reason.BAD_AMOUNT)
    assert refused(lot.do(Reopen(at=2)), Reason.NOT_ALLOWED)  # not closed
    lot.withdraw(3)
    assert refused(lot.do(Reopen(at=4)), Reason.NOT_ALLOWED)  # withdrawn is no mistake of the hammer
    assert refused(lot.do(RetractLast(at=4, reason="late")), Reason.LOT_CLOSED)
    assert refused(lot.do(Asking(at=4, amount=9000)), Reason.LOT_CLOSED)


def test_the_asking_amount_can_be_lowered_to_the_ladder_and_stands_through_a_leaders_raise():
    lot = live_lot()
    lot.bid(1, "A", max=9000)
    assert accepted(lot.do(Asking(at=2, amount=9500)))
    assert accepted(lot.do(Asking(at=3, amount=6000)))  # lowered again, still >= the ladder's 5100
    assert refused(lot.do(Asking(at=4, amount=5000)), Reason.TOO_LOW)
    assert accepted(lot.bid(5, "A", max=10000)) and next_min(lot.spec, lot.state) == 6000  # A's raise leaves it
    assert accepted(lot.bid(6, "B", amount=6000))
    assert (lot.state.leader, lot.state.price, lot.state.asking) == ("A", 6100, None)


def test_a_first_proxy_opens_at_the_asking_amount():
    lot = live_lot()
    lot.do(Asking(at=1, amount=7000))
    assert accepted(lot.bid(2, "A", max=9000))
    assert (lot.state.price, next_min(lot.spec, lot.state)) == (7000, 7100)


def test_a_reopened_lot_keeps_its_auto_fair_warning_and_closes_again():
    lot = Lot(mode="live", increments=RULES_LADDER, auto_fair_warning_s=10, fair_warning_s=5)
    lot.open(0)
    lot.bid(1000, "A", amount=6000)
    lot.hammer(2000)
    assert accepted(lot.do(Reopen(at=3000)))
    assert (lot.state.status, lot.state.result, lot.state.ends_at, lot.state.closed_at) == ("open", None, None, None)
    assert accepted(lot.tick(13000))  # fair warning 10 s after the reopen
    assert accepted(lot.tick(18000))  # and its end closes the lot again
    assert (lot.state.result, lot.state.closed_at, lot.state.reopen_by) == ("sold", 18000, 78000)


def test_approve_or_reject_ends_the_reopen_window():
    lot = live_lot()
    lot.bid(1, "A", amount=6000)
    lot.hammer(2)
    assert lot.state.result == "pending_approval"
    lot.approve(3)
    assert refused(lot.do(Reopen(at=4)), Reason.NOT_ALLOWED)


def test_retractions_go_back_at_most_retract_depth_bids():
    lot = Lot(increments=((0, 1),), start_price=1)
    lot.open(0)
    for i in range(RETRACT_DEPTH + 5):
        lot.bid(i + 1, "AB"[i % 2], amount=i + 1)
    for i in range(RETRACT_DEPTH):
        assert accepted(lot.do(RetractLast(at=1000 + i, reason="undo")))
    assert lot.state.price == 5 and lot.state.bids == 5
    assert refused(lot.do(RetractLast(at=2000, reason="one too many")), Reason.NOT_ALLOWED)
