"""docs/rules.md "Outage fairness" (issue 10): the time a lot had no writer is given back.

Each row runs two ways: plain `decide` + `apply`, and the engine's way (`Lot.take`: the Ticks due
by `due_by(cmd)` logged first, an Outage's being those due by its `began_at`), then a Tick long
after. Both give the same answers and events, and both logs verify.
"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidding import AntiSnipe, LotState, command_from_dict, command_to_dict, event_from_dict, event_to_dict
from bidding.commands import Command, Outage
from bidding.events import OutageExtended, OutagePaused
from bidding.log import replay, verify
from bidding.rules import MAX_GRACE_MS
from tests.bidding.bidding_harness import Lot, accepted, refused, spec
from tests.bidding.test_bidding_time import DUTCH, LIVE, LIVE_MANUAL, SEALED, drive, result
from tests.bidding.test_bidding_time import command as plain_command

SNIPE_2 = {"anti_snipe": AntiSnipe(window_s=120, extend_s=120, max_extensions=2)}

# A timed lot opened at 0 ends at 600000; every outage here has a grace of 10000.
# (lot, commands, answers to the non-Tick commands, events, result): docs/rules.md's worked example.
ROWS = [
    # a timed lot mid-sale: ends_at 600000 -> 600000 + 30000 + 10000
    ({}, "Open@0 Bid:A:5000@100000 Outage:30000:10000@330000 Bid:B:15000@630000", "ok ok ok ok",
     "opened@0 bid@100000 outage_extended@330000 bid@630000 closed@640000", "sold 15000 B"),
    # the deadline fell inside the outage (began 590000): the same shift, 20000 left after the return
    ({}, "Open@0 Bid:A:5000@100000 Outage:30000:10000@620000 Bid:B:15000@635000", "ok ok ok ok",
     "opened@0 bid@100000 outage_extended@620000 bid@635000 closed@640000", "sold 15000 B"),
    # long outage (began 550000, 50000 left then): 650000 + 50000 + 10000
    ({}, "Open@0 Outage:100000:10000@650000", "ok ok", "opened@0 outage_extended@650000 closed@710000", "unsold"),
    # already closed before the outage began (650000), or as it began (600000): nothing to give back
    ({}, "Open@0 Bid:A:5000@100000 Outage:50000:10000@700000", "ok ok not_allowed",
     "opened@0 bid@100000 closed@600000", "sold 5000 A"),
    ({}, "Open@0 Outage:30000:10000@630000", "ok not_allowed", "opened@0 closed@600000", "unsold"),
    # a live lot pauses for the auctioneer; its fair warning keeps what it had left at began_at (5000)
    (LIVE_MANUAL, "Open@0 Bid:A:5000@10000 FairWarning@20000 Outage:15000:10000@40000 Resume@50000",
     "ok ok ok ok ok", "opened@0 bid@10000 fair_warning@20000 outage_paused@40000 resumed@50000 closed@55000",
     "sold 5000 A"),
    (LIVE_MANUAL, "Open@0 Outage:5000:10000@60000", "ok ok", "opened@0 outage_paused@60000", "paused"),
    # the automatic fair warning due inside the outage (at 1000) is not taken: it counts from the resume
    (LIVE, "Open@0 Outage:3000:10000@3500 Resume@4000", "ok ok ok",
     "opened@0 outage_paused@3500 resumed@4000 fair_warning@5000 closed@15000", "unsold"),
    # a paused lot lost nothing (its remaining time is kept); resume as usual
    ({}, "Open@0 Pause@100000 Outage:30000:10000@330000 Resume@400000", "ok ok not_allowed ok",
     "opened@0 paused@100000 resumed@400000 closed@900000", "unsold"),
    # not yet open: by its schedule (starts at 900000), or not opened by the auctioneer
    ({"starts_at": 900000}, "Outage:30000:10000@330000", "not_allowed", "opened@900000 closed@1500000", "unsold"),
    ({}, "Outage:30000:10000@330000", "not_allowed", "", "scheduled"),
    # opened by its schedule inside the outage: open without a writer from 100000, 700000 + 30000 + 10000
    ({"starts_at": 100000}, "Outage:60000:10000@130000", "ok", "opened@100000 outage_extended@130000 closed@740000",
     "unsold"),
    # anti-sniping: the outage uses none of the two extensions (bid at 650000: 770000, the second)
    (SNIPE_2, "Open@0 Bid:A:5000@500000 Outage:30000:10000@600000 Bid:B:15000@650000", "ok ok ok ok",
     "opened@0 bid@500000 outage_extended@600000 bid@650000 closed@770000", "sold 15000 B"),
    # sealed and Dutch lots are timed lots too (Dutch: the clock price kept falling, to the floor)
    (SEALED, "Open@0 Bid:A:3000@1 Outage:30000:10000@600010 Bid:B:2500@630000", "ok ok ok ok",
     "opened@0 bid@1 outage_extended@600010 bid@630000 closed@640000", "sold 2600 A"),
    (DUTCH, "Open@0 Outage:60000:10000@100000 Bid:A:4000@650000", "ok ok ok",
     "opened@0 outage_extended@100000 bid@650000 closed@650000", "sold 4000 A"),
    # malformed: no outage, an outage longer than the clock, a grace over a day
    ({}, "Open@0 Outage:0:10000@1000 Outage:2000:10000@1000 Outage:1000:86400001@1000", "ok not_allowed not_allowed not_allowed",
     "opened@0 closed@600000", "unsold"),
]


def command(text: str) -> Command:
    """`Outage:30000:10000@330000` (outage_ms, grace_ms), else as test_bidding_time writes them."""
    what, at = text.split("@")
    name, *args = what.split(":")
    if name == "Outage":
        return Outage(at=int(at), outage_ms=int(args[0]), grace_ms=int(args[1]))
    return plain_command(text)


@pytest.mark.parametrize("fields, commands, answers, events, outcome", ROWS, ids=[r[1] for r in ROWS])
def test_outage_fairness(fields, commands, answers, events, outcome):
    written = [command(c) for c in commands.split()]
    for way in ("decide", "take"):
        lot = Lot(spec(**fields))
        assert drive(lot, written, way) == answers.split(), way
        assert [f"{e.kind}@{e.at}" for e in lot.events()] == events.split(), way
        assert result(lot) == outcome, way
        assert verify(lot.log).ok, way


def test_the_view_and_event_show_the_outage_and_extensions_are_untouched():
    lot = Lot(spec(**SNIPE_2))
    lot.open(0)
    lot.bid(500000, "A", amount=5000)
    assert (lot.state.ends_at, lot.state.extensions) == (620000, 1)
    decision = lot.outage(600000, 30000)
    assert decision.events == (OutageExtended(at=600000, outage_ms=30000, ends_at=660000),)
    view = lot.view(600000)
    assert (view["ends_at"], view["extensions"], view["outage_ms"]) == (660000, 1, 30000)
    lot.outage(640000, 5000)
    assert lot.view()["outage_ms"] == 35000 and lot.state.ends_at == 675000


def test_a_live_lot_is_paused_with_what_its_fair_warning_had_left():
    lot = Lot(spec(**LIVE_MANUAL))
    lot.open(0)
    lot.fair_warning(20000)
    decision = lot.outage(40000, 15000)
    assert decision.events == (OutagePaused(at=40000, outage_ms=15000, remaining_ms=5000),)
    view = lot.view()
    assert (view["status"], view["ends_at"], view["remaining_ms"], view["outage_ms"]) == ("paused", None, 5000, 15000)
    assert refused(lot.bid(41000, "A", amount=5000))


def test_outage_dicts_round_trip_and_malformed_ones_are_refused():
    cmd = Outage(at=330000, outage_ms=30000, grace_ms=10000)
    assert command_to_dict(cmd) == {"kind": "outage", "at": 330000, "outage_ms": 30000, "grace_ms": 10000}
    assert command_from_dict(command_to_dict(cmd)) == cmd and cmd.began_at == 300000
    for event in (OutageExtended(at=1, outage_ms=2, ends_at=3), OutagePaused(at=1, outage_ms=2, remaining_ms=None)):
        assert event_from_dict(msgpack.unpackb(msgpack.packb(event_to_dict(event)))) == event
    for bad in (-1, True, 1.5, "1", None):
        for name in ("outage_ms", "grace_ms"):
            with pytest.raises(ValueError):
                command_from_dict({**command_to_dict(cmd), name: bad})


def test_a_snapshot_written_before_outages_loads_with_none():
    lot = Lot()
    lot.open(0)
    old = lot.state.to_dict()
    del old["outage_ms"]
    assert LotState.from_dict(old) == lot.state


@settings(max_examples=300, deadline=None)
@given(
    duration_s=st.integers(1, 900),
    bid_at=st.integers(0, 900_000),
    gap=st.integers(0, 1_000_000),
    outage_ms=st.integers(1, 1_000_000),
    grace_ms=st.integers(0, MAX_GRACE_MS),
)
def test_bidders_get_the_outage_back_and_at_least_the_grace(duration_s, bid_at, gap, outage_ms, grace_ms):
    """An Outage after the lot's last entry: if the lot was open when the writer went, ends_at
    moves by exactly outage + grace (so at least grace after the return); else nothing changes."""
    lot = Lot(spec(duration_s=duration_s))
    lot.open(0)
    lot.bid(bid_at, "A", amount=5000)
    ends_at = lot.state.ends_at
    began = bid_at + gap
    at = began + outage_ms
    decision = lot.take(Outage(at=at, outage_ms=outage_ms, grace_ms=grace_ms))
    if began < ends_at:
        assert accepted(decision)
        assert lot.state.ends_at == ends_at + outage_ms + grace_ms >= at + grace_ms
    else:
        assert refused(decision) and lot.state.ends_at == ends_at
    assert replay(lot.log)[1] == lot.state and verify(lot.log).ok
