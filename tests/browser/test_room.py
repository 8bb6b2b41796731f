"""The bidder room in headless chromium against the real engine."""

import json
import re
import time

import jwt
import pytest
from playwright.async_api import expect

from clients.client import AuctionClient

from ..conftest import SECRET
from .support import make_lot, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
require_chromium()


async def bidders(admin, *names):
    tokens = []
    for i, name in enumerate(names):
        tokens.append((await admin.register_bidder(name, str(101 + i)))["token"])
    return tokens


async def connected(page):
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")


async def confirm(page):
    """Every bid asks first (issue 13 item 2): lot, amount, premium, total."""
    await expect(page.get_by_test_id("confirm-dialog")).to_be_visible()
    await page.get_by_test_id("confirm-bid-yes").click()


async def test_room_updates_when_another_client_bids(engine, admin, new_page):
    lot = (await make_lot(admin))["lot"]
    alice, bob = await bidders(admin, "alice", "bob")
    detail = await new_page(f"{engine.url}/?token={alice}#lot={lot}")
    catalogue = await new_page(f"{engine.url}/")  # a watcher without a token
    await connected(detail)
    await connected(catalogue)
    price = detail.get_by_test_id("price")
    await expect(price).to_have_text("¥135,000")
    card = catalogue.locator(f'[data-testid=lot-card][data-lot="{lot}"]')
    await expect(card.get_by_test_id("card-price")).to_have_text("from ¥135,000")

    async with AuctionClient(engine.url, bob) as client:
        ack = await client.bid(lot, amount=13_600_000)
    assert ack.ok

    await expect(price).to_have_text("¥136,000")
    await expect(detail.get_by_test_id("leader")).to_have_text("Paddle 102")
    await expect(detail.get_by_test_id("bid-count")).to_have_text("1")
    await expect(detail.get_by_test_id("next-min")).to_have_text("¥137,000")
    await expect(detail.get_by_test_id("bid-status")).to_have_text("No bids from you yet")
    await expect(card.get_by_test_id("card-price")).to_have_text("¥136,000")

    async with AuctionClient(engine.url, alice) as client:  # the next event reaches the open lot as a delta
        assert (await client.bid(lot, amount=13_800_000)).ok
    await expect(price).to_have_text("¥138,000")
    await expect(detail.get_by_test_id("leader")).to_have_text("Paddle 101 (you)")
    await expect(detail.get_by_test_id("bid-count")).to_have_text("2")
    await expect(detail.get_by_test_id("next-min")).to_have_text("¥139,000")
    sent = [json.loads(p) for way, p in detail.ws_frames if way == "sent"]
    got = [json.loads(p) for way, p in detail.ws_frames if way == "received"]
    assert {"type": "subscribe", "lot": lot, "delta": True} in sent  # the open lot: every event, as deltas
    deltas = [(f["seq"], f["changed"]["price"]) for f in got if f["type"] == "event" and "changed" in f]
    assert deltas == [(ack.seq + 1, 13_800_000)]
    assert {"type": "subscribe", "lot": lot, "conflate_ms": 100} in [
        json.loads(p) for way, p in catalogue.ws_frames if way == "sent"]  # the catalogue's lots: conflated
    assert detail.errors == [] and catalogue.errors == []


async def test_a_bid_placed_through_the_page_is_acked_and_shown(engine, admin, new_page):
    lot = (await make_lot(admin))["lot"]
    alice, bob = await bidders(admin, "alice", "bob")
    page = await new_page(f"{engine.url}/?token={alice}#lot={lot}")
    await connected(page)
    await expect(page.get_by_test_id("who")).to_contain_text("paddle 101")
    status = page.get_by_test_id("bid-status")

    await page.get_by_test_id("quick-bid-next").click()
    await confirm(page)
    await expect(page.get_by_test_id("bid-message")).to_contain_text("Accepted")
    await expect(status).to_have_text("You are leading")
    await expect(status).to_have_attribute("data-state", "leading")
    assert (await admin.lot(lot))["leader"] == "101"

    async with AuctionClient(engine.url, bob) as client:
        assert (await client.bid(lot, amount=13_600_000)).ok
    await expect(status).to_have_text("Outbid")
    await expect(page.get_by_test_id("bid-message")).to_contain_text("Outbid")

    await page.get_by_test_id("bid-amount").fill("¥138,000.50")
    await page.get_by_test_id("bid-button").click()
    await confirm(page)
    await expect(page.get_by_test_id("price")).to_have_text("¥138,000.50")
    await expect(status).to_have_text("You are leading")
    assert (await admin.lot(lot))["price"] == 13_800_050

    await page.get_by_test_id("proxy-max").fill("150000")
    await page.get_by_test_id("proxy-button").click()
    await confirm(page)
    await expect(page.get_by_test_id("your-max")).to_have_text("¥150,000")
    await expect(page.get_by_test_id("price")).to_have_text("¥138,000.50")

    await page.get_by_test_id("bid-amount").fill("100")
    await page.get_by_test_id("bid-button").click()
    await confirm(page)
    await expect(page.get_by_test_id("bid-message")).to_contain_text("Refused")
    await expect(page.get_by_test_id("vehicle")).to_contain_text("CR-V 240TURBO")  # after 4 events
    await expect(page.get_by_test_id("inspection-grade")).to_have_text("A-")
    assert page.errors == []


