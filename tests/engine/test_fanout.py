"""auction_engine/fanout.py: a connection's bounded queue, its writer, and the hub's routing.

The connection is handed the socket's send callables; here they record what reaches "the socket"
(and can be made to stall), which is what the queue's bound and the writer's batching are about."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from auction_engine.auth import Principal
from auction_engine.fanout import WRITE_BATCH, Connection, Hub
from auction_engine.frames import JSON, SLOW_CONSUMER_CLOSE, Outgoing, event_frame

from .helpers import flushed


class Socket:
    """The far side of a connection: what was written, in order; `stall` holds every write."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.batches: list[int] = []
        self.direct: list[int] = []
        self.times: list[float] = []  # the loop time each frame reached the socket
        self.closed_with: int | None = None
        self.aborted = False
        self.stall = asyncio.Event()
        self.stall.set()

    async def send_text(self, data: str) -> None:
        await self.stall.wait()
        self.texts.append(data)

    async def send_bytes(self, data: bytes) -> None:
        raise AssertionError("a JSON connection sends text")

    async def close(self, code: int) -> None:
        self.closed_with = code

    def abort(self) -> None:
        self.aborted = True

    async def send_many(self, frames: list[Outgoing]) -> None:
        await self.stall.wait()
        self.batches.append(len(frames))
        self.texts.extend(str(out.for_subprotocol(JSON)) for out in frames)
        self.times.extend([asyncio.get_running_loop().time()] * len(frames))

    def write_now(self, frames: list[Outgoing]) -> bool:
        """The transport's write without waiting: refused while the socket stalls."""
        if not self.stall.is_set():
            return False
        if not frames:  # the connection asks whether the socket takes data now
            return True
        self.direct.append(len(frames))
        self.texts.extend(str(out.for_subprotocol(JSON)) for out in frames)
        self.times.extend([asyncio.get_running_loop().time()] * len(frames))
        return True

    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.texts]


def connect(sock: Socket, limit: int = 1024, batched: bool = False, bidder: str | None = None) -> Connection:
    principal = Principal("bidder" if bidder else "watcher", bidder, bidder)
    return Connection(principal, JSON, sock, limit, grace_s=0.05, batched=batched)


def event(lot: str, seq: int) -> Outgoing:
    return Outgoing(event_frame(lot, seq, "bid", seq, {"lot": lot, "seq": seq}))


async def settle(conn: Connection, writer: asyncio.Task[None]) -> None:
    conn.shutdown()
    await asyncio.wait_for(writer, 2)


async def test_frames_reach_the_socket_in_order_frame_by_frame_without_a_batch_writer() -> None:
    sock = Socket()
    conn = connect(sock)
    writer = asyncio.create_task(conn.writer())
    for seq in range(1, 6):
        assert conn.send(event("L1", seq))
    await asyncio.sleep(0.01)
    await settle(conn, writer)
    assert [f["seq"] for f in sock.frames()] == [1, 2, 3, 4, 5]
    assert sock.batches == []


async def test_a_burst_goes_out_in_batches_of_at_most_write_batch() -> None:
    sock = Socket()
    conn = connect(sock, batched=True)
    for seq in range(1, WRITE_BATCH * 2 + 11):
        conn.send(event("L1", seq))
    writer = asyncio.create_task(conn.writer())
    await asyncio.sleep(0.01)
    await settle(conn, writer)
    assert sock.batches == [WRITE_BATCH, WRITE_BATCH, 10]
    assert [f["seq"] for f in sock.frames()] == list(range(1, WRITE_BATCH * 2 + 11))


