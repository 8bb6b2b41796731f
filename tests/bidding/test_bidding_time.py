"""Every deadline takes effect at its own time, whatever the timer's lag (issue 17, docs/rules.md
"How time is handled"): a lot's outcome is a function of its commands' times alone.

Each row runs three ways: as written through plain `decide` + `apply`; the engine's way
(`Lot.take`: the Ticks a lot owes are logged first, each at its deadline) with the row's Ticks;
and the engine's way with no Tick at all. All three give the same answers and events, and the
engine's way gives the same log bytes and head hash with or without the row's Ticks.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bidding import AntiSnipe, Bid, BuyNow, DutchSpec, LotSpec, Tick, next_deadline
from bidding.commands import Command, FairWarning, Hammer, Open, Pause, Resume, Withdraw
from tests.bidding.bidding_harness import Lot, accepted, spec
from tests.bidding.test_bidding_properties import lot_specs

FAR = 10**12  # a Tick long after every deadline: what the timer eventually does
AUCTIONEER = {"Open": Open, "Hammer": Hammer, "Pause": Pause, "Resume": Resume, "FairWarning": FairWarning,
              "Withdraw": Withdraw, "Tick": Tick}

LIVE = {"mode": "live", "auto_fair_warning_s": 1, "fair_warning_s": 10}
SCHEDULED = {"starts_at": 0, "duration_s": 600}
LIVE_MANUAL = {"mode": "live", "fair_warning_s": 10}
SNIPE = {"duration_s": 600, "anti_snipe": AntiSnipe(window_s=120, extend_s=120, max_extensions=None)}
DUTCH = {"format": "dutch", "start_price": 10000, "duration_s": 600, "dutch": DutchSpec(step=1000, tick_s=10, floor=4000)}
SEALED = {"format": "sealed_second", "start_price": 1000, "increments": ((0, 100),)}
BUY_NOW = {"buy_now": 9000}

# (lot, commands as the issue writes them, answers to the non-Tick commands, events, result)
ROWS = [
    # the table
    (LIVE, "Open@0 Bid:A:5000@5000 Tick@6000 Tick@16000", "ok ok",
     "opened@0 fair_warning@1000 bid@5000 closed@15000", "sold 5000 A"),
    (LIVE, "Open@0 Hammer@60000", "ok lot_closed", "opened@0 fair_warning@1000 closed@11000", "unsold"),
    (LIVE, "Open@0 Bid:A:5000@11000 Tick@12000", "ok lot_closed",
     "opened@0 fair_warning@1000 closed@11000", "unsold"),
    (SCHEDULED, "Open@300000 Bid:A:5000@300001", "not_allowed ok", "opened@0 bid@300001 closed@600000", "sold 5000 A"),
    (SCHEDULED, "Open@600000", "lot_closed", "opened@0 closed@600000", "unsold"),
    (SCHEDULED, "Withdraw@600000", "lot_closed", "opened@0 closed@600000", "unsold"),
    (SCHEDULED, "Pause@1000", "ok", "opened@0 paused@1000", "paused"),
    # every other deadline kind
    (SCHEDULED, "Bid:A:5000@700000", "lot_closed", "opened@0 closed@600000", "unsold"),
    (SNIPE, "Open@0 Bid:A:5000@500000 Bid:B:6000@620000", "ok ok lot_closed",
     "opened@0 bid@500000 closed@620000", "sold 5000 A"),
    (SNIPE, "Open@0 Pause@100000 Resume@200000 Bid:A:5000@699999 Hammer@900000", "ok ok ok ok lot_closed",
     "opened@0 paused@100000 resumed@200000 bid@699999 closed@819999", "sold 5000 A"),
    (LIVE_MANUAL, "Open@0 FairWarning@2000 Bid:A:5000@12500", "ok ok lot_closed",
     "opened@0 fair_warning@2000 closed@12000", "unsold"),
    (LIVE, "Open@0 Pause@500 Resume@3000 Bid:A:5000@20000", "ok ok ok lot_closed",
     "opened@0 paused@500 resumed@3000 fair_warning@4000 closed@14000", "unsold"),
    (LIVE, "Open@0 Bid:A:5000@900 Bid:B:15000@1950 Hammer@2000", "ok ok ok ok",
     "opened@0 bid@900 fair_warning@1900 bid@1950 closed@2000", "sold 15000 B"),
    ({**DUTCH, **SCHEDULED}, "Bid:A:8000@25000", "ok", "opened@0 bid@25000 closed@25000", "sold 8000 A"),
    (DUTCH, "Open@0 Bid:A:4000@600000", "ok lot_closed", "opened@0 closed@600000", "unsold"),
    ({**SEALED, **SCHEDULED}, "Bid:A:3000@1 Bid:B:2500@2 Bid:C:9000@600000", "ok ok lot_closed",
     "opened@0 bid@1 bid@2 closed@600000", "sold 2600 A"),
    ({**BUY_NOW, **SCHEDULED}, "BuyNow:A@600000", "lot_closed", "opened@0 closed@600000", "unsold"),
]


def command(text: str) -> Command:
    """`Open@0`, `Bid:A:5000@5000` (a straight bid by A), `BuyNow:A@600000`."""
    what, at_text = text.split("@")
    at = int(at_text)
    name, *args = what.split(":")
    if name == "Bid":
        bidder, amount = args
        return Bid(at=at, bidder=bidder, paddle=f"P-{bidder}", id=f"{bidder}@{at}", amount=int(amount))
    if name == "BuyNow":
        return BuyNow(at=at, bidder=args[0], paddle=f"P-{args[0]}", id=f"{args[0]}@{at}")
    return AUCTIONEER[name](at=at)


def drive(lot: Lot, commands: list[Command], way: str) -> list[str]:
    """Run the commands and a Tick long after; the answers to the non-Tick commands."""
    answers = []
    for cmd in commands + [Tick(at=FAR)]:
        decision = lot.do(cmd) if way == "decide" else lot.take(cmd)
        if type(cmd) is not Tick:
            answers.append("ok" if accepted(decision) else decision.reason.value)
    return answers


def result(lot: Lot) -> str:
    state = lot.state
    if state.result is None:
        return state.status
    if state.leader is None or state.result != "sold":
        return state.result
    return f"{state.result} {state.price} {state.leader}"


@pytest.mark.parametrize("fields, commands, answers, events, outcome", ROWS, ids=[r[1] for r in ROWS])
def test_a_deadline_takes_effect_at_its_own_time(fields, commands, answers, events, outcome):
    lot_spec = spec(**fields)
    written = [command(c) for c in commands.split()]
    logs = []
    for way, cmds in (("decide", written), ("take", written), ("take", [c for c in written if type(c) is not Tick])):
        lot = Lot(lot_spec)
        assert drive(lot, cmds, way) == answers.split(), way
        assert [f"{e.kind}@{e.at}" for e in lot.events()] == events.split(), way
        assert result(lot) == outcome, way
        logs.append(lot.log)
    assert logs[1] == logs[2], "the row's Ticks changed the engine's log"


def test_the_close_caught_up_by_a_bid_is_stamped_when_it_fell_due():
    lot = Lot(spec(**LIVE))
    lot.open(0)
    lot.bid(5000, "A", amount=5000)
    assert lot.state.ends_at == 15000 and lot.state.fair_warning
    assert lot.tick(16000).events[0].closed_at == 15000
    assert lot.state.closed_at == 15000


# -- the property: Ticks inserted or dropped change nothing ------------------------------------------

KINDS = ["english", "english_live", "sealed_first", "sealed_second", "dutch"]


@st.composite
def sessions(draw):
    """A spec and commands at non-decreasing times (no Ticks): bids near the start price and
    every auctioneer command."""
    kind = draw(st.sampled_from(KINDS))
    lot_spec = draw(lot_specs(kind))
    now = 0
    commands: list[Command] = []
    for i in range(draw(st.integers(1, 25))):
        now += draw(st.sampled_from([0, 1, 999, 1000, 1001]) | st.integers(0, 400_000))
        what = draw(st.sampled_from(["bid", "bid", "bid", "buy_now", "Open", "Open", "Pause", "Resume",
                                     "FairWarning", "Hammer", "Withdraw"]))
        bidder = draw(st.sampled_from(["A", "B", "C"]))
        if what == "bid":
            value = max(1, lot_spec.start_price + draw(st.integers(-1, 40)) * lot_spec.increments[0][1])
            proxy = draw(st.booleans()) and kind == "english"
            kwargs = {"max": value} if proxy else {"amount": value}
            commands.append(Bid(at=now, bidder=bidder, paddle=f"P-{bidder}", id=str(i), **kwargs))
        elif what == "buy_now":
            commands.append(BuyNow(at=now, bidder=bidder, paddle=f"P-{bidder}", id=str(i)))
        else:
            commands.append(AUCTIONEER[what](at=now))
    return lot_spec, commands


def with_random_ticks(draw, commands: list[Command]) -> list[Command]:
    """Ticks at any times between the commands (early, on time or late: most are refused)."""
    out: list[Command] = []
    previous = 0
    for cmd in commands:
        for offset in sorted(draw(st.lists(st.integers(0, cmd.at - previous), max_size=3))):
            out.append(Tick(at=previous + offset))
        out.append(cmd)
        previous = cmd.at
    return out


def with_a_late_timer(lot_spec: LotSpec, commands: list[Command], late: int) -> list[Command]:
    """The engine's timer, `late` ms after every deadline, when that comes before the next command."""
    out: list[Command] = []
    lot = Lot(lot_spec)
    for cmd in commands:
        while (deadline := next_deadline(lot.spec, lot.state)) is not None and deadline + late <= cmd.at:
            tick = Tick(at=deadline + late)
            assert accepted(lot.do(tick))
            out.append(tick)
        lot.do(cmd)
        out.append(cmd)
    return out


def outcome(lot_spec: LotSpec, commands: list[Command], way: str) -> tuple[list[str], list[object], Lot]:
    lot = Lot(lot_spec)
    answers = drive(lot, commands, way)
    return answers, lot.events(), lot


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions(), st.data(), st.integers(0, 300_000))
def test_ticks_inserted_or_dropped_change_neither_the_events_nor_the_head_hash(session, data, late):
    lot_spec, commands = session
    answers, events, lot = outcome(lot_spec, commands, "take")
    variants = [with_random_ticks(data.draw, commands), with_a_late_timer(lot_spec, commands, late)]
    for ticked in variants:
        for way in ("take", "decide"):
            other_answers, other_events, other = outcome(lot_spec, ticked, way)
            assert other_answers == answers, way
            assert other_events == events, way
            assert other.state.closed_at == lot.state.closed_at
            if way == "take":
                assert other.log == lot.log
                assert other.state.head_hash == lot.state.head_hash
