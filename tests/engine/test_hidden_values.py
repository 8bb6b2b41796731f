"""Hidden values never leave: a hypothesis-driven session records every frame sent to every
connection and every HTTP answer, and proves that no reserve and no other bidder's maximum
reached anyone who may not see them."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import api
from .wsclient import MSGPACK, Peer

HIDDEN_KEYS = {"reserve", "maxima", "leader_bidder"}
BIDDERS = ("A", "B", "C")
_lots = itertools.count(1)

bids = st.lists(
    st.tuples(st.sampled_from(BIDDERS), st.sampled_from(["amount", "max"]), st.integers(50, 400).map(lambda n: n * 100)),
    min_size=1, max_size=12,
)


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


def your_maxima(value: Any) -> list[int]:
    if isinstance(value, dict):
        found = [value["your_max"]] if value.get("your_max") is not None else []
        return found + [m for v in value.values() for m in your_maxima(v)]
    if isinstance(value, list):
        return [m for v in value for m in your_maxima(v)]
    return []


async def session(engine: Any, fmt: str, reserve: int | None, plan: list[tuple[str, str, int]], subprotocol: str) -> None:
    lot = f"H{next(_lots)}"
    spec: dict[str, Any] = {"lot": lot, "title": "Haval H6 2021", "start_price": 5000, "duration_s": 600, "format": fmt,
                            "increments": [[0, 100]], "vehicle": {"make": "Haval", "model": "H6", "year": 2021}}
    if reserve is not None:
        spec["reserve"] = reserve
    async with api(engine) as client:
        assert (await client.post("/api/lots", json=spec)).status_code == 201
    peers = {b: await Peer.open(engine.ws_url, engine.token("bidder", b), subprotocol) for b in BIDDERS}
    watcher = await Peer.open(engine.ws_url, None, subprotocol)
    for peer in [*peers.values(), watcher]:
        await peer.send({"type": "subscribe", "lot": lot})
        await peer.next(lambda f: f["type"] == "snapshot")
    async with api(engine) as client:
        assert (await client.post(f"/api/lots/{lot}/open")).status_code == 200
    sent: dict[str, set[int]] = {b: set() for b in BIDDERS}
    for n, (bidder, kind, value) in enumerate(plan):
        sent[bidder].add(value)
        await peers[bidder].bid(lot, f"{n}", **{"amount" if kind == "amount" else "maximum": value})
    http: dict[str, list[Any]] = {b: [] for b in [*BIDDERS, "watcher", "auditor"]}
    for who in http:
        role = who if who in ("watcher", "auditor") else "bidder"
        async with api(engine, role, who if role == "bidder" else None) as client:
            http[who].append((await client.get(f"/api/lots/{lot}")).json())
            listing = (await client.get("/api/lots", params={"q": "Haval"})).json()["lots"]
            http[who].append([state for state in listing if state["lot"] == lot])
            if role != "auditor":
                http[who].append((await client.get(f"/api/lots/{lot}/events")).json())
    async with api(engine) as client:
        assert (await client.post(f"/api/lots/{lot}/close")).status_code == 200
    for peer in [*peers.values(), watcher]:
        await peer.next(lambda f: f["type"] == "event" and f["kind"] == "closed")

    for who, peer in [*peers.items(), ("watcher", watcher)]:
        for frame in [*peer.frames, *http[who]]:
            assert not keys(frame) & HIDDEN_KEYS, (who, frame)
            own = sent.get(who, set())
            for value in your_maxima(frame):
                assert value in own, (who, value, frame)
        if fmt != "english":
            for frame in peer.frames:
                state = frame.get("state") or {}
                if state.get("status") in ("scheduled", "open"):
                    assert state["price"] is None and state["leader"] is None and state["next_min"] is None, frame
    for frame in http["auditor"]:
        assert "reserve" not in keys(frame) and "maxima" not in keys(frame)
    for peer in [*peers.values(), watcher]:
        await peer.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fmt=st.sampled_from(["english", "sealed_first", "sealed_second"]),
    reserve=st.none() | st.integers(60, 300).map(lambda n: n * 100),
    plan=bids,
    subprotocol=st.sampled_from(["auction.v1.json", MSGPACK]),
)
def test_no_hidden_value_leaves_in_any_frame_or_answer(module_engine, fmt, reserve, plan, subprotocol):
    asyncio.run(session(module_engine, fmt, reserve, plan, subprotocol))