async def test_a_watcher_past_its_bound_is_told_slow_consumer_closed_and_aborted_if_stuck() -> None:
    sock = Socket()
    sock.stall.clear()  # the watcher stopped reading
    conn = connect(sock, limit=4)
    writer = asyncio.create_task(conn.writer())
    accepted = [conn.send(event("L1", seq)) for seq in range(1, 8)]
    assert accepted == [True, True, True, True, False, False, False]
    assert conn.slow and conn.closed
    await asyncio.sleep(0.1)  # past the grace: the writer is still stuck on the socket
    assert sock.aborted
    sock.stall.set()
    await asyncio.wait_for(writer, 2)
    assert sock.frames()[-1]["code"] == "slow_consumer"
    assert sock.closed_with == SLOW_CONSUMER_CLOSE


async def test_a_watch_holds_live_events_while_its_history_is_sent_and_drops_what_the_history_held() -> None:
    sock = Socket()
    conn = connect(sock)
    hub = Hub()
    hub.add(conn)
    writer = asyncio.create_task(conn.writer())
    sub = hub.watch(conn, "L1")  # subscribing: history in flight, live events are kept, not sent
    hub.publish("L1", 2, event("L1", 2))
    hub.publish("L1", 3, event("L1", 3))
    await asyncio.sleep(0.01)
    assert sock.frames() == [] and sub.lag == 2
    conn.send(event("L1", 2))  # the history, up to seq 2, as ws.subscribe queues it
    sub.release(2)
    hub.publish("L1", 3, event("L1", 3))  # a repeat of seq 3
    hub.publish("L1", 4, event("L1", 4))
    await asyncio.sleep(0.01)
    await settle(conn, writer)
    assert [f["seq"] for f in sock.frames()] == [2, 3, 4]


async def test_the_hub_routes_a_lots_events_to_its_watchers_and_a_bidders_frames_to_that_bidder() -> None:
    hub = Hub()
    watcher, bidder, other = Socket(), Socket(), Socket()
    w, b, o = connect(watcher), connect(bidder, bidder="b1"), connect(other, bidder="b2")
    for conn in (w, b, o):
        hub.add(conn)
    hub.watch(w, "L1").release(0)
    hub.publish("L1", 1, event("L1", 1))
    hub.publish("L2", 1, event("L2", 1))
    hub.to_bidder("b1", Outgoing({"type": "outbid", "lot": "L1"}))
    assert w.backlog() == 1 and [out.frame["type"] for _, out in b.queue] == ["outbid"]
    assert o.backlog() == 0
    assert hub.queued() == 2
    writers = [asyncio.create_task(c.writer()) for c in (w, b, o)]
    await asyncio.sleep(0.01)
    assert [f["lot"] for f in watcher.frames()] == ["L1"] and other.frames() == []
    hub.remove(w)
    hub.remove(b)
    assert "L1" not in hub.watchers and "b1" not in hub.bidders
    for conn, task in zip((w, b, o), writers, strict=True):
        await settle(conn, task)


async def test_end_bidder_sends_its_frame_last_then_closes_with_the_code() -> None:
    sock = Socket()
    conn = connect(sock, bidder="b1")
    hub = Hub()
    hub.add(conn)
    writer = asyncio.create_task(conn.writer())
    conn.send(Outgoing({"type": "pong", "t": 1, "server_time": 2}))
    hub.end_bidder("b1", {"type": "error", "code": "suspended", "message": "no"}, 4401)
    await asyncio.wait_for(writer, 2)
    assert [f["type"] for f in sock.frames()] == ["pong", "error"]
    assert sock.closed_with == 4401
    assert not conn.send(Outgoing({"type": "pong", "t": 1, "server_time": 2}))


async def live(hub: Hub, sock: Socket, lot: str = "L1", limit: int = 1024, bidder: str | None = None,
               conflate_ms: int | None = None, delta: bool = False) -> tuple[Connection, asyncio.Task[None]]:
    """A connection watching `lot` live (no history), its writer running and idle."""
    conn = connect(sock, limit, batched=True, bidder=bidder)
    hub.add(conn)
    hub.watch(conn, lot, conflate_ms, delta).release(0)
    writer = asyncio.create_task(conn.writer())
    await asyncio.sleep(0)
    return conn, writer



