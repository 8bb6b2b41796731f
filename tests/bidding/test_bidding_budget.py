"""docs/rules.md "Budgets": a bidder's "commit at most X" and "win at most N lots" across a sale.

`Sale` drives the lots as the engine does: before a bid the budget rule (`budget_cap`) is run
against what the bidder holds on the sale's other lots (their `exposure` there), a capped proxy is
placed capped, and the close that reaches `max_lots` withdraws their other non-leading maxima."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bidding import Bid, Reason, WithdrawMax, exposure
from bidding.budget import Budget, budget_cap, lots_reached
from bidding.log import verify
from bidding.rules import Accepted, Refused
from bidding.state import CLOSED, PENDING_APPROVAL, SOLD
from tests.bidding.bidding_harness import Lot, accepted, refused, spec

LADDER = ((0, 100),)


class Sale:
    def __init__(self, budgets: dict[str, Budget], names: tuple[str, ...] = ("L1", "L2", "L3")) -> None:
        self.budgets = budgets
        self.lots = {n: Lot(spec(lot=n, start_price=1000, increments=LADDER)) for n in names}
        for lot in self.lots.values():
            lot.open(0)
        self.at = 0

    def held(self, bidder: str, but: str | None = None) -> tuple[int, int]:
        """What `bidder` has committed on the sale's lots other than `but`, and how many they won."""
        committed = won = 0
        for name, lot in self.lots.items():
            if name == but:
                continue
            committed += exposure(lot.spec, lot.state).get(bidder, 0)
            won += self.winner(name) == bidder
        return committed, won

    def winner(self, name: str) -> str | None:
        state = self.lots[name].state
        return state.leader if state.status == CLOSED and state.result in (SOLD, PENDING_APPROVAL) else None

    def bid(self, name: str, bidder: str, amount: int | None = None, max: int | None = None) -> Accepted | Refused:
        self.at += 1
        value = max if max is not None else amount
        assert value is not None
        placed = value
        budget = self.budgets.get(bidder)
        if budget is not None:
            elsewhere, won = self.held(bidder, but=name)
            capped = budget_cap(budget, elsewhere, won, value, max is not None)
            if capped is None:
                return Refused(Reason.BUDGET)
            placed = capped
        cmd = Bid(at=self.at, bidder=bidder, paddle=f"P-{bidder}", id=f"{name}-{self.at}",
                  amount=None if max is not None else placed, max=placed if max is not None else None)
        return self.lots[name].take(cmd)

    def hammer(self, name: str) -> None:
        self.at += 1
        lot = self.lots[name]
        if lot.state.status == CLOSED:
            return
        lot.hammer(self.at)
        winner = self.winner(name)
        budget = self.budgets.get(winner) if winner else None
        if winner is not None and budget is not None and lots_reached(budget, self.held(winner)[1]):
            for other, other_lot in self.lots.items():
                if other != name:
                    other_lot.take(WithdrawMax(at=self.at, bidder=winner))


def your_max(sale: Sale, name: str, bidder: str) -> int | None:
    return sale.lots[name].state.maxima.get(bidder)


def test_budget_worked_example_row_by_row():
    sale = Sale({"A": Budget(max_total=10_000, max_lots=1)})
    assert accepted(sale.bid("L1", "A", max=7000))  # row 1
    assert sale.held("A") == (7000, 0)
    assert accepted(sale.bid("L2", "A", max=7000))  # row 2: capped
    assert (your_max(sale, "L2", "A"), sale.lots["L2"].state.leader, sale.lots["L2"].state.price) == (3000, "A", 1000)
    assert refused(sale.bid("L3", "A", amount=4000), Reason.BUDGET)  # row 3: nothing left
    assert accepted(sale.bid("L1", "B", max=9000))  # row 4
    assert (sale.lots["L1"].state.leader, sale.lots["L1"].state.price, sale.held("A")) == ("B", 7100, (3000, 0))
    assert accepted(sale.bid("L2", "A", max=9500))  # row 5: A raises its own maximum
    assert your_max(sale, "L2", "A") == 9500
    decision = sale.bid("L3", "A", max=2000)  # row 6: capped to 500, below next_min
    assert refused(decision, Reason.TOO_LOW) and decision.next_min == 1000
    sale.hammer("L2")  # row 7
    assert sale.winner("L2") == "A" and sale.held("A") == (1000, 1)
    assert "A" not in sale.lots["L1"].state.maxima and [e.kind for e in sale.lots["L1"].events()][-1] == "max_withdrawn"
    assert refused(sale.bid("L3", "A", max=3000), Reason.BUDGET)  # row 8
    for lot in sale.lots.values():
        assert verify(lot.log).ok


