"""docs/rules.md "Counter-offers": counter, accept_counter, decline_counter and the lapse, row by row."""

import pytest

from bidding import AcceptCounter, Counter, DeclineCounter, LotSpec, Reason, SpecError, auctioneer_view, bidder_view
from bidding.log import encode_entry, verify
from bidding.notices import CounterOffer, Won, notices
from tests.bidding.bidding_harness import RULES_LADDER, Lot, accepted, refused

EXPIRES_AT = 610_000 + 86_400_000
# command, refusal (None: accepted), result after
COMMON = [
    ("A max 9000 @1000",              None,               None),
    ("B amount 9500 @2000",           None,               None),
    ("tick @600000",                  None,               "pending_approval"),
    ("counter 9500 @610000",          Reason.TOO_LOW,     "pending_approval"),
    ("counter 12500 @610000",         Reason.NOT_ALLOWED, "pending_approval"),
    ("counter 11000 @610000",         None,               "pending_approval"),
    ("A accept_counter @620000",      Reason.NOT_ALLOWED, "pending_approval"),
    ("counter 10500 @630000",         Reason.NOT_ALLOWED, "pending_approval"),
]
ENDINGS = {
    "9a": ("B accept_counter @640000", None, "sold", 11000),
    "9b": ("B decline_counter @640000", None, "unsold", 9500),
    "9c": (f"tick @{EXPIRES_AT}", None, "unsold", 9500),
    "9d": (f"B accept_counter @{EXPIRES_AT}", Reason.NOT_ALLOWED, "unsold", 9500),
}


def run(lot: Lot, command: str):
    words = command.split()
    at = int(words[-1].lstrip("@"))
    if words[0] == "tick":
        return lot.tick(at)
    if words[0] == "counter":
        return lot.do(Counter(at=at, amount=int(words[1])))
    if words[1] in ("accept_counter", "decline_counter"):
        kind = AcceptCounter if words[1] == "accept_counter" else DeclineCounter
        return lot.take(kind(at=at, bidder=words[0]))  # the engine's way: a due lapse is logged first
    bidder, kind, value = words[:3]
    return lot.bid(at, bidder, **{kind: int(value)})


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_counter_offer_worked_example_row_by_row(ending):
    lot = Lot(increments=RULES_LADDER, start_price=5000, reserve=12000)
    lot.open(0)
    command, refusal, result, price = ENDINGS[ending]
    for command_, refusal_, result_ in [*COMMON, (command, refusal, result)]:
        decision = run(lot, command_)
        if refusal_ is None:
            assert accepted(decision), command_
        else:
            assert refused(decision, refusal_), command_
            if refusal_ == Reason.TOO_LOW:
                assert decision.next_min == 9501
        assert lot.state.result == result_, command_
    assert lot.state.price == price and lot.state.leader == "B"
    assert lot.state.counter is None and auctioneer_view(lot.spec, lot.state)["counter"] is None
    kinds = [e.kind for e in lot.events()]
    assert kinds.count("countered") == 1
    assert kinds[-1] == {"9a": "counter_accepted", "9b": "counter_declined", "9c": "counter_declined",
                         "9d": "counter_declined"}[ending]
    if ending in ("9c", "9d"):
        assert lot.events()[-1].at == EXPIRES_AT and lot.events()[-1].lapsed is True
    assert verify(lot.log).ok


def test_the_counter_is_shown_to_the_high_bidder_and_the_auctioneer_only_and_told_once():
    lot = Lot(increments=RULES_LADDER, start_price=5000, reserve=12000, counter_window_s=3600)
    lot.open(0)
    lot.bid(1000, "A", max=9000)
    lot.bid(2000, "B", amount=9500)
    lot.tick(600_000)
    before = lot.state.result
    assert accepted(lot.do(Counter(at=610_000, amount=11000)))
    offer = {"amount": 11000, "expires_at": 610_000 + 3_600_000}
    assert bidder_view(lot.spec, lot.state, "B")["counter"] == offer
    assert bidder_view(lot.spec, lot.state, "A")["counter"] is None
    assert auctioneer_view(lot.spec, lot.state)["counter"] == offer
    assert "counter" not in lot.view() and 11000 not in lot.view().values()
    assert notices(lot.spec, "B", before, lot.state) == [CounterOffer("B", 11000, 610_000 + 3_600_000)]
    pending = lot.state.result
    assert accepted(lot.do(AcceptCounter(at=620_000, bidder="B")))
    assert notices(lot.spec, "B", pending, lot.state) == [Won("B", 11000)]


def test_approve_or_reject_still_end_a_standing_counter():
    for command, result, price in (("approve", "sold", 9500), ("reject", "unsold", 9500)):
        lot = Lot(increments=RULES_LADDER, start_price=5000, reserve=12000)
        lot.open(0)
        lot.bid(1000, "B", amount=9500)
        lot.tick(600_000)
        lot.do(Counter(at=610_000, amount=11000))
        assert accepted(getattr(lot, command)(620_000))
        assert (lot.state.result, lot.state.price, lot.state.counter_until) == (result, price, None)
        assert refused(lot.do(AcceptCounter(at=630_000, bidder="B")), Reason.NOT_ALLOWED)
        assert refused(lot.tick(EXPIRES_AT), Reason.NOT_ALLOWED)  # nothing lapses any more


def test_no_counter_outside_pending_approval():
    lot = Lot(increments=RULES_LADDER, start_price=5000, reserve=12000)
    lot.open(0)
    assert refused(lot.do(Counter(at=1, amount=11000)), Reason.NOT_ALLOWED)  # open
    lot.bid(2, "B", amount=12000)
    lot.hammer(3)
    assert lot.state.result == "sold"
    assert refused(lot.do(Counter(at=4, amount=11000)), Reason.NOT_ALLOWED)
    pending = Lot(increments=RULES_LADDER, start_price=5000, reserve=12000)
    pending.open(0)
    pending.bid(1, "B", amount=6000)
    pending.hammer(2)
    for amount in (0, True, "11000", 10**16):
        assert refused(pending.do(Counter(at=3, amount=amount)), Reason.BAD_AMOUNT)


def test_counter_window_is_a_spec_field_older_specs_encode_as_before():
    with pytest.raises(SpecError) as bad:
        LotSpec(lot="L1", title="t", start_price=1, duration_s=60, counter_window_s=0)
    assert bad.value.field == "counter_window_s"
    plain = LotSpec(lot="L1", title="t", start_price=1, duration_s=60)
    assert "counter_window_s" not in plain.to_dict() and plain.counter_window_ms == 86_400_000
    timed = LotSpec.from_dict({**plain.to_dict(), "counter_window_s": 3600})
    assert timed.to_dict()["counter_window_s"] == 3600 and LotSpec.from_dict(timed.to_dict()) == timed
    from bidding import Created
    from bidding.commands import Create

    assert encode_entry(1, Create(at=0, spec=plain), (Created(at=0),)) == encode_entry(
        1, Create(at=0, spec=LotSpec.from_dict(plain.to_dict())), (Created(at=0),))
