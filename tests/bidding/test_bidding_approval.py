"""docs/rules.md "Approval window": how long the seller has to decide a close below the reserve,
and silence as a rejection, row by row."""

import pytest

from bidding import Approve, Counter, LotSpec, Reason, SpecError, public_view
from bidding.log import verify
from bidding.notices import Lost, notices
from bidding.rules import approve_by, next_deadline
from tests.bidding.bidding_harness import RULES_LADDER, Lot, accepted, refused

APPROVE_BY = 600_000 + 3_600_000
# command, refusal (None: accepted), result after
COMMON = [
    ("A max 9000 @1000",    None, None),
    ("B amount 9500 @2000", None, None),
    ("tick @600000",        None, "pending_approval"),
    ("tick @4199999",       Reason.NOT_ALLOWED, "pending_approval"),
]
ENDINGS = {
    "5a": [("approve @4199999", None, "sold")],
    "5b": [(f"tick @{APPROVE_BY}", None, "unsold")],
    "5c": [("approve @4300000", Reason.NOT_ALLOWED, "unsold")],
    "5d": [("counter 11000 @610000", None, "pending_approval"), (f"tick @{APPROVE_BY}", Reason.NOT_ALLOWED, "pending_approval")],
}


def lot() -> Lot:
    made = Lot(increments=RULES_LADDER, start_price=5000, reserve=12000, approval_window_s=3600)
    made.open(0)
    return made


def run(lot: Lot, command: str):
    words = command.split()
    at = int(words[-1].lstrip("@"))
    if words[0] == "tick":
        return lot.tick(at)
    if words[0] == "approve":
        return lot.take(Approve(at=at))  # the engine's way: a due lapse is logged first
    if words[0] == "counter":
        return lot.take(Counter(at=at, amount=int(words[1])))
    bidder, kind, value = words[:3]
    return lot.bid(at, bidder, **{kind: int(value)})


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_approval_window_worked_example_row_by_row(ending):
    lot_ = lot()
    for command, refusal, result in [*COMMON, *ENDINGS[ending]]:
        decision = run(lot_, command)
        assert accepted(decision) if refusal is None else refused(decision, refusal), command
        assert lot_.state.result == result, command
        if result == "pending_approval" and lot_.state.counter is None:
            assert public_view(lot_.spec, lot_.state)["approve_by"] == APPROVE_BY
    if ending in ("5b", "5c"):
        lapse = lot_.events()[-1]
        assert lapse.kind == "rejected" and lapse.at == APPROVE_BY  # stamped with the deadline, however late
    if ending == "5d":  # a counter-offer runs on its own deadline, 24 hours
        assert approve_by(lot_.spec, lot_.state) is None and next_deadline(lot_.spec, lot_.state) == 610_000 + 86_400_000
    assert public_view(lot_.spec, lot_.state)["approve_by"] is None  # decided, lapsed or countered
    assert verify(lot_.log).ok


def test_the_lapse_tells_the_high_bidder_they_lost():
    lot_ = lot()
    for command, _, _ in COMMON[:3]:
        run(lot_, command)
    before = lot_.state.copy()
    assert accepted(lot_.tick(APPROVE_BY))
    assert notices(lot_.spec, before.leader, before.result, lot_.state) == [Lost("B")]


def test_without_a_window_the_seller_has_no_deadline():
    lot_ = Lot(increments=RULES_LADDER, start_price=5000, reserve=12000)
    lot_.open(0)
    lot_.bid(2000, "B", amount=9500)
    lot_.tick(600_000)
    assert next_deadline(lot_.spec, lot_.state) is None and public_view(lot_.spec, lot_.state)["approve_by"] is None


def test_the_window_is_checked_and_survives_a_round_trip():
    with pytest.raises(SpecError) as bad:
        LotSpec.from_dict({"lot": "L1", "title": "t", "start_price": 1, "duration_s": 60, "approval_window_s": 0})
    assert bad.value.field == "approval_window_s"
    spec = LotSpec.from_dict({"lot": "L1", "title": "t", "start_price": 1, "duration_s": 60, "approval_window_s": 7200})
    assert LotSpec.from_dict(spec.to_dict()) == spec and spec.to_dict()["approval_window_s"] == 7200