async def test_a_lots_burst_reaches_each_idle_watcher_in_one_direct_write_and_is_then_forgotten() -> None:
    hub = Hub()
    socks = [Socket() for _ in range(3)]
    conns = [await live(hub, sock) for sock in socks]
    for seq in range(1, 11):
        hub.publish("L1", seq, event("L1", seq))
    feed = hub.watchers["L1"]
    assert len(feed.entries) == 10  # once for all three watchers, not one copy each
    await flushed()
    for sock in socks:
        assert sock.direct == [10] and sock.batches == []  # one write, no writer woken
        assert [f["seq"] for f in sock.frames()] == list(range(1, 11))
    assert feed.entries == []  # everyone has everything: nothing kept
    for conn, writer in conns:
        await settle(conn, writer)


async def test_an_ack_goes_before_the_events_after_it_and_after_the_events_before_it() -> None:
    hub = Hub()
    sock = Socket()
    conn, writer = await live(hub, sock, bidder="b1")
    hub.publish("L1", 1, event("L1", 1))
    conn.send_frame({"type": "ack", "id": "x", "lot": "L1", "ok": True, "seq": 2})  # the actor: ack, then event
    hub.publish("L1", 2, event("L1", 2))
    hub.to_bidder("b1", Outgoing({"type": "outbid", "lot": "L1", "seq": 3}))
    hub.publish("L1", 3, event("L1", 3))
    await asyncio.sleep(0.01)
    await settle(conn, writer)
    assert [(f["type"], f["seq"]) for f in sock.frames()] == [
        ("event", 1), ("ack", 2), ("event", 2), ("outbid", 3), ("event", 3)]


async def test_a_watcher_that_stops_reading_is_cut_off_past_its_bound_and_the_buffer_stays_bounded() -> None:
    hub = Hub()
    healthy, stalled = Socket(), Socket()
    h_conn, h_writer = await live(hub, healthy, limit=8)
    s_conn, s_writer = await live(hub, stalled, limit=8)
    stalled.stall.clear()
    feed = hub.watchers["L1"]
    for seq in range(1, 31):
        hub.publish("L1", seq, event("L1", seq))
        await asyncio.sleep(0)
        assert len(feed.entries) <= 9
    assert s_conn.slow and s_conn.closed and not h_conn.slow
    await asyncio.sleep(0.1)
    assert stalled.aborted  # it took no close either
    assert [f["seq"] for f in healthy.frames()] == list(range(1, 31))
    stalled.stall.set()
    await asyncio.wait_for(s_writer, 2)
    assert stalled.frames()[-1]["code"] == "slow_consumer" and stalled.closed_with == SLOW_CONSUMER_CLOSE
    assert len(feed) == 1
    await settle(h_conn, h_writer)


async def test_a_conflated_watcher_gets_the_latest_event_at_most_once_per_period_and_the_last_one_always() -> None:
    hub = Hub()
    full_sock, conflated_sock = Socket(), Socket()
    full = await live(hub, full_sock)
    conflated = await live(hub, conflated_sock, conflate_ms=50)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for seq in range(1, 41):  # 40 events over ~200 ms (more on a loaded machine)
        hub.publish("L1", seq, event("L1", seq))
        await asyncio.sleep(0.005)
    last_change = loop.time()
    await asyncio.sleep(0.3)
    seqs = [f["seq"] for f in conflated_sock.frames()]
    times = conflated_sock.times
    assert seqs == sorted(set(seqs)) and seqs[-1] == 40  # never older after newer; the last one delivered
    assert 2 <= len(seqs) <= (last_change - started) / 0.05 + 2  # one per 50 ms at most, not 40
    assert all(b - a >= 0.049 for a, b in zip(times, times[1:], strict=False))
    assert times[-1] - last_change <= 0.05 + 0.25  # within the period (+ a loaded loop's slack)
    assert [f["seq"] for f in full_sock.frames()] == list(range(1, 41))  # the full feed is untouched
    for conn, writer in (full, conflated):
        await settle(conn, writer)