async def test_the_countdown_shows_an_anti_snipe_extension(engine, admin, new_page):
    lot = (await make_lot(admin, open_now=False, duration_s=8,
                          anti_snipe={"window_s": 6, "extend_s": 12}))["lot"]
    alice, bob = await bidders(admin, "alice", "bob")
    page = await new_page(f"{engine.url}/?token={alice}#lot={lot}")
    await connected(page)
    await expect(page.get_by_test_id("lot-status")).to_have_text("scheduled")
    await admin.action(lot, "open")
    countdown = page.get_by_test_id("countdown")
    await expect(page.get_by_test_id("extensions")).to_have_text("0")
    await expect(countdown).to_have_text(re.compile(r"^0:0[1-5]$"))  # inside the 6 s window

    async with AuctionClient(engine.url, bob) as client:
        assert (await client.bid(lot, amount=13_500_000)).ok

    await expect(page.get_by_test_id("extension-flash")).to_have_text(re.compile(r"^\+0:0\d extended \(1\)$"))
    await expect(page.get_by_test_id("extensions")).to_have_text("1")
    # 12 s from the bid, less however long the page took to show it (seconds on a loaded machine)
    await expect(countdown).to_have_text(re.compile(r"^0:(0[3-9]|1[0-2])$"))
    await expect(page.get_by_test_id("result")).to_have_text("Sold: ¥135,000 to paddle 102", timeout=20_000)
    await expect(countdown).to_have_text("Closed")
    assert page.errors == []


async def test_the_room_resumes_after_the_engine_restarts(engine, admin, new_page):
    lot = (await make_lot(admin))["lot"]
    alice, bob = await bidders(admin, "alice", "bob")
    page = await new_page(f"{engine.url}/?token={alice}#lot={lot}")
    await connected(page)
    engine.kill()
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "reconnecting")
    engine.start()
    await connected(page)
    async with AuctionClient(engine.url, bob) as client:
        assert (await client.bid(lot, amount=14_000_000)).ok
    await expect(page.get_by_test_id("price")).to_have_text("¥140,000")
    await expect(page.get_by_test_id("leader")).to_have_text("Paddle 102")


async def test_the_room_is_usable_at_375_px(engine, admin, new_page):
    lot = (await make_lot(admin, buy_now=16_000_000, reserve=15_000_000))["lot"]
    (alice,) = await bidders(admin, "alice")
    page = await new_page(f"{engine.url}/?token={alice}#lot={lot}", width=375, height=740)
    await connected(page)
    await expect(page.get_by_test_id("reserve-met")).to_have_text("Reserve not met")
    buy_now = page.get_by_test_id("buy-now")
    await expect(buy_now).to_have_text("Buy now for ¥160,000")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    for testid in ("price", "countdown", "bid-button", "bid-amount", "quick-bid-next"):
        box = await page.get_by_test_id(testid).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375, testid
    await buy_now.click()
    await confirm(page)
    await expect(page.get_by_test_id("result")).to_have_text("Sold: ¥160,000 to paddle 101")
    await expect(page.get_by_test_id("bid-status")).to_have_text("You won at ¥160,000")
    await expect(page.get_by_test_id("inspection-grade")).to_have_text("A-")


