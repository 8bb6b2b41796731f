"""One credit limit across lots written by different engine nodes: real `serve` processes on the
real Redis Cluster with a shared database (see test_engine_nodes.py), the limit held by the shared
ledger (auction_engine/bidder_ledger.py) that each lot's writer reserves on before deciding."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.cluster.test_engine_nodes import Nodes, bidder, create_open, place, wait_owner

LIMIT = 200_000


def lots_on_two_writers(nodes: Nodes) -> tuple[str, str]:
    """Two open lots, each written by a different node (created until rendezvous hashing splits them)."""
    a, b = nodes.nodes["n1"], nodes.nodes["n2"]
    owners: dict[str, str] = {}
    for i in range(12):
        lot = f"K{uuid.uuid4().hex[:6]}"
        create_open(a if i % 2 == 0 else b, lot)
        owners[lot] = wait_owner(a, lot)
        if i >= 1:
            time.sleep(1.5)  # the preferred node takes each lot over from the creating one
            owners = {lot: wait_owner(a, lot) for lot in owners}
            by_node = {node: lot for lot, node in owners.items()}
            if len(by_node) == 2:
                return by_node["n1"], by_node["n2"]
    raise AssertionError(f"twelve lots all on one node: {owners}")


def test_a_limit_holds_across_lots_written_by_two_nodes_and_an_outbid_frees_it(nodes: Nodes) -> None:
    a, b = nodes.start("n1"), nodes.start("n2")
    first, second = lots_on_two_writers(nodes)
    a.register("cr", "cr", LIMIT)  # registered on n1 only; n2 writes `second`
    with bidder(b, "cr") as cr_on_b, bidder(a, "cr") as cr_on_a, bidder(b, "rv") as rival:
        assert place(cr_on_b, first, "c1", 110_000)["ok"] is True  # on n1's lot, sent via n2
        refused = place(cr_on_a, second, "c2", 100_000)  # on n2's lot: 210,000 would pass the limit
        assert refused["ok"] is False and refused["reason"] == "credit_limit", refused
        assert place(rival, first, "r1", 111_000)["ok"] is True  # cr is outbid on `first`: its hold is released
        deadline = time.monotonic() + 5
        while (answer := place(cr_on_a, second, f"c4-{time.monotonic_ns()}", 100_000))["ok"] is not True:
            # the release is written just after the rival's ack, so the first try may come too early
            assert answer["reason"] == "credit_limit" and time.monotonic() < deadline, answer
            time.sleep(0.1)
        assert place(cr_on_b, first, "c5", 112_000)["reason"] == "credit_limit"  # now `second` holds 100,000
    with httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {b.auctioneer_token}"}, timeout=10) as staff:
        standing = {row["bidder"]: row for row in staff.get("/api/bidders").json()["bidders"]}
        assert standing["cr"]["credit_limit"] == LIMIT  # every node reads the same limit
