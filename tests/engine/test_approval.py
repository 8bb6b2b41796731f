"""docs/rules.md "Approval window" through the real engine: the seller's deadline is public, and
silence until it is a rejection, on the engine's own timer; the high bidder is told `lost`."""

from __future__ import annotations

import asyncio

from .helpers import api, new_lot
from .wsclient import Peer


async def test_a_pending_lot_lapses_to_unsold_at_its_approval_deadline(engine) -> None:
    lot = (await new_lot(engine, reserve=50_000, approval_window_s=2))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "lapsed-b"))
    try:
        async with api(engine, "bidder", "lapsed-b") as client:
            assert (await client.post(f"/api/lots/{lot}/bids", json={"amount": 9000, "id": "l-1"})).json()["ok"]
        async with api(engine) as staff:
            closed = (await staff.post(f"/api/lots/{lot}/close")).json()
            assert closed["result"] == "pending_approval" and closed["approve_by"] == closed["closed_at"] + 2000
            await peer.next(lambda f: f["type"] == "lost" and f["lot"] == lot, timeout=8)
            after = (await staff.get(f"/api/lots/{lot}")).json()
            assert (after["result"], after["approve_by"]) == ("unsold", None)
            for _ in range(100):
                settlement = (await staff.get(f"/api/settlements/{lot}")).json().get("settlement", {})
                if settlement.get("result") == "unsold":
                    break
                await asyncio.sleep(0.05)
            assert settlement["result"] == "unsold"
            events = (await staff.get(f"/api/lots/{lot}/events", params={"since": 0})).json()["events"]
            assert events[-1]["kind"] == "rejected" and events[-1]["command"]["kind"] == "tick"
        assert peer.schema_errors == []
    finally:
        await peer.close()
