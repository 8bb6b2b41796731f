"""docs/rules.md "Inspection versions": every bid bound to the report it saw; a newer report
suspends older maxima until their bidders reconfirm."""

from bidding import PublishInspection, Reason, Reconfirm, auctioneer_view, bidder_view, next_min
from bidding.commands import RetractLast
from bidding.log import verify
from bidding.rules import winning_report
from tests.bidding.bidding_harness import RULES_LADDER, Lot, accepted, refused

WORKED_EXAMPLE = [
    # command              leader price  next_min refusal
    ("A max 9000 @1000",     "A", 5000, 5100, None),
    ("B amount 6000 @2000",  "A", 6100, 6200, None),
    ("inspection 2 @3000",   "A", 6100, 6200, None),
    ("B amount 6500 @4000",  "B", 6500, 6600, None),
    ("A reconfirm @5000",    "A", 6600, 6700, None),
    ("inspection 2 @6000",   "A", 6600, 6700, Reason.NOT_ALLOWED),
    ("inspection 3 @7000",   "A", 6600, 6700, None),
    ("A max 10000 @8000",    "A", 6600, 6700, None),
    ("C max 8000 @9000",     "A", 8100, 8200, None),
    ("B reconfirm @10000",   "A", 8100, 8200, None),
    ("D reconfirm @11000",   "A", 8100, 8200, Reason.NOT_ALLOWED),
]


def run(lot: Lot, command: str):
    words = command.split()
    at = int(words[-1].lstrip("@"))
    if words[0] == "inspection":
        return lot.do(PublishInspection(at=at, version=int(words[1]), report_url=f"https://r.example/{words[1]}"))
    if words[1] == "reconfirm":
        return lot.do(Reconfirm(at=at, bidder=words[0], paddle=f"P-{words[0]}", id=f"r{at}"))
    bidder, kind, value = words[:3]
    return lot.bid(at, bidder, **{kind: int(value)})


def test_inspection_versions_worked_example_row_by_row():
    lot = Lot(increments=RULES_LADDER, start_price=5000)
    lot.open(0)
    assert lot.view()["inspection_version"] == 1
    for row, (command, leader, price, nm, refusal) in enumerate(WORKED_EXAMPLE, start=1):
        decision = run(lot, command)
        assert accepted(decision) if refusal is None else refused(decision, refusal), command
        assert (lot.state.leader, lot.state.price, next_min(lot.spec, lot.state)) == (leader, price, nm), command
        if row == 3:
            assert bidder_view(lot.spec, lot.state, "A")["suspended"] is True
            assert bidder_view(lot.spec, lot.state, "B")["suspended"] is True  # B's 6000 was on version 1 too
        if row == 5:
            assert [e.kind for e in lot.events()][-1] == "bid" and lot.state.seen["A"] == 2
        if row == 10:
            assert [e.kind for e in lot.events()][-1] == "reconfirmed" and lot.state.seen["B"] == 3
    assert lot.view()["inspection_version"] == 3
    assert auctioneer_view(lot.spec, lot.state)["seen"] == {"A": 3, "B": 3, "C": 3}
    assert verify(lot.log).ok


def test_the_report_version_starts_from_the_spec_and_nothing_newer_after_the_close():
    lot = Lot(increments=RULES_LADDER, vehicle={"make": "BYD", "inspection": {"grade": "4", "version": 4}})
    lot.open(0)
    assert lot.view()["inspection_version"] == 4
    assert refused(lot.do(PublishInspection(at=1, version=4)), Reason.NOT_ALLOWED)
    assert refused(lot.do(PublishInspection(at=1, version=1001)), Reason.NOT_ALLOWED)
    assert refused(lot.do(PublishInspection(at=1, version=5, report_url="")), Reason.NOT_ALLOWED)
    assert accepted(lot.do(PublishInspection(at=1, version=5)))
    lot.hammer(2)
    assert refused(lot.do(PublishInspection(at=3, version=6)), Reason.LOT_CLOSED)
    assert refused(lot.do(Reconfirm(at=3, bidder="A", paddle="P-A", id="r")), Reason.LOT_CLOSED)


def test_a_retraction_gives_back_the_version_the_earlier_maximum_stood_on():
    lot = Lot(increments=RULES_LADDER, start_price=5000)
    lot.open(0)
    lot.bid(1, "A", max=9000)
    lot.do(PublishInspection(at=2, version=2))
    lot.bid(3, "A", max=12000)  # A's raise, on version 2
    assert lot.state.seen["A"] == 2
    assert accepted(lot.do(RetractLast(at=4, reason="raise in error")))
    assert (lot.state.maxima["A"], lot.state.seen["A"], bidder_view(lot.spec, lot.state, "A")["suspended"]) == (9000, 1, True)


def test_the_winner_is_bound_to_the_report_their_winning_bid_saw():
    """The settlement names `winning_report`: the version the winner's standing maximum was placed
    on, even when a newer report came out and they never reconfirmed; a buy-now's is the current one."""
    lot = Lot(increments=RULES_LADDER, start_price=5000)
    lot.open(0)
    assert winning_report(lot.state) is None
    lot.bid(1, "A", max=9000)
    lot.do(PublishInspection(at=2, version=2))
    lot.hammer(3)
    assert (lot.state.result, winning_report(lot.state)) == ("sold", 1)
    bought = Lot(increments=RULES_LADDER, start_price=5000, buy_now=20000)
    bought.open(0)
    bought.do(PublishInspection(at=1, version=4))
    assert accepted(bought.buy_now(2, "B")) and winning_report(bought.state) == 4
