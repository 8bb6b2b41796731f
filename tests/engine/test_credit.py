"""credit.py: the cross-lot ledger, fed the exposures the rules compute (RULES.md "Credit limits")."""

from __future__ import annotations

from typing import Any

from auction_engine.credit import CreditLedger
from bidding import Accepted, Bid, LotSpec, LotState, Open, apply, decide, exposure, initial_state
from bidding.commands import Command


class Lot:
    """A real lot run through the rules, reporting its exposure to the ledger after every entry."""

    def __init__(self, ledger: CreditLedger, lot: str, **spec: Any) -> None:
        self.ledger = ledger
        self.spec = LotSpec(lot=lot, title=lot, start_price=1_000, duration_s=600, increments=((0, 100),), **spec)
        self.state: LotState = initial_state(self.spec)
        self.at = 1_000
        self.run(Open(at=self.at))

    def run(self, cmd: Command) -> None:
        decision = decide(self.spec, self.state, cmd)
        assert isinstance(decision, Accepted), decision
        for event in decision.events:
            apply(self.spec, self.state, event)
        self.ledger.set_lot(self.spec.lot, exposure(self.spec, self.state))

    def bid(self, bidder: str, amount: int) -> None:
        self.at += 1_000
        self.run(Bid(at=self.at, bidder=bidder, paddle=bidder.upper(), id=f"{bidder}-{self.at}", max=amount))

    def allows(self, bidder: str, amount: int) -> bool:
        return self.ledger.allows(bidder, self.spec.lot, amount)


def test_a_bidder_without_a_limit_may_bid_any_amount():
    ledger = CreditLedger()
    car = Lot(ledger, "car")
    car.bid("ana", 50_000)
    assert car.allows("ana", 10**12)
    ledger.set_limit("ana", None)
    assert car.allows("ana", 10**12)


def test_the_leader_owes_their_maximum_and_the_outbid_owe_nothing():
    ledger = CreditLedger()
    car = Lot(ledger, "car")
    car.bid("ana", 5_000)
    assert (ledger.total("ana"), ledger.total("ben")) == (5_000, 0)
    car.bid("ben", 8_000)
    assert (ledger.total("ana"), ledger.total("ben")) == (0, 8_000)


def test_exposure_on_other_lots_counts_against_the_limit_but_not_the_lot_being_bid_on():
    ledger = CreditLedger()
    ledger.set_limit("ana", 10_000)
    car, van = Lot(ledger, "car"), Lot(ledger, "van")
    car.bid("ana", 6_000)
    assert van.allows("ana", 4_000)
    assert not van.allows("ana", 4_001)
    # Raising her own maximum on the car replaces the 6,000 she holds there.
    assert car.allows("ana", 10_000)
    assert not car.allows("ana", 10_001)


def test_being_outbid_frees_the_credit_for_another_lot():
    ledger = CreditLedger()
    ledger.set_limit("ana", 10_000)
    car, van = Lot(ledger, "car"), Lot(ledger, "van")
    car.bid("ana", 9_000)
    assert not van.allows("ana", 2_000)
    car.bid("ben", 12_000)
    assert van.allows("ana", 10_000)


def test_a_paid_lot_owes_nothing_even_when_its_exposure_is_reported_again():
    ledger = CreditLedger()
    ledger.set_limit("ana", 10_000)
    car, van = Lot(ledger, "car"), Lot(ledger, "van")
    car.bid("ana", 9_000)
    ledger.mark_paid("car")
    assert ledger.total("ana") == 0
    ledger.set_lot("car", exposure(car.spec, car.state))  # e.g. the lot reloaded after a restart
    assert ledger.total("ana") == 0
    assert van.allows("ana", 10_000)


def test_a_lot_reported_empty_leaves_no_trace_of_its_bidders():
    ledger = CreditLedger()
    ledger.set_lot("car", {"ana": 3_000, "ben": 4_000})
    ledger.set_lot("van", {"ana": 1_000})
    ledger.set_lot("car", {})
    assert (ledger.total("ana"), ledger.total("ben")) == (1_000, 0)
