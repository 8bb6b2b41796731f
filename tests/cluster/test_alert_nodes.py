"""Ending-soon alerts across engine nodes (`alerts.py`, docs/scale.md): the node that writes the lot
sends the alert once, and a bidder connected to the other node gets it through the feed. Real
`serve` processes on the real Redis Cluster."""

from __future__ import annotations

import asyncio
import time
import uuid

from tests.cluster.test_engine_nodes import Nodes, bidder, retried, staff, wait_owner
from tests.engine.wsclient import Peer


def test_a_watcher_on_another_node_is_alerted_once_by_the_lots_writer(nodes: Nodes) -> None:
    window = {"AUCTION_ENDING_SOON_S": "3600"}  # every lot of the test is inside it once open
    nodes = {"n1": nodes.start("n1", **window), "n2": nodes.start("n2", **window)}
    lot = f"A{uuid.uuid4().hex[:6]}"
    with staff(nodes["n1"]) as http:
        reply = http.post("/api/lots", json={"lot": lot, "title": "Geely Xingyue L 2022", "start_price": 100_000,
                                             "duration_s": 600})
        assert reply.status_code == 201, reply.text
    wait_owner(nodes["n1"], lot)
    time.sleep(1.5)  # the preferred node takes the lot over from the creating one
    writer = wait_owner(nodes["n1"], lot)
    elsewhere = nodes["n2" if writer == "n1" else "n1"]
    with bidder(elsewhere, "far-watcher") as http:
        assert http.put(f"/api/me/watchlist/{lot}").status_code == 200

    async def watch() -> list[dict]:
        peer = await Peer.open(elsewhere.ws_url, elsewhere.token("bidder", "far-watcher"))
        try:
            with staff(elsewhere) as http:
                opened = retried(lambda: http.post(f"/api/lots/{lot}/open"))
                assert opened.status_code == 200, opened.text
            await peer.next(lambda f: f["type"] == "notice", timeout=10)
            await asyncio.sleep(1.5)  # a second alert (from either node) would arrive meanwhile
            assert peer.schema_errors == []
            return [f for f in peer.frames if f["type"] == "notice"]
        finally:
            await peer.close()

    notices = asyncio.run(watch())
    assert len(notices) == 1 and notices[0]["lot"] == lot and notices[0]["kind"] == "ending_soon"