async def test_catalogue_filters_and_sorts(engine, admin, new_page):
    await make_lot(admin, title="BYD Qin PLUS DM-i 2022", start_price=6_800_000,
                   vehicle={"make": "BYD", "model": "Qin PLUS DM-i", "year": 2022})
    await make_lot(admin, title="Toyota Camry 2.0G 2019", start_price=9_500_000,
                   vehicle={"make": "Toyota", "model": "Camry", "year": 2019})
    await make_lot(admin, title="Tesla Model 3 2021", start_price=16_000_000,
                   vehicle={"make": "Tesla", "model": "Model 3", "year": 2021})
    page = await new_page(f"{engine.url}/")
    cards = page.get_by_test_id("lot-card")
    await expect(cards).to_have_count(3)
    await page.get_by_test_id("sort").select_option("-price")
    await expect(cards.first.locator("h3")).to_have_text("Tesla Model 3 2021")
    await page.get_by_test_id("filter-price-max").fill("100,000")
    await expect(cards).to_have_count(2)
    await expect(cards.first.locator("h3")).to_have_text("Toyota Camry 2.0G 2019")
    await page.get_by_test_id("filter-make").select_option("BYD")
    await expect(cards).to_have_count(1)
    await page.get_by_test_id("filter-price-max").fill("")
    await page.get_by_test_id("filter-make").select_option("")
    await page.get_by_test_id("filter-year-min").fill("2021")
    await page.get_by_test_id("filter-year-min").dispatch_event("change")
    await expect(cards).to_have_count(2)
    await page.get_by_test_id("filter-q").fill("camry")
    await page.get_by_test_id("filter-year-min").fill("")
    await page.get_by_test_id("filter-year-min").dispatch_event("change")
    await expect(cards).to_have_count(1)
    await cards.first.click()
    await expect(page.get_by_test_id("lot-title")).to_have_text("Toyota Camry 2.0G 2019")
    await expect(page.get_by_test_id("bid-hint")).to_be_visible()


async def test_the_token_box_signs_in_and_a_bad_token_is_reported(engine, admin, new_page):
    lot = (await make_lot(admin))["lot"]
    (alice,) = await bidders(admin, "alice")
    page = await new_page(f"{engine.url}/#lot={lot}")
    await connected(page)
    await expect(page.get_by_test_id("who")).to_have_text("Watching as watcher")
    await expect(page.get_by_test_id("bid-hint")).to_be_visible()
    await expect(page.get_by_test_id("bid-button")).to_be_disabled()

    await page.locator("#token-box summary").click()
    await page.get_by_test_id("token-input").fill(alice)
    await page.get_by_test_id("token-save").click()
    await expect(page.get_by_test_id("who")).to_have_text("Bidder alice · paddle 101")
    await expect(page.get_by_test_id("bid-button")).to_be_enabled()

    await page.locator("#token-box summary").click()
    await page.get_by_test_id("token-input").fill("not-a-token")
    await page.get_by_test_id("token-save").click()
    await expect(page.get_by_test_id("who")).to_contain_text("token rejected: watching only")
    await connected(page)  # back live, as a watcher
    await expect(page.get_by_test_id("bid-hint")).to_be_visible()


async def test_an_expired_saved_token_falls_back_to_watching_and_is_forgotten(engine, admin, new_page):
    lot = (await make_lot(admin))["lot"]
    await bidders(admin, "alice")
    now = int(time.time())
    expired = jwt.encode({"role": "bidder", "sub": "alice", "paddle": "101", "iat": now - 7200, "exp": now - 60,
                          "jti": "expired"}, SECRET, algorithm="HS256")
    page = await new_page(f"{engine.url}/?token={expired}#lot={lot}")
    await expect(page.get_by_test_id("who")).to_contain_text("Sign-in expired")
    await connected(page)
    await expect(page.get_by_test_id("lot-title")).to_be_visible()
    await expect(page.get_by_test_id("bid-hint")).to_be_visible()
    await page.reload()
    await expect(page.get_by_test_id("who")).to_have_text("Watching as watcher")


async def test_sealed_and_dutch_lots(engine, admin, new_page):
    sealed = (await make_lot(admin, format="sealed_second", start_price=11_800_000))["lot"]
    dutch = (await make_lot(admin, format="dutch", start_price=8_500_000,
                            dutch={"step": 100_000, "tick_s": 1, "floor": 6_000_000}))["lot"]
    (alice,) = await bidders(admin, "alice")
    page = await new_page(f"{engine.url}/?token={alice}#lot={sealed}")
    await connected(page)
    await expect(page.get_by_test_id("price")).to_have_text("0 bids")
    await expect(page.get_by_test_id("proxy-max")).to_be_hidden()
    await page.get_by_test_id("bid-amount").fill("125000")
    await page.get_by_test_id("bid-button").click()
    await confirm(page)
    await expect(page.get_by_test_id("bid-status")).to_have_text("Your sealed bid is in")
    await expect(page.get_by_test_id("price")).to_have_text("1 bid")
    await expect(page.get_by_test_id("leader")).to_have_text("—")

    await page.goto(f"{engine.url}/#lot={dutch}")
    take = page.get_by_test_id("quick-bid-next")
    await expect(take).to_have_text(re.compile(r"^Take at ¥8\d,000$"))
    first = await page.get_by_test_id("price").inner_text()
    await expect(page.get_by_test_id("price")).not_to_have_text(first, timeout=3000)  # falling
    await take.click()
    await confirm(page)
    await expect(page.get_by_test_id("result")).to_have_text(re.compile(r"^Sold: ¥8\d,000 to paddle 101$"))
    assert page.errors == []