async def test_an_event_reaches_every_watcher_when_one_writer_wakes_for_its_own_ack_first() -> None:
    hub = Hub()
    bidder_sock, watcher_sock = Socket(), Socket()
    bidder = await live(hub, bidder_sock, bidder="b1")
    watcher = await live(hub, watcher_sock)
    for seq in (1, 2):
        bidder[0].send_frame({"type": "ack", "id": f"a{seq}", "lot": "L1", "ok": True, "seq": seq})
        hub.publish("L1", seq, event("L1", seq))  # the bidder's writer runs before the lot's flush
        await asyncio.sleep(0.01)
    assert [(f["type"], f["seq"]) for f in bidder_sock.frames()] == [("ack", 1), ("event", 1), ("ack", 2), ("event", 2)]
    assert [f["seq"] for f in watcher_sock.frames()] == [1, 2]
    for conn, writer in (bidder, watcher):
        await settle(conn, writer)


async def test_a_conflated_watcher_never_gets_the_seq_its_snapshot_already_held() -> None:
    """The snapshot is the book, which may be ahead of the log: the entry in flight is published after."""
    hub = Hub()
    sock = Socket()
    conn = connect(sock, batched=True)
    hub.add(conn)
    writer = asyncio.create_task(conn.writer())
    sub = hub.watch(conn, "L1", conflate_ms=50)
    conn.send_frame({"type": "snapshot", "lot": "L1", "seq": 5})  # the book at 5, seq 5 still being appended
    sub.release(5)
    hub.publish("L1", 5, event("L1", 5))
    await asyncio.sleep(0.08)
    hub.publish("L1", 6, event("L1", 6))
    await asyncio.sleep(0.08)
    await settle(conn, writer)
    assert [(f["type"], f["seq"]) for f in sock.frames()] == [("snapshot", 5), ("event", 6)]


async def test_an_idle_watcher_holds_no_writer_task_until_its_socket_stalls_and_none_once_it_catches_up() -> None:
    hub = Hub()
    sock = Socket()
    conn = connect(sock, batched=True, bidder="b1")
    hub.add(conn)
    tasks = len(asyncio.all_tasks())
    conn.start()  # as ws.py starts a connection of the engine's own WebSocket layer
    hub.watch(conn, "L1").release(0)
    conn.send_frame({"type": "welcome", "seq": 0})
    for seq in (1, 2):
        hub.publish("L1", seq, event("L1", seq))
    await flushed()
    assert len(asyncio.all_tasks()) == tasks and sock.batches == []  # written directly, no task
    sock.stall.clear()
    hub.publish("L1", 3, event("L1", 3))
    conn.send_frame({"type": "ack", "seq": 4})
    hub.publish("L1", 4, event("L1", 4))
    await flushed()
    assert len(asyncio.all_tasks()) == tasks + 1  # a writer waits for the socket
    sock.stall.set()
    for _ in range(200):
        if len(asyncio.all_tasks()) == tasks:
            break
        await asyncio.sleep(0.01)
    assert len(asyncio.all_tasks()) == tasks and sock.batches == [3]  # caught up: the writer is gone
    hub.publish("L1", 5, event("L1", 5))
    await flushed()
    assert sock.direct[-1] == 1  # direct again
    conn.shutdown()
    await asyncio.wait_for(conn.stopped(), 2)
    assert conn.ended and len(asyncio.all_tasks()) == tasks
    assert [(f["type"], f["seq"]) for f in sock.frames()] == [
        ("welcome", 0), ("event", 1), ("event", 2), ("event", 3), ("ack", 4), ("event", 4), ("event", 5)]


