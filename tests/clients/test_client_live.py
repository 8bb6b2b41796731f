"""The Python client against the real engine (the `engine` fixture: real redis-server, real
process): subscribe/bid/ack in both subprotocols, resume with `since` after a dropped connection and
after an engine restart, and the idempotent retry of a bid id."""

import asyncio
import itertools

import pytest

from auction_engine.auth import TokenSigner
from clients.client import AuctionClient, ClientError
from clients.frames import JSON, MSGPACK, Event, Outbid, Snapshot

from ..conftest import SECRET

pytestmark = pytest.mark.timeout(90)

_lots = itertools.count(1)


async def setup_sale(engine, bidders=("alice", "bob"), **spec):
    """An open english lot and registered bidders; returns (auctioneer client, lot, tokens)."""
    admin = AuctionClient(engine.url, engine.auctioneer_token)
    tokens = {}
    for i, name in enumerate(bidders):
        answer = await admin.register_bidder(name, str(101 + i))
        tokens[name] = answer["token"]
    lot = f"T{next(_lots)}"
    state = await admin.create_lot({
        "lot": lot, "title": "Toyota Camry 2.0G 2019", "currency": "CNY",
        "start_price": 9_500_000, "duration_s": 300, **spec,
    })
    if state["status"] == "scheduled":
        await admin.action(lot, "open")
    return admin, lot, tokens


def seqs(frames):
    return [f.seq for f in frames]


async def collect(client, lot, until_seq, timeout=10.0):
    frames = []
    while not frames or frames[-1].seq < until_seq:
        frames.append(await client.next_frame(lot, timeout))
    return frames


@pytest.mark.parametrize("subprotocol", [JSON, MSGPACK])
async def test_subscribe_bid_ack_outbid(engine, subprotocol):
    admin, lot, tokens = await setup_sale(engine)
    async with (AuctionClient(engine.url, tokens["alice"], subprotocol) as alice,
                AuctionClient(engine.url, tokens["bob"], subprotocol) as bob):
        assert alice.welcome.role == "bidder" and alice.welcome.paddle == "101"
        snapshot = await alice.subscribe(lot)
        assert snapshot.state["next_min"] == 9_500_000 and snapshot.state["status"] == "open"
        await bob.subscribe(lot)

        first = await alice.bid(lot, amount=9_500_000)
        assert first.ok and first.leading and first.price == 9_500_000
        second = await bob.bid(lot, max=10_000_000)
        assert second.ok and second.leading and second.price == 9_550_000  # ¥95,000 + step ¥500

        outbid = await alice.next_private()
        assert outbid == Outbid(lot=lot, seq=second.seq, price=9_550_000, next_min=9_600_000)
        frames = await collect(alice, lot, second.seq)
        assert isinstance(frames[0], Snapshot) and all(isinstance(f, Event) for f in frames[1:])
        assert seqs(frames) == list(range(frames[0].seq, second.seq + 1))
        assert alice.state(lot)["leader"] == "102"
        assert "your_max" not in frames[-1].state or frames[-1].state["your_max"] is None
    await admin.close()


async def test_refusals_come_back_as_refused_acks(engine):
    admin, lot, tokens = await setup_sale(engine)
    async with AuctionClient(engine.url, tokens["alice"]) as alice:
        await alice.subscribe(lot)
        low = await alice.bid(lot, amount=100)
        assert not low.ok and low.reason == "too_low" and low.next_min == 9_500_000
        assert (await alice.bid(lot, amount=9_500_000)).ok
        again = await alice.bid(lot, amount=9_600_000)
        assert not again.ok and again.reason == "already_leading"
        unknown = await alice.bid("NO-SUCH-LOT", amount=9_500_000)
        assert not unknown.ok and unknown.reason == "unknown_lot"
    await admin.close()


async def test_clock_offset_is_small_on_loopback(engine):
    async with AuctionClient(engine.url) as watcher:
        best = await watcher.sync_clock(5)
        server = await watcher.time()
        assert best.rtt < 500
        assert abs(watcher.server_now() - server) < 1000


