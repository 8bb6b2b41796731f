"""The feed (`feed.py`): every other node hears which lots moved and the bidders' notices, in
order; the announcing node does not hear itself. On a real Redis Cluster."""

from __future__ import annotations

import asyncio
from typing import Any

from auction_engine.feed import Feed


async def test_other_nodes_hear_which_lots_moved_and_the_bidders_notices_in_order(cluster_client: Any) -> None:
    moved: list[tuple[str, int]] = []
    notices: list[tuple[str, dict[str, Any]]] = []
    own: list[tuple[str, int]] = []

    async def on_moved(lot: str, seq: int) -> None:
        moved.append((lot, seq))

    async def on_own_moved(lot: str, seq: int) -> None:
        own.append((lot, seq))

    owner = Feed(cluster_client, "node-a", on_own_moved, lambda b, f: None, block_ms=200)
    other = Feed(cluster_client, "node-b", on_moved, lambda b, f: notices.append((b, f)), block_ms=200)
    await owner.start()
    await other.start()
    try:
        for seq in range(1, 6):
            await owner.announce("L9", seq, [("dealer-1", {"type": "outbid", "lot": "L9", "seq": seq})] if seq == 3 else [])
        for _ in range(50):
            if len(moved) == 5:
                break
            await asyncio.sleep(0.05)
        assert moved == [("L9", s) for s in range(1, 6)]
        assert notices == [("dealer-1", {"type": "outbid", "lot": "L9", "seq": 3})]
        assert own == []  # the owner told its own watchers when it appended
    finally:
        await owner.stop()
        await other.stop()


async def test_a_change_to_a_bidder_is_heard_by_every_other_node_and_moves_no_lot(cluster_client: Any) -> None:
    changed: list[str] = []
    moved: list[tuple[str, int]] = []

    async def on_moved(lot: str, seq: int) -> None:
        moved.append((lot, seq))

    async def on_bidder(bidder: str) -> None:
        changed.append(bidder)

    async def nothing(lot: str, seq: int) -> None:
        return None

    owner = Feed(cluster_client, "node-c", nothing, lambda b, f: None, block_ms=200)
    other = Feed(cluster_client, "node-d", on_moved, lambda b, f: None, block_ms=200, on_bidder=on_bidder)
    await owner.start()
    await other.start()
    try:
        await owner.announce_bidder("dealer-7")
        await owner.announce("L10", 1, [])
        for _ in range(50):
            if moved:
                break
            await asyncio.sleep(0.05)
        assert changed == ["dealer-7"]
        assert moved == [("L10", 1)]
    finally:
        await owner.stop()
        await other.stop()


async def test_notices_alone_reach_the_other_nodes_bidders_and_move_no_lot(cluster_client: Any) -> None:
    """An ending-soon alert (`alerts.py`) is announced with no lot: heard once, and no lot moves."""
    notices: list[tuple[str, dict[str, Any]]] = []
    moved: list[tuple[str, int]] = []

    async def on_moved(lot: str, seq: int) -> None:
        moved.append((lot, seq))

    owner = Feed(cluster_client, "node-e", on_moved, lambda b, f: None, block_ms=200)
    other = Feed(cluster_client, "node-f", on_moved, lambda b, f: notices.append((b, f)), block_ms=200)
    await owner.start()
    await other.start()
    try:
        alert = {"type": "notice", "kind": "ending_soon", "lot": "L11", "title": "Kia K5", "ends_at": 9000, "server_time": 1}
        await owner.announce_notices([("dealer-8", alert), ("dealer-9", alert)])
        await owner.announce("L12", 1, [])  # a later move: once it is heard, the notices were too
        for _ in range(50):
            if moved:
                break
            await asyncio.sleep(0.05)
        assert notices == [("dealer-8", alert), ("dealer-9", alert)]
        assert moved == [("L12", 1)]
    finally:
        await owner.stop()
        await other.stop()
