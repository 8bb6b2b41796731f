"""Damaged data at start: a lot whose log lost entries or had one changed is quarantined
(listed in /healthz, its bids refused `unavailable`) while the other lots run; a database that
lost the lots Redis holds stops the engine with one message, and leaves no redis-server behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from auction_engine.stream import log_key, snap_key

from ..conftest import EngineProcess
from .helpers import api, new_lot


@pytest.fixture
def engine(tmp_path: Path, redis_url: str):
    """Snapshots (and so recorded heads) every 2 entries."""
    proc = EngineProcess(tmp_path, redis_url, env_extra={"AUCTION_SNAPSHOT_EVERY": "2"}).start()
    yield proc
    proc.stop()


async def _sale(engine: EngineProcess, bids: int = 4) -> list[str]:
    """Two lots with `bids` accepted bids each; returns their ids."""
    async with api(engine) as client:
        for bidder, paddle in (("A", "1"), ("B", "2")):
            assert (await client.post("/api/bidders", json={"bidder": bidder, "paddle": paddle})).status_code == 201
    lots = [(await new_lot(engine, increments=[[0, 100]]))["lot"] for _ in range(2)]
    for lot in lots:
        for n in range(bids):
            answer = await _bid(engine, "AB"[n % 2], lot, f"{lot}-{n}", 5000 + 100 * n)
            assert answer.status_code == 200, answer.text
    return lots


async def _bid(engine: EngineProcess, bidder: str, lot: str, bid_id: str, amount: int) -> httpx.Response:
    async with api(engine, "bidder", bidder) as client:
        return await client.post(f"/api/lots/{lot}/bids", json={"id": bid_id, "amount": amount})


def _entries(client: redis.Redis, lot: str) -> list[tuple[bytes, dict[bytes, Any]]]:
    return client.xrange(log_key(lot))


def _rewrite(client: redis.Redis, lot: str, entries: list[tuple[bytes, dict[bytes, Any]]]) -> None:
    """Replace the lot's stream and drop its snapshot, as a damaged AOF leaves them."""
    client.delete(log_key(lot), snap_key(lot))
    for stream_id, fields in entries:
        client.xadd(log_key(lot), fields, id=stream_id)


async def _health(engine: EngineProcess) -> dict[str, Any]:
    async with api(engine, "watcher") as client:
        response = await client.get("/healthz")
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_log_cut_short_of_its_recorded_head_is_quarantined_and_the_other_lots_still_take_bids(engine) -> None:
    damaged, healthy = await _sale(engine)
    engine.stop()
    client = redis.Redis.from_url(engine.redis_url)
    _rewrite(client, damaged, _entries(client, damaged)[:-2])
    engine.start()

    health = await _health(engine)
    assert list(health["quarantined"]) == [damaged]
    assert "missing" in health["quarantined"][damaged]
    refused = await _bid(engine, "B", damaged, "late", 9000)
    assert refused.status_code == 503 and "unavailable" in refused.text
    async with api(engine, "auditor") as client:  # read-only: the log that is left can still be audited
        history = (await client.get(f"/api/lots/{damaged}/events")).json()
    assert [e["seq"] for e in history["events"]] == [1, 2, 3, 4]  # created, opened, 2 of the 4 bids
    assert (await _bid(engine, "A", healthy, "late", 9000)).status_code == 200
    log = next(engine.data_dir.glob("engine-*.log")).read_text()
    assert f"lot {damaged} is QUARANTINED" in log


async def test_one_changed_byte_in_a_lot_log_quarantines_that_lot_only(engine) -> None:
    damaged, healthy = await _sale(engine)
    engine.stop()
    client = redis.Redis.from_url(engine.redis_url)
    entries = _entries(client, damaged)
    stream_id, fields = entries[1]
    entry = bytearray(fields[b"e"])
    entry[-1] ^= 0x01
    entries[1] = (stream_id, {**fields, b"e": bytes(entry)})
    _rewrite(client, damaged, entries)
    engine.start()

    assert list((await _health(engine))["quarantined"]) == [damaged]
    assert "unavailable" in (await _bid(engine, "A", damaged, "late", 9000)).text
    assert (await _bid(engine, "A", healthy, "late", 9100)).status_code == 200
    async with api(engine) as client_http:
        again = {"lot": damaged, "title": "x", "start_price": 1, "duration_s": 60}
        assert (await client_http.post("/api/lots", json=again)).status_code == 409


async def test_an_emptied_redis_quarantines_every_lot_it_lost(engine) -> None:
    lots = await _sale(engine)
    engine.stop()
    redis.Redis.from_url(engine.redis_url).flushall()
    engine.start()
    assert sorted((await _health(engine))["quarantined"]) == sorted(lots)


def test_a_deleted_database_stops_the_engine_with_one_message_and_no_redis_left_behind(tmp_path: Path) -> None:
    import asyncio

    first = EngineProcess(tmp_path, None).start()
    asyncio.run(_sale(first, bids=2))
    first.stop()
    for name in ("auction.db", "auction.db-wal", "auction.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    with pytest.raises(RuntimeError, match="engine exited") as exc:
        EngineProcess(tmp_path, None).start()
    assert "refusing to start: Redis holds 2 lots but the database" in str(exc.value)
    assert "is new" in str(exc.value) and "Damaged data" in str(exc.value)
    assert not _redis_servers_of(tmp_path)


def _redis_servers_of(data_dir: Path) -> list[int]:
    """Live redis-server processes started with a config file in `data_dir`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"redis-server" in cmdline and str(data_dir).encode() in cmdline:
            found.append(int(proc.name))
    return found
