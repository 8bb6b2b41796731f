"""RULES.md's English worked example, bid by bid, over real WebSockets in both subprotocols."""

from __future__ import annotations

import pytest

from .helpers import EXAMPLE_LADDER, new_lot
from .wsclient import JSON, MSGPACK, Peer

# (bidder, kind, value, leader, price, next_min, refusal) exactly as RULES.md's table
EXAMPLE = [
    ("A", "max", 9000, "A", 5000, 5100, None),
    ("B", "amount", 6000, "A", 6100, 6200, None),
    ("B", "max", 9000, "A", 9000, 9100, None),
    ("C", "max", 15000, "C", 12000, 12500, None),
    ("A", "amount", 12500, "C", 13000, 13500, None),
    ("A", "max", 20000, "A", 15500, 16000, None),
    ("A", "amount", 16000, "A", 15500, 16000, "already_leading"),
    ("A", "max", 25000, "A", 15500, 16000, None),
    ("B", "amount", 15000, "A", 15500, 16000, "too_low"),
]


@pytest.mark.parametrize("subprotocol", [JSON, MSGPACK])
async def test_the_worked_example_over_websockets(engine, subprotocol):
    lot = (await new_lot(engine, start_price=5000, reserve=12000, increments=EXAMPLE_LADDER))["lot"]
    bidders = {name: await Peer.open(engine.ws_url, engine.token("bidder", name), subprotocol) for name in "ABC"}
    watcher = await Peer.open(engine.ws_url, None, subprotocol)
    await watcher.send({"type": "subscribe", "lot": lot})
    await watcher.next(lambda f: f["type"] == "snapshot")

    for row, (who, kind, value, leader, price, next_min, refusal) in enumerate(EXAMPLE, 1):
        ack = await bidders[who].bid(lot, f"{who}{row}", **{"amount" if kind == "amount" else "maximum": value})
        if refusal:
            assert ack["ok"] is False and ack["reason"] == refusal, (row, ack)
            continue
        assert ack["ok"] is True, (row, ack)
        event = await watcher.next(lambda f, seq=ack["seq"]: f["type"] == "event" and f["seq"] == seq)
        state = event["state"]
        assert (state["leader"], state["price"], state["next_min"]) == (leader, price, next_min), row
        assert ack["leading"] is (who == leader)
        assert state["reserve_met"] is (price >= 12000)

    # the leader's own maximum reaches the leader alone; nobody's view holds the reserve
    outbid = [f for f in bidders["C"].frames if f["type"] == "outbid"]
    assert outbid and outbid[-1]["price"] == 15500
    for peer in [*bidders.values(), watcher]:
        for frame in peer.frames:
            assert "reserve" not in frame.get("state", {})
            assert "maxima" not in frame.get("state", {})
    for peer in [*bidders.values(), watcher]:
        await peer.close()