def lot_states(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` successive states of a lot, each changing a few fields of the one before (seq 1 to n)."""
    rng = random.Random(seed)
    state: dict[str, Any] = {"lot": "L1", "seq": 0, "price": 5000, "bids": 0, "leader": None, "ends_at": 60_000,
                             "extensions": 0, "status": "open", "correction": None}
    states = []
    for seq in range(1, n + 1):
        state = {**state, "seq": seq}
        for key in rng.sample(["price", "bids", "leader", "ends_at", "extensions", "correction"], rng.randint(0, 3)):
            state[key] = rng.choice([None, rng.randint(1, 9_999_999), f"P{rng.randint(1, 99)}", {"kind": "reopen"}])
        states.append(state)
    return states


def follow(frames: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """What a delta watcher holds after each event: whole frames replace, deltas lay over the seq they name."""
    held: dict[str, Any] | None = None
    seen: dict[int, dict[str, Any]] = {}
    for f in frames:
        if f["type"] == "snapshot":
            held = f["state"]
        elif "changed" in f:
            assert held is not None and f["prev"] == held["seq"], (f, held)
            held = {**held, **f["changed"]}
            seen[f["seq"]] = held
        else:
            held = seen[f["seq"]] = f["state"]
    return seen


async def test_a_delta_watcher_rebuilds_every_state_the_full_feed_carries_whenever_it_joins_or_stalls() -> None:
    for seed in range(20):
        states = lot_states(60, seed)
        rng = random.Random(seed)
        hub = Hub()
        full_sock, early_sock, late_sock, stalling_sock = Socket(), Socket(), Socket(), Socket()
        full = await live(hub, full_sock)
        early = await live(hub, early_sock, delta=True)
        stalling = await live(hub, stalling_sock, delta=True)
        late_conn = connect(late_sock, batched=True)
        hub.add(late_conn)
        late_writer = asyncio.create_task(late_conn.writer())
        join, stall_from, stall_to = rng.randint(1, 50), rng.randint(1, 40), rng.randint(41, 60)
        for state in states:
            seq = state["seq"]
            if seq == join:  # joins as the subscribe handler does: held, snapshot queued, released
                sub = hub.watch(late_conn, "L1", delta=True)
                # A bidder's snapshot holds fields of their own that no event carries: the first live
                # event must replace it whole, or a delta would leave them standing.
                mine = {**(states[seq - 2] if seq > 1 else {"seq": 0}), "your_max": 777, "leading": True}
                late_conn.send_frame({"type": "snapshot", "lot": "L1", "seq": seq - 1, "state": mine})
                sub.release(seq - 1)
            if seq == stall_from:
                stalling_sock.stall.clear()
            if seq == stall_to:
                stalling_sock.stall.set()
            hub.publish("L1", seq, Outgoing(event_frame("L1", seq, "bid", seq, state)))
            if rng.random() < 0.5:
                await asyncio.sleep(0)  # some events alone in their turn, some in bursts
        await asyncio.sleep(0.01)
        truth = {s["seq"]: s for s in states}
        assert follow(full_sock.frames()) == truth
        assert follow(early_sock.frames()) == truth
        assert follow(stalling_sock.frames()) == truth
        assert follow(late_sock.frames()) == {seq: s for seq, s in truth.items() if seq >= join}
        deltas = [f for f in early_sock.frames() if "changed" in f]
        assert len(deltas) == 59 and "state" in early_sock.frames()[0]  # only the first live event is whole
        assert all(set(f["changed"]) < set(truth[f["seq"]]) for f in deltas)  # never the whole state again
        for conn, writer in (full, early, stalling, (late_conn, late_writer)):
            await settle(conn, writer)


async def test_no_delta_is_made_while_no_one_on_the_node_reads_deltas() -> None:
    hub = Hub()
    sock = Socket()
    conn, writer = await live(hub, sock)
    for seq in range(1, 4):
        hub.publish("L1", seq, event("L1", seq))
    assert all(entry[3] is None for entry in hub.watchers["L1"].entries)
    await settle(conn, writer)