async def test_dropped_connection_resumes_with_since_gapless(engine):
    admin, lot, tokens = await setup_sale(engine)
    async with (AuctionClient(engine.url, tokens["alice"], max_backoff=0.3) as alice,
                AuctionClient(engine.url, tokens["bob"]) as bob):
        snapshot = await alice.subscribe(lot)
        ack = await bob.bid(lot, amount=9_500_000)
        before = await collect(alice, lot, ack.seq)

        await alice.abort()
        for amount in (9_600_000, 9_800_000):
            await admin.floor_bid(lot, amount, "F7")
        last = await bob.bid(lot, amount=10_000_000)
        after = await collect(alice, lot, last.seq)

        assert seqs(before + after) == list(range(snapshot.seq, last.seq + 1))
        assert all(isinstance(f, Event) for f in after)
        assert alice.stats.reconnects == 1 and alice.stats.gaps == 0
        assert alice.state(lot)["price"] == 10_000_000
    await admin.close()


async def test_engine_restart_resumes_gapless(engine):
    admin, lot, tokens = await setup_sale(engine)
    async with AuctionClient(engine.url, tokens["alice"], max_backoff=0.3, ack_timeout=20) as alice:
        snapshot = await alice.subscribe(lot)
        first = await alice.bid(lot, amount=9_500_000)
        await collect(alice, lot, first.seq)

        engine.kill()
        engine.start()
        await admin.floor_bid(lot, 9_700_000, "F1")
        second = await alice.bid(lot, amount=9_900_000)
        assert second.ok and second.seq == first.seq + 2
        frames = await collect(alice, lot, second.seq)
        assert seqs(frames) == [first.seq + 1, second.seq]
        assert alice.stats.reconnects >= 1 and alice.stats.gaps == 0
        assert snapshot.seq < first.seq
    await admin.close()


async def test_a_retried_id_places_one_bid_and_returns_the_first_ack(engine):
    admin, lot, tokens = await setup_sale(engine)
    async with AuctionClient(engine.url, tokens["alice"], max_backoff=0.3) as alice:
        await alice.subscribe(lot)
        first = await alice.bid(lot, max=12_000_000, id="retry-me")
        await alice.abort()
        again = await alice.bid(lot, max=12_000_000, id="retry-me")
        assert again == first
        assert (await alice.lot(lot))["bids"] == 1
    await admin.close()


async def test_a_bid_in_flight_when_the_connection_drops_is_placed_once(engine):
    admin, lot, tokens = await setup_sale(engine)
    async with AuctionClient(engine.url, tokens["alice"], max_backoff=0.3) as alice:
        await alice.subscribe(lot)
        pending = asyncio.create_task(alice.bid(lot, amount=9_500_000, id="in-flight"))
        await asyncio.sleep(0)
        await alice.abort()
        ack = await pending
        assert ack.ok and ack.id == "in-flight"
        log = await admin.events(lot)
        bids = [e for e in log if (e.get("command") or {}).get("kind") == "bid"]
        assert [b["command"]["id"] for b in bids] == ["in-flight"]
    await admin.close()


async def test_http_bid_and_floor_bid(engine):
    admin, lot, tokens = await setup_sale(engine)
    alice = AuctionClient(engine.url, tokens["alice"])
    ack = await alice.http_bid(lot, amount=9_500_000, id="h1")
    assert ack.ok and ack.price == 9_500_000
    assert await alice.http_bid(lot, amount=9_500_000, id="h1") == ack
    refused = await admin.floor_bid(lot, 9_500_000, "F9")
    assert not refused.ok and refused.reason == "too_low"
    assert (await admin.floor_bid(lot, 9_550_000, "F9")).ok
    lots = await alice.lots(q="camry")
    assert lot in [s["lot"] for s in lots]
    await alice.close()
    await admin.close()


async def test_a_bad_token_is_refused_without_retrying(engine):
    client = AuctionClient(engine.url, "not-a-token")
    with pytest.raises(ClientError) as info:
        await client.connect()
    assert info.value.code == "unauthorized"
    await client.close()


async def test_the_token_travels_as_a_subprotocol_never_in_the_url(engine):
    admin, lot, tokens = await setup_sale(engine, bidders=("tess",))
    async with AuctionClient(engine.url, tokens["tess"]) as tess:
        assert "token" not in tess._ws_url()
        assert tess.welcome.bidder == "tess"
        assert (await tess.bid(lot, amount=9_500_000)).ok
    await admin.close()


async def test_a_token_for_a_bidder_the_engine_does_not_know_is_refused(engine):
    client = AuctionClient(engine.url, TokenSigner(SECRET).issue("bidder", "ghost", "999"))
    with pytest.raises(ClientError) as info:
        await client.connect()
    assert info.value.code == "unknown_bidder"
    await client.close()


