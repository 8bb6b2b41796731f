"""The client against the in-process fake engine (conftest.py): resume, dedupe, gaps, retries."""

import asyncio

import pytest

from clients.client import AuctionClient, ClientError
from clients.frames import JSON, MSGPACK, Event, Snapshot

pytestmark = pytest.mark.timeout(20)


async def drain(client, lot, until_seq, timeout=5.0):
    seqs = []
    while not seqs or seqs[-1] < until_seq:
        frame = await client.next_frame(lot, timeout)
        seqs.append(frame.seq)
    return seqs


@pytest.mark.parametrize("subprotocol", [JSON, MSGPACK])
async def test_subscribe_bid_ack(fake_engine, subprotocol):
    async with AuctionClient(fake_engine.url, "tok", subprotocol) as client:
        assert client.welcome.paddle == "7"
        snapshot = await client.subscribe("L1")
        assert snapshot == Snapshot(lot="L1", seq=0, state=snapshot.state,
                                    server_time=snapshot.server_time)
        assert await client.next_frame("L1") == snapshot
        ack = await client.bid("L1", amount=1_000_000)
        assert ack.ok and ack.price == 1_000_000 and ack.seq == 1
        event = await client.next_frame("L1")
        assert isinstance(event, Event) and event.seq == 1
        assert client.state("L1")["price"] == 1_000_000


async def test_clock_offset_follows_the_server_clock(fake_engine):
    fake_engine.clock_skew_ms = 5_000
    async with AuctionClient(fake_engine.url, "tok") as client:
        best = await client.sync_clock(3)
        assert abs(client.offset - 5_000) <= best.rtt // 2 + 5
        assert abs(client.server_now() - fake_engine.now()) <= best.rtt + 10


async def test_reconnect_resumes_with_since_gapless_without_duplicates(fake_engine):
    async with AuctionClient(fake_engine.url, "tok", max_backoff=0.2) as client:
        await client.subscribe("L1")
        for price in (100, 200, 300):
            await fake_engine.append("L1", price=price)
        assert await drain(client, "L1", 3) == [0, 1, 2, 3]
        await fake_engine.drop_all()
        for price in (400, 500):
            await fake_engine.append("L1", price=price)
        await client.wait_state("L1", lambda s: s["price"] == 500)
        await fake_engine.append("L1", price=600)
        assert await drain(client, "L1", 6) == [4, 5, 6]
        resubscribes = [f for f in fake_engine.received if f["type"] == "subscribe"]
        assert resubscribes[-1] == {"type": "subscribe", "lot": "L1", "since": 3}
        assert client.stats.reconnects == 1 and client.stats.gaps == 0


async def test_duplicate_events_are_dropped(fake_engine):
    async with AuctionClient(fake_engine.url, "tok") as client:
        await client.subscribe("L1")
        event = await fake_engine.append("L1", price=100)
        for ws in fake_engine.conns:
            await fake_engine.send(ws, event)
        await fake_engine.append("L1", price=200)
        assert await drain(client, "L1", 2) == [0, 1, 2]
        assert client.stats.duplicates_dropped == 1


async def test_a_gap_resyncs_from_a_snapshot(fake_engine):
    async with AuctionClient(fake_engine.url, "tok") as client:
        await client.subscribe("L1")
        await client.next_frame("L1")
        lot = fake_engine.lot("L1")
        ws = next(iter(fake_engine.conns))
        fake_engine.conns[ws].discard("L1")  # this watcher misses seq 1
        await fake_engine.append("L1", price=100)
        fake_engine.conns[ws].add("L1")
        await fake_engine.append("L1", price=200)  # seq 2 arrives after a hole
        frame = await client.next_frame("L1")
        assert isinstance(frame, Snapshot) and frame.seq == 2 and frame.state == lot.state()
        assert client.stats.gaps == 1


async def test_bid_is_retried_with_the_same_id_after_a_lost_ack(fake_engine):
    fake_engine.swallow_acks = 1
    async with AuctionClient(fake_engine.url, "tok", max_backoff=0.2) as client:
        await client.subscribe("L1")
        ack = await client.bid("L1", max=2_000_000, id="mine-1")
        assert ack.ok and ack.id == "mine-1"
        bids = [f for f in fake_engine.received if f["type"] == "bid"]
        assert [b["id"] for b in bids] == ["mine-1", "mine-1"]
        assert fake_engine.bids_placed == ["mine-1"]
        assert client.stats.resent_bids == 1


async def test_generated_ids_are_unique():
    client = AuctionClient("http://127.0.0.1:9")
    assert len({client.new_id() for _ in range(1000)}) == 1000
    assert AuctionClient("http://127.0.0.1:9").new_id() != client.new_id()


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"amount": 12345.5}, "float"),
    ({"amount": True}, "bool"),
    ({"amount": 0}, "zero"),
    ({"amount": 100, "max": 200}, "both"),
    ({}, "neither"),
])
async def test_bad_amounts_never_leave_the_process(fake_engine, kwargs, why):
    async with AuctionClient(fake_engine.url, "tok") as client:
        with pytest.raises(ClientError) as info:
            await client.bid("L1", **kwargs)
        assert info.value.code == "bad_amount"
    assert not [f for f in fake_engine.received if f["type"] == "bid"]


async def test_floats_in_a_lot_spec_are_refused_before_sending():
    client = AuctionClient("http://127.0.0.1:9")
    with pytest.raises(ClientError) as info:
        await client.create_lot({"title": "x", "start_price": 100.0})
    assert info.value.field == "start_price"
    await client.close()


async def test_no_reconnect_fails_pending_bids(fake_engine):
    fake_engine.swallow_acks = 1
    async with AuctionClient(fake_engine.url, "tok", reconnect=False) as client:
        with pytest.raises(ClientError) as info:
            await client.bid("L1", amount=100)
        assert info.value.code == "connection_lost"


async def test_ack_timeout(fake_engine):
    async with AuctionClient(fake_engine.url, "tok") as client:
        fake_engine.handle = lambda ws, frame: asyncio.sleep(0)
        with pytest.raises(ClientError) as info:
            await client.bid("L1", amount=100, timeout=0.2)
        assert info.value.code == "timeout"


async def test_a_snapshot_behind_the_held_seq_still_becomes_the_base(fake_engine):
    async with AuctionClient(fake_engine.url, "tok") as client:
        await client.subscribe("L1", since=5)  # the client believes it holds seq 5
        fake_engine.lot("L1").events.clear()
        await client.send_raw({"type": "subscribe", "lot": "L1"})  # the fake answers seq 0
        frame = await client.next_frame("L1")
        assert isinstance(frame, Snapshot) and frame.seq == 0 and client.seq("L1") == 0
        await fake_engine.append("L1", price=100)
        assert (await client.next_frame("L1")).seq == 1


async def test_no_server_is_a_network_client_error():
    client = AuctionClient("http://127.0.0.1:9", "tok", open_timeout=2)
    with pytest.raises(ClientError) as info:
        await client.connect()
    assert info.value.code == "network"
    with pytest.raises(ClientError) as info:
        await client.time()
    assert info.value.code == "network"
    await client.close()
