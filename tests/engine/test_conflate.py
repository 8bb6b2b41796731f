"""Conflated feeds (`subscribe` with `conflate_ms`, docs/protocol.md) through the real engine: at
most one `event` per period carrying the latest state, never an older one after a newer one, the
last state always delivered within a period of the last change; acks and private frames as ever."""

from __future__ import annotations

import asyncio

import pytest

from .helpers import new_lot
from .wsclient import MSGPACK, Peer

PERIOD_MS = 100
SLACK_S = 0.4  # a loaded 2-core test machine


async def flurry(bidders: list[Peer], lot: str, n: int, tag: str = "x", start: int = 5000) -> list[dict]:
    """`n` straight bids from `start`, alternating bidders, each the next minimum: every one accepted."""
    acks = []
    for i in range(n):
        acks.append(await bidders[i % len(bidders)].bid(lot, f"{tag}{i}", amount=start + 100 * i))
    assert all(a["ok"] for a in acks), acks
    return acks


async def test_a_conflated_watcher_gets_rising_seqs_and_the_final_state_within_the_period(module_engine):
    engine = module_engine
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    full, conflated = await Peer.open(engine.ws_url), await Peer.open(engine.ws_url, subprotocol=MSGPACK)
    await full.send({"type": "subscribe", "lot": lot})
    await conflated.send({"type": "subscribe", "lot": lot, "conflate_ms": PERIOD_MS})
    for peer in (full, conflated):
        await peer.next(lambda f: f["type"] == "snapshot")
    bidders = [await Peer.open(engine.ws_url, engine.token("bidder", f"{b}{lot}")) for b in ("A", "B")]
    acks = await flurry(bidders, lot, 40)
    head = acks[-1]["seq"]
    changed = asyncio.get_running_loop().time()  # the ack goes out just before the event
    last = await conflated.next(lambda f: f["type"] == "event" and f["seq"] == head, timeout=PERIOD_MS / 1000 + SLACK_S)
    assert asyncio.get_running_loop().time() - changed <= PERIOD_MS / 1000 + SLACK_S
    final = await full.next(lambda f: f["type"] == "event" and f["seq"] == head)
    assert last["state"] == final["state"] and last["state"]["price"] == 5000 + 100 * 39
    seqs = [f["seq"] for f in conflated.events(lot)]
    assert seqs == sorted(set(seqs))  # never an older state after a newer one
    assert len(seqs) < len(full.events(lot)) == 40  # conflated: fewer frames than entries
    for peer in (full, conflated, *bidders):
        await peer.close()


async def test_a_conflated_bidder_still_gets_every_ack_and_its_outbid_notice(module_engine):
    engine = module_engine
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    a = await Peer.open(engine.ws_url, engine.token("bidder", f"A{lot}"))
    b = await Peer.open(engine.ws_url, engine.token("bidder", f"B{lot}"))
    await a.send({"type": "subscribe", "lot": lot, "conflate_ms": PERIOD_MS})
    await a.next(lambda f: f["type"] == "snapshot")
    mine = [await a.bid(lot, f"a{i}", amount=5000 + 100 * i) for i in range(5)]
    assert [ack["ok"] for ack in mine] == [True, False, False, False, False]  # leading already: each answered
    taken = await b.bid(lot, "b1", amount=6000)
    outbid = await a.next(lambda f: f["type"] == "outbid")
    assert outbid["seq"] == taken["seq"] and outbid["next_min"] == 6100
    ack_seqs = {f["id"]: f.get("seq") for f in a.frames if f["type"] == "ack"}
    assert set(ack_seqs) == {f"a{i}" for i in range(5)}
    last = await a.next(lambda f: f["type"] == "event" and f["seq"] == taken["seq"], timeout=PERIOD_MS / 1000 + SLACK_S)
    assert last["state"]["price"] == 6000
    for peer in (a, b):
        await peer.close()


async def resumed(engine, **feed) -> tuple[str, list[Peer], list[dict], int, Peer]:
    """Six bids on a new lot, then a watcher subscribing `since` the second one's seq with `feed`,
    once the replay has reached the last: (lot, bidders, acks, since, watcher)."""
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    bidders = [await Peer.open(engine.ws_url, engine.token("bidder", f"{b}{lot}")) for b in ("A", "B")]
    acks = await flurry(bidders, lot, 6)
    since = acks[1]["seq"]
    back = await Peer.open(engine.ws_url)
    await back.send({"type": "subscribe", "lot": lot, "since": since, **feed})
    await back.next(lambda f: f["type"] == "event" and f["seq"] == acks[-1]["seq"])
    return lot, bidders, acks, since, back


async def test_a_conflated_resume_with_since_replays_what_was_missed_then_conflates(module_engine):
    lot, bidders, acks, since, back = await resumed(module_engine, conflate_ms=PERIOD_MS)
    assert [f["seq"] for f in back.events(lot)] == list(range(since + 1, acks[-1]["seq"] + 1))  # gapless replay
    assert not [f for f in back.frames if f["type"] == "snapshot"]
    more = await flurry(bidders, lot, 20, tag="y", start=5600)
    head = more[-1]["seq"]
    await back.next(lambda f: f["type"] == "event" and f["seq"] == head, timeout=PERIOD_MS / 1000 + SLACK_S)
    live = [f["seq"] for f in back.events(lot) if f["seq"] > acks[-1]["seq"]]
    assert live == sorted(set(live)) and len(live) < 20
    for peer in (back, *bidders):
        await peer.close()


@pytest.mark.parametrize("bad", [49, 0, -100, 60_001, 100.0, "100", True, [100], {"ms": 100}])
async def test_a_bad_conflate_ms_is_refused_naming_the_field_and_subscribes_nothing(module_engine, bad):
    engine = module_engine
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    peer = await Peer.open(engine.ws_url)
    await peer.send({"type": "subscribe", "lot": lot, "conflate_ms": bad})
    error = await peer.next(lambda f: f["type"] == "error")
    assert (error["code"], error["field"]) == ("bad_frame", "conflate_ms")
    bidder = await Peer.open(engine.ws_url, engine.token("bidder", f"A{lot}"))
    await bidder.bid(lot, "x1", amount=5000)
    await peer.send({"type": "ping", "t": 1})
    await peer.next(lambda f: f["type"] == "pong")  # everything sent before the pong has arrived
    assert [f["type"] for f in peer.frames] == ["welcome", "error", "pong"]  # no snapshot, no event
    for p in (peer, bidder):
        await p.close()
