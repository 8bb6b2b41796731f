"""Delta feeds (`subscribe` with `delta`, docs/protocol.md): after the first live event, each event
carries only the state's fields that changed since the seq it names (`prev`), so a watcher holding
the state rebuilds every state the full feed carries, for a third of the bytes."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import new_lot
from .test_conflate import flurry, resumed
from .wsclient import JSON, MSGPACK, Peer


def rebuilt(frames: list[dict[str, Any]], lot: str) -> dict[int, dict[str, Any]]:
    """Each event's whole state as a delta watcher holds it: deltas laid over the seq they name."""
    held: dict[str, Any] | None = None
    states: dict[int, dict[str, Any]] = {}
    for f in frames:
        if f.get("lot") != lot or f["type"] not in ("snapshot", "event"):
            continue
        if "changed" in f:
            assert held is not None and f["prev"] == held["seq"], (f, held)
            held = {**held, **f["changed"]}
            states[f["seq"]] = held
        else:
            held = f["state"]
            if f["type"] == "event":
                states[f["seq"]] = held
    return states


@pytest.mark.parametrize("subprotocol", [JSON, MSGPACK])
async def test_a_delta_watcher_rebuilds_every_state_of_the_full_feed_from_a_third_of_the_bytes(module_engine, subprotocol):
    engine = module_engine
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    full = await Peer.open(engine.ws_url, subprotocol=subprotocol)
    delta = await Peer.open(engine.ws_url, subprotocol=subprotocol)
    await full.send({"type": "subscribe", "lot": lot})
    await delta.send({"type": "subscribe", "lot": lot, "delta": True})
    for peer in (full, delta):
        await peer.next(lambda f: f["type"] == "snapshot")
    bidders = [await Peer.open(engine.ws_url, engine.token("bidder", f"{b}{lot}")) for b in ("A", "B")]
    acks = await flurry(bidders, lot, 30)
    proxy = await bidders[0].bid(lot, "p1", maximum=9_000)  # a proxy bid moves price, leader and bids at once
    assert proxy["ok"]
    head = proxy["seq"]
    for peer in (full, delta):
        await peer.next(lambda f: f["type"] == "event" and f["seq"] == head)
    whole = {f["seq"]: f["state"] for f in full.events(lot)}
    assert rebuilt(delta.frames, lot) == whole and len(whole) == len(acks) + 1
    deltas = [f for f in delta.events(lot) if "changed" in f]
    assert len(deltas) == len(whole) - 1  # all but the first live event
    assert all("price" in f["changed"] and "vehicle" not in f["changed"] for f in deltas)

    def size(peer: Peer) -> int:
        return sum(len(raw) for raw, f in zip(peer.raw, peer.frames, strict=True) if f["type"] == "event")

    assert size(delta) * 2 < size(full)
    for peer in (full, delta, *bidders):
        await peer.close()


async def test_a_delta_resume_with_since_replays_whole_events_then_deltas_from_the_last_one(module_engine):
    lot, bidders, acks, since, back = await resumed(module_engine, delta=True)
    replay = back.events(lot)
    assert [f["seq"] for f in replay] == list(range(since + 1, acks[-1]["seq"] + 1))
    assert all("state" in f for f in replay)  # the replay is whole: the watcher holds nothing to lay deltas over
    more = await flurry(bidders, lot, 5, tag="y", start=5600)
    await back.next(lambda f: f["type"] == "event" and f["seq"] == more[-1]["seq"])
    live = back.events(lot)[len(replay):]
    assert [f["seq"] for f in live] == list(range(acks[-1]["seq"] + 1, more[-1]["seq"] + 1))
    assert "state" in live[0] and all(f["prev"] == f["seq"] - 1 for f in live[1:])
    assert rebuilt(back.frames, lot)[more[-1]["seq"]]["price"] == 5600 + 100 * 4
    for peer in (back, *bidders):
        await peer.close()


@pytest.mark.parametrize("extra", [{"delta": 1}, {"delta": "true"}, {"delta": [True]}, {"delta": True, "conflate_ms": 100}])
async def test_a_bad_delta_is_refused_naming_the_field_and_subscribes_nothing(module_engine, extra):
    engine = module_engine
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    peer = await Peer.open(engine.ws_url)
    await peer.send({"type": "subscribe", "lot": lot, **extra})
    error = await peer.next(lambda f: f["type"] == "error")
    assert (error["code"], error["field"]) == ("bad_frame", "delta")
    bidder = await Peer.open(engine.ws_url, engine.token("bidder", f"A{lot}"))
    await bidder.bid(lot, "x1", amount=5000)
    await peer.send({"type": "ping", "t": 1})
    await peer.next(lambda f: f["type"] == "pong")
    assert [f["type"] for f in peer.frames] == ["welcome", "error", "pong"]  # no snapshot, no event
    for p in (peer, bidder):
        await p.close()