def test_the_budget_rule_itself():
    both = Budget(max_total=10_000, max_lots=2)
    assert budget_cap(both, 0, 0, 8000, True) == 8000
    assert budget_cap(both, 3000, 0, 8000, True) == 7000
    assert budget_cap(both, 3000, 0, 8000, False) is None
    assert budget_cap(both, 10_000, 0, 1, True) is None
    assert budget_cap(both, 0, 2, 1, True) is None
    assert budget_cap(Budget(max_lots=1), 10**9, 0, 10**9, False) == 10**9
    assert lots_reached(both, 2) and not lots_reached(both, 1) and not lots_reached(Budget(max_total=5), 99)


def test_a_leading_maximum_is_never_withdrawn_and_a_withdrawn_one_never_comes_back():
    sale = Sale({"A": Budget(max_lots=1)})
    sale.bid("L1", "A", max=5000)
    sale.bid("L2", "A", max=5000)
    sale.bid("L3", "A", max=5000)
    sale.bid("L3", "B", max=6000)  # A no longer leads L3
    sale.hammer("L1")
    assert sale.lots["L2"].state.leader == "A" and "A" in sale.lots["L2"].state.maxima  # leading: kept
    assert "A" not in sale.lots["L3"].state.maxima
    from bidding.commands import RetractLast

    assert refused(sale.lots["L3"].do(RetractLast(at=99, reason="misheard")), Reason.NOT_ALLOWED)


@settings(max_examples=150, deadline=None)
@given(
    total=st.one_of(st.none(), st.integers(min_value=0, max_value=20_000)),
    lots=st.one_of(st.none(), st.integers(min_value=1, max_value=3)),
    steps=st.lists(
        st.tuples(st.sampled_from(["L1", "L2", "L3"]), st.sampled_from(["A", "B", "hammer"]), st.booleans(),
                  st.integers(min_value=900, max_value=15_000)),
        max_size=30,
    ),
)
def test_the_oracle_a_budget_is_never_broken(total, lots, steps):
    """Brute force beside the rule: before each of A's bids, `left` is recomputed from every lot;
    the bid must be placed at `min(value, left)` (a proxy) or refused; after every step A's
    commitments across the sale sum to at most `max_total`; once A has won `max_lots` lots, every
    bid of A on another lot is refused `budget`, and the close that got there left A nothing on the
    other open lots where it does not lead."""
    budget = Budget(max_total=total, max_lots=lots)
    sale = Sale({"A": budget})
    for name, who, proxy, value in steps:
        if who == "hammer":
            won_before = sale.held("A")[1]
            sale.hammer(name)
            if lots is not None and won_before < lots <= sale.held("A")[1]:
                for lot in sale.lots.values():
                    if lot.state.status != CLOSED and lot.state.leader != "A":
                        assert "A" not in lot.state.maxima
        else:
            before_won = sale.held("A", but=name)[1]
            decision = sale.bid(name, who, **({"max": value} if proxy else {"amount": value}))
            if who == "A" and lots is not None and before_won >= lots:
                assert refused(decision, Reason.BUDGET)
            if who == "A" and accepted(decision) and total is not None:
                elsewhere = sum(exposure(lot.spec, lot.state).get("A", 0) for n, lot in sale.lots.items() if n != name)
                placed = sale.lots[name].events()[-1]
                assert placed.kind == "bid" and (placed.max or placed.amount) == min(value, total - elsewhere)
        committed, won = sale.held("A")
        if total is not None:
            assert committed <= total
    for lot in sale.lots.values():
        assert verify(lot.log).ok
