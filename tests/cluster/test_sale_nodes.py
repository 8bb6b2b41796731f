"""A sale whose lots two engine nodes write (docs/rules.md "Sales" and "Budgets"): group soft close
and a bidder's budget reach the lot on the other node, through the normal command path (forwarded
to its owner) and the bidder's own Redis slot. Real `serve` processes on the real Redis Cluster."""

from __future__ import annotations

import time
import uuid

from tests.cluster.test_engine_nodes import Nodes, bidder, retried, staff, wait_owner

SNIPE = {"window_s": 3600, "extend_s": 900}  # any bid in the test is "late": the lot moves to the bid + 900 s


def lots_on_two_writers(nodes: Nodes) -> tuple[str, str]:
    """A lot written by n1 and one by n2, created scheduled (created until rendezvous hashing splits them)."""
    a, b = nodes.nodes["n1"], nodes.nodes["n2"]
    owners: dict[str, str] = {}
    for i in range(12):
        lot = f"G{uuid.uuid4().hex[:6]}"
        with staff(a if i % 2 == 0 else b) as http:
            reply = http.post("/api/lots", json={"lot": lot, "title": "BYD Han 2021", "start_price": 100_000,
                                                 "increments": [[0, 1_000]], "duration_s": 600, "anti_snipe": SNIPE})
            assert reply.status_code == 201, reply.text
        owners[lot] = wait_owner(a, lot)
        if i >= 1:
            time.sleep(1.5)  # the preferred node takes each lot over from the creating one
            owners = {lot: wait_owner(a, lot) for lot in owners}
            by_node = {node: lot for lot, node in owners.items()}
            if len(by_node) == 2:
                return by_node["n1"], by_node["n2"]
    raise AssertionError(f"twelve lots all on one node: {owners}")


def test_group_soft_close_and_a_budget_reach_the_lot_another_node_writes(nodes: Nodes) -> None:
    a, b = nodes.start("n1"), nodes.start("n2")
    first, second = lots_on_two_writers(nodes)
    first_end = int(time.time() * 1000) + 300_000
    with staff(b) as http:
        made = http.post("/api/sales", json={"id": "GS", "lots": [first, second], "first_end_at": first_end,
                                             "stagger_s": 60, "group_soft_close": True})
        assert made.status_code == 201, made.text
        for lot in (first, second):
            assert retried(lambda lot=lot: http.post(f"/api/lots/{lot}/open")).status_code == 200
    with bidder(b, "bd") as on_b:
        assert on_b.put("/api/sales/GS/budget", json={"max_total": 250_000}).status_code == 200
        ack = on_b.post(f"/api/lots/{first}/bids", json={"id": "f1", "max": 120_000}).json()  # n1's lot, via n2
        assert ack["ok"] is True and ack["your_max"] == 120_000
    with bidder(a, "bd") as on_a:
        capped = on_a.post(f"/api/lots/{second}/bids", json={"id": "s1", "max": 200_000}).json()  # n2's lot, via n1
        assert (capped["ok"], capped["your_max"]) == (True, 130_000), capped  # 250,000 - 120,000 held on n1's lot
        over = on_a.post(f"/api/lots/{second}/bids", json={"id": "s2", "amount": 140_000}).json()
        assert over["reason"] in ("budget", "already_leading"), over
    with staff(a) as http:
        deadline = time.monotonic() + 10
        while True:
            lots = http.get("/api/sales/GS").json()["lots"]
            moved = lots[0]["ends_at"] - first_end
            if moved > 0 and lots[1]["ends_at"] == first_end + 60_000 + moved:
                break  # the second lot, on the other node, moved by as much: the gap is kept
            assert time.monotonic() < deadline, lots
            time.sleep(0.1)
        assert (lots[0]["extensions"], lots[1]["extensions"]) == (1, 0)
