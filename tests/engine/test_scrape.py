"""What `/metrics` measures at scrape time (`scrape.py`), through a real engine whose escrow does
not answer: the Redis round trip is a measured value under its one-second bound, and a sold lot's
undelivered hand-off shows in the outbox backlog and the age of its oldest row."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from auction_engine.redis_server import free_port

from ..conftest import METRICS_AUTH, EngineProcess
from .helpers import api, new_lot

ESCROW_SECRET = "escrow-secret-for-scrape-0123456789ab"


@pytest.fixture
def escrow_unreachable(tmp_path: Path, redis_url: str) -> Iterator[EngineProcess]:
    nobody = f"http://127.0.0.1:{free_port()}/settlements"  # a port nothing listens on
    proc = EngineProcess(tmp_path, redis_url, env_extra={
        "ESCROW_URL": nobody, "ESCROW_SECRET": ESCROW_SECRET, "AUCTION_ESCROW_RETRY_BASE_S": "5",
    }).start()
    yield proc
    proc.stop()


def scrape(engine: EngineProcess) -> dict[str, float]:
    text = httpx.get(f"{engine.url}/metrics", headers=METRICS_AUTH, timeout=10).text
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}


async def test_the_redis_round_trip_and_an_undelivered_hand_off_are_measured_at_scrape_time(
        escrow_unreachable: EngineProcess) -> None:
    engine = escrow_unreachable
    before = scrape(engine)
    assert 0 < before["auction_redis_rtt_seconds"] < 1.0  # 1.0 would be the bound: no answer
    assert before["auction_outbox_pending"] == 0 and before["auction_outbox_oldest_seconds"] == 0
    lot = (await new_lot(engine))["lot"]
    async with api(engine, "bidder", "S1") as bidder:
        assert (await bidder.post(f"/api/lots/{lot}/bids", json={"id": "s1", "amount": 5000})).status_code == 200
    async with api(engine) as staff:
        assert (await staff.post(f"/api/lots/{lot}/close")).status_code == 200
    for _ in range(50):
        after = scrape(engine)
        if after["auction_outbox_pending"] >= 1:
            break
        await asyncio.sleep(0.1)
    assert after["auction_outbox_pending"] == 1
    await asyncio.sleep(0.5)
    later = scrape(engine)
    assert later["auction_outbox_pending"] == 1
    assert later["auction_outbox_oldest_seconds"] >= after["auction_outbox_oldest_seconds"] + 0.4  # it ages


async def test_scrapes_in_a_loop_make_the_text_once_a_second_not_once_each(tmp_path: Path, redis_url: str) -> None:
    """A scrape costs the engine's loop a render, a Redis round trip and a SQL query; whoever reaches
    the port may scrape in a loop. The shipped default makes the text at most once a second: thirty
    scrapes at once get one text, and the next second's scrape a new one."""
    engine = EngineProcess(tmp_path, redis_url, env_extra={"AUCTION_METRICS_EVERY_S": "1"}).start()
    try:
        async with httpx.AsyncClient(base_url=engine.url, headers=METRICS_AUTH, timeout=10) as client:
            await client.get("/metrics")
            await asyncio.sleep(1.1)  # past the last text's second
            texts = {(await reply).text for reply in [asyncio.ensure_future(client.get("/metrics")) for _ in range(30)]}
            assert len(texts) == 1, "thirty scrapes inside a second share one text"
            made = {s.name: s.value for f in text_string_to_metric_families(texts.pop()) for s in f.samples}
            await asyncio.sleep(1.1)
            later = {s.name: s.value for f in text_string_to_metric_families((await client.get("/metrics")).text)
                     for s in f.samples}
        assert later["auction_metrics_expositions_total"] == made["auction_metrics_expositions_total"] + 1
    finally:
        engine.stop()
