"""auction_engine/fanout.py: a connection's bounded queue, its writer, and the hub's routing.

The connection is handed the socket's send callables; here they record what reaches "the socket"
(and can be made to stall), which is what the queue's bound and the writer's batching are about."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from auction_engine.auth import Principal
from auction_engine.fanout import WRITE_BATCH, Connection, Hub
from auction_engine.frames import JSON, SLOW_CONSUMER_CLOSE, Outgoing, event_frame


class Socket:
    """The far side of a connection: what was written, in order; `stall` holds every write."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.batches: list[int] = []
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

    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.texts]


def connect(sock: Socket, limit: int = 1024, batched: bool = False, bidder: str | None = None) -> Connection:
    principal = Principal("bidder" if bidder else "watcher", bidder, bidder)
    return Connection(principal, JSON, sock.send_text, sock.send_bytes, sock.close, limit, abort=sock.abort,
                      grace_s=0.05, send_many=sock.send_many if batched else None)


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


async def test_deliver_event_drops_repeats_and_holds_events_while_history_is_sent() -> None:
    sock = Socket()
    conn = connect(sock)
    hub = Hub()
    hub.add(conn)
    hub.watch(conn, "L1")  # subscribing: history in flight, live events are held
    hub.publish("L1", 3, event("L1", 3))
    held = conn.pending["L1"]
    assert list(conn.queue) == [] and held is not None and [seq for seq, _ in held] == [3]
    conn.sent_seq["L1"] = 2
    conn.pending["L1"] = None  # history sent up to 2: the held event goes out now (as ws.subscribe does)
    for seq, out in held:
        conn.deliver_event("L1", seq, out)
    hub.publish("L1", 3, event("L1", 3))  # a repeat of seq 3
    hub.publish("L1", 4, event("L1", 4))
    assert [out.frame["seq"] for out in conn.queue] == [3, 4]


async def test_the_hub_routes_a_lots_events_to_its_watchers_and_a_bidders_frames_to_that_bidder() -> None:
    hub = Hub()
    watcher, bidder, other = Socket(), Socket(), Socket()
    w, b, o = connect(watcher), connect(bidder, bidder="b1"), connect(other, bidder="b2")
    for conn in (w, b, o):
        hub.add(conn)
    hub.watch(w, "L1")
    w.pending["L1"] = None
    hub.publish("L1", 1, event("L1", 1))
    hub.publish("L2", 1, event("L2", 1))
    hub.to_bidder("b1", Outgoing({"type": "outbid", "lot": "L1"}))
    assert [out.frame["lot"] for out in w.queue] == ["L1"]
    assert [out.frame["type"] for out in b.queue] == ["outbid"]
    assert list(o.queue) == []
    assert hub.queued() == 2
    hub.remove(w)
    hub.remove(b)
    assert "L1" not in hub.watchers and "b1" not in hub.bidders


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
