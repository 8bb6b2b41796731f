"""A lot driven the way the engine drives it: decide, then log and apply what was accepted.

Every call checks that decide left the state untouched, so every test also checks that a
refusal (or a decision not yet applied) changes nothing.
"""

from __future__ import annotations

from itertools import count

from bidding import Accepted, Bid, BuyNow, LotSpec, Refused, decide, public_view
from bidding.commands import Approve, FairWarning, Hammer, Open, Outage, Pause, Reject, Resume, Tick, Withdraw
from bidding.events import Event
from bidding.ladder import Ladder
from bidding.log import apply_entry, create_lot, decode_entry, make_entry
from bidding.rules import due_by, due_tick

RULES_LADDER: Ladder = ((0, 100), (10000, 500), (100000, 1000))


def spec(**fields) -> LotSpec:
    base = {"lot": "L17", "title": "2018 Honda Accord", "start_price": 5000, "duration_s": 600}
    if fields.get("mode") == "live":
        base.pop("duration_s")
    base.update(fields)
    return LotSpec(**base)


class Lot:
    def __init__(self, lot_spec: LotSpec | None = None, created_at: int = 0, **fields) -> None:
        self.spec = lot_spec or spec(**fields)
        _, self.state, entry, raw = create_lot(self.spec, created_at)
        self.log = [(raw, entry.hash)]
        self._ids = count(1)

    def do(self, cmd) -> Accepted | Refused:
        before = self.state.to_dict()
        decision = decide(self.spec, self.state, cmd)
        assert self.state.to_dict() == before, "decide mutated the state"
        if type(decision) is Accepted:
            entry, raw = make_entry(self.state, cmd, decision.events)
            apply_entry(self.spec, self.state, entry)
            self.log.append((raw, entry.hash))
        return decision

    def take(self, cmd) -> Accepted | Refused:
        """As the engine's actor does: first one Tick entry per deadline `<= due_by(cmd)` (its `at`;
        an Outage's `began_at`), each stamped with its deadline (bidding.rules.due_tick), then the
        command. A Tick then is only that."""
        while (tick := due_tick(self.spec, self.state, due_by(cmd))) is not None:
            assert accepted(self.do(tick)), tick
        return self.do(cmd)

    def events(self) -> list[Event]:
        """Every event in the log after `created`, in order."""
        return [e for raw, stored in self.log[1:] for e in decode_entry(raw, stored).events]

    def bid(self, at: int, bidder: str, amount=None, max=None, floor: bool = False) -> Accepted | Refused:
        return self.do(
            Bid(at=at, bidder=bidder, paddle=f"P-{bidder}", id=f"{bidder}-{next(self._ids)}", amount=amount, max=max, floor=floor)
        )

    def buy_now(self, at: int, bidder: str) -> Accepted | Refused:
        return self.do(BuyNow(at=at, bidder=bidder, paddle=f"P-{bidder}", id=f"{bidder}-{next(self._ids)}"))

    def open(self, at: int = 0):
        return self.do(Open(at=at))

    def pause(self, at: int):
        return self.do(Pause(at=at))

    def resume(self, at: int):
        return self.do(Resume(at=at))

    def fair_warning(self, at: int):
        return self.do(FairWarning(at=at))

    def hammer(self, at: int):
        return self.do(Hammer(at=at))

    def withdraw(self, at: int):
        return self.do(Withdraw(at=at))

    def approve(self, at: int):
        return self.do(Approve(at=at))

    def reject(self, at: int):
        return self.do(Reject(at=at))

    def tick(self, at: int):
        return self.do(Tick(at=at))

    def outage(self, at: int, outage_ms: int, grace_ms: int = 10_000):
        return self.do(Outage(at=at, outage_ms=outage_ms, grace_ms=grace_ms))

    def view(self, now: int | None = None) -> dict:
        return public_view(self.spec, self.state, now)


def refused(decision, reason=None) -> bool:
    return type(decision) is Refused and (reason is None or decision.reason == reason)


def accepted(decision) -> bool:
    return type(decision) is Accepted