async def test_a_suspended_bidder_is_cut_off_and_needs_a_new_token_after_reinstatement(engine):
    admin, lot, tokens = await setup_sale(engine, bidders=("sam",))
    sam = AuctionClient(engine.url, tokens["sam"])
    await sam.connect()
    await admin.suspend("sam")
    assert [b["suspended"] for b in await admin.bidders() if b["bidder"] == "sam"] == [True]
    with pytest.raises(ClientError) as info:
        for _ in range(100):
            await sam.bid(lot, amount=9_500_000, timeout=2)
            await asyncio.sleep(0.05)
    assert info.value.code in ("suspended", "connection_lost")
    await sam.close()
    with pytest.raises(ClientError) as info:
        await admin.mint_token("sam")
    assert info.value.status == 409
    await admin.reinstate("sam")
    minted = await admin.mint_token("sam", ttl_s=600)
    assert minted["ttl_s"] == 600
    stale = AuctionClient(engine.url, tokens["sam"])
    with pytest.raises(ClientError) as info:
        await stale.connect()
    assert info.value.code == "suspended"  # issued before the suspension: refused for good
    await stale.close()
    async with AuctionClient(engine.url, minted["token"]) as again:
        assert (await again.bid(lot, amount=9_500_000)).ok
    await admin.close()


async def test_the_vehicle_stays_in_the_state_after_events(engine):
    admin, lot, tokens = await setup_sale(engine, vehicle={"make": "Toyota", "year": 2019})
    async with AuctionClient(engine.url, tokens["alice"]) as alice:
        await alice.subscribe(lot)
        ack = await alice.bid(lot, amount=9_500_000)
        await alice.wait_state(lot, lambda s: s["seq"] == ack.seq)
        assert alice.state(lot)["vehicle"] == {"make": "Toyota", "year": 2019}
    await admin.close()


async def test_a_conflated_subscription_follows_the_latest_state_without_resyncing_on_its_gaps(engine):
    admin, lot, tokens = await setup_sale(engine, increments=[[0, 100]])
    async with (AuctionClient(engine.url, tokens["alice"]) as alice,
                AuctionClient(engine.url, tokens["bob"]) as bob,
                AuctionClient(engine.url, None) as watcher):
        await watcher.subscribe(lot, conflate_ms=100)
        acks = [await (alice if i % 2 == 0 else bob).bid(lot, amount=9_500_000 + 100 * i) for i in range(30)]
        assert all(a.ok for a in acks)
        frames = await collect(watcher, lot, acks[-1].seq)
        assert seqs(frames) == sorted(set(seqs(frames))) and len(frames) < 30
        assert frames[-1].state["price"] == 9_500_000 + 100 * 29
        assert watcher.stats.gaps == 0  # gaps are what conflation is: no resync from a snapshot


@pytest.mark.parametrize("subprotocol", [JSON, MSGPACK])
async def test_a_delta_subscription_hands_its_reader_the_same_whole_states_as_the_full_feed(engine, subprotocol):
    admin, lot, tokens = await setup_sale(engine, increments=[[0, 100]])
    async with (AuctionClient(engine.url, tokens["alice"], subprotocol=subprotocol, max_backoff=0.3) as alice,
                AuctionClient(engine.url, tokens["bob"]) as bob,
                AuctionClient(engine.url, None) as full):
        mine = await alice.subscribe(lot, delta=True)
        await full.subscribe(lot)
        assert mine.state["your_max"] is None  # the bidder's own view, which no event carries
        acks = [await (alice if i % 2 == 0 else bob).bid(lot, amount=9_500_000 + 100 * i) for i in range(10)]
        await alice.abort()  # the resume replays whole events, then deltas again
        acks += [await (alice if i % 2 == 0 else bob).bid(lot, amount=9_501_000 + 100 * i) for i in range(10)]
        assert all(a.ok for a in acks)
        got = await collect(alice, lot, acks[-1].seq)
        want = await collect(full, lot, acks[-1].seq)
        assert [(f.seq, dict(f.state)) for f in got if isinstance(f, Event)] == [
            (f.seq, dict(f.state)) for f in want if isinstance(f, Event)]
        assert any(isinstance(f, Event) and f.changed is not None for f in got)  # deltas arrived, were rebuilt
        assert alice.stats.gaps == 0 and alice.stats.reconnects == 1
        assert alice.state(lot)["price"] == 9_501_900 and "your_max" not in alice.state(lot)
    await admin.close()
