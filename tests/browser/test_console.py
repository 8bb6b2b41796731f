"""The auctioneer console in headless chromium against the real engine, with a bidder room open."""

import re
import time

import pytest
from playwright.async_api import expect

from clients.client import AuctionClient

from .support import make_lot, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
require_chromium()


async def test_console_runs_a_live_lot_and_the_room_shows_the_hammer(engine, admin, new_page):
    console = await new_page(f"{engine.url}/console?token={engine.auctioneer_token}", height=1400)
    await expect(console.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")

    await console.get_by_test_id("bidder-id").fill("bob")
    await console.get_by_test_id("bidder-paddle").fill("88")
    await console.get_by_test_id("bidder-credit").fill("500,000")
    await console.get_by_test_id("register-button").click()
    bob_row = console.locator('[data-testid=bidder-row][data-bidder="bob"]')
    await expect(bob_row).to_contain_text("¥500,000")
    await bob_row.get_by_test_id("mint-token").click()
    bob = await bob_row.get_by_test_id("bidder-token").inner_text()
    alice = (await admin.register_bidder("alice", "77"))["token"]

    await console.get_by_test_id("lot-title-input").fill("BMW 3 Series 325Li M Sport 2020")
    await console.get_by_test_id("vehicle-make").fill("BMW")
    await console.get_by_test_id("vehicle-year").fill("2020")
    await console.get_by_test_id("vehicle-grade").fill("4")
    await console.get_by_test_id("lot-mode-input").select_option("live")
    await console.get_by_test_id("lot-start-price").fill("210000")
    await console.get_by_test_id("lot-reserve").fill("200000")
    await console.get_by_test_id("create-lot-button").click()
    await expect(console.get_by_test_id("selected-status")).to_contain_text("open")
    lot = await console.get_by_test_id("selected-lot-id").inner_text()
    await expect(console.get_by_test_id("reserve")).to_have_text("¥200,000 (not met)")

    room = await new_page(f"{engine.url}/?token={alice}#lot={lot}")
    await expect(room.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    await expect(room.get_by_test_id("countdown")).to_have_text("Live: the auctioneer closes")

    async with AuctionClient(engine.url, bob) as client:
        assert (await client.bid(lot, amount=21_000_000)).ok
    await expect(console.get_by_test_id("feed-row")).to_have_count(1)
    await expect(console.get_by_test_id("feed-row").first).to_contain_text("paddle 88 bid ¥210,000")
    await expect(console.get_by_test_id("reserve")).to_have_text("¥200,000 (met)")

    await console.get_by_test_id("floor-amount").fill("215000")
    await console.get_by_test_id("floor-paddle").fill("F1")
    await console.get_by_test_id("floor-button").click()
    await expect(console.get_by_test_id("selected-message")).to_contain_text("Floor bid accepted")
    await expect(room.get_by_test_id("leader")).to_have_text("Paddle F1")
    await room.get_by_test_id("quick-bid-next").click()
    await room.get_by_test_id("confirm-bid-yes").click()  # every bid asks first (issue 13 item 2)
    await expect(room.get_by_test_id("bid-status")).to_have_text("You are leading")
    await expect(console.get_by_test_id("feed-row")).to_have_count(3)

    await console.get_by_test_id("action-fair_warning").click()
    await expect(room.get_by_test_id("lot-status")).to_have_text("Fair warning!")
    await expect(room.get_by_test_id("countdown")).to_have_text(re.compile(r"^0:(0\d|10)$"))
    await console.get_by_test_id("action-close").click()
    await console.get_by_test_id("confirm-action-yes").click()  # the hammer asks first (issue 13 item 3)

    await expect(room.get_by_test_id("result")).to_have_text("Sold: ¥216,000 to paddle 77")
    await expect(room.get_by_test_id("bid-status")).to_have_text("You won at ¥216,000")
    await expect(console.get_by_test_id("selected-result")).to_have_text("Sold at ¥216,000")
    settlement = console.locator(f'[data-testid=settlement-row][data-lot="{lot}"]')
    await expect(settlement).to_contain_text("¥216,000")
    await expect(settlement).to_contain_text("alice")

    await settlement.get_by_test_id("mark-paid").click()  # who marks it is recorded: a name first
    await expect(console.get_by_test_id("console-error")).to_contain_text("enter your name")
    await console.get_by_test_id("paid-by").fill("clerk Li")
    await settlement.get_by_test_id("mark-paid").click()
    await expect(settlement.get_by_test_id("mark-paid")).to_have_count(0)
    await expect(settlement.get_by_test_id("settlement-paid")).to_contain_text(str(time.localtime().tm_year))
    record = (await admin.http.get(f"/api/settlements/{lot}")).json()
    assert [h["by"] for h in record["history"] if h["kind"] == "marked_paid"] == ["clerk Li"]
    assert console.errors == [] and room.errors == []


async def test_console_shows_server_errors_with_the_field(engine, new_page):
    console = await new_page(f"{engine.url}/console?token={engine.auctioneer_token}", height=1400)
    await expect(console.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    await console.get_by_test_id("lot-title-input").fill("Volkswagen Lavida 2020")
    await console.get_by_test_id("lot-start-price").fill("52000")
    await console.get_by_test_id("lot-reserve").fill("80000")
    await console.get_by_test_id("lot-buy-now").fill("72000")
    await console.get_by_test_id("create-lot-button").click()
    error = console.get_by_test_id("console-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("invalid_spec")
    await expect(console.locator(".invalid")).to_have_count(1)


async def test_the_room_link_signs_the_bidder_in(engine, new_page):
    console = await new_page(f"{engine.url}/console?token={engine.auctioneer_token}")
    await console.get_by_test_id("bidder-id").fill("carol")
    await console.get_by_test_id("bidder-paddle").fill("303")
    await console.get_by_test_id("register-button").click()
    carol = console.locator('[data-testid=bidder-row][data-bidder="carol"]')
    await expect(carol.get_by_test_id("room-link")).to_have_count(0)  # the list carries no token
    await carol.get_by_test_id("mint-token").click()
    room = await new_page(await carol.get_by_test_id("room-link").get_attribute("href"))
    await expect(room.get_by_test_id("who")).to_have_text("Bidder carol · paddle 303")
    assert "token" not in room.url  # taken out of the address bar once remembered
    await room.reload()  # the token is remembered
    await expect(room.get_by_test_id("who")).to_have_text("Bidder carol · paddle 303")


async def test_suspending_a_bidder_turns_its_open_room_into_a_watcher(engine, new_page):
    console = await new_page(f"{engine.url}/console?token={engine.auctioneer_token}")
    await console.get_by_test_id("bidder-id").fill("dave")
    await console.get_by_test_id("bidder-paddle").fill("404")
    await console.get_by_test_id("register-button").click()
    dave = console.locator('[data-testid=bidder-row][data-bidder="dave"]')
    await dave.get_by_test_id("mint-token").click()
    room = await new_page(await dave.get_by_test_id("room-link").get_attribute("href"))
    await expect(room.get_by_test_id("who")).to_have_text("Bidder dave · paddle 404")

    await dave.get_by_test_id("suspend-bidder").click()
    await expect(dave.get_by_test_id("bidder-status")).to_have_text("suspended")
    await expect(dave.get_by_test_id("mint-token")).to_be_disabled()
    await expect(room.get_by_test_id("who")).to_contain_text("suspended: watching only")
    await expect(room.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")

    await dave.get_by_test_id("reinstate-bidder").click()
    await expect(dave.get_by_test_id("bidder-status")).to_have_text("active")
    await dave.get_by_test_id("mint-token").click()
    await room.goto(await dave.get_by_test_id("room-link").get_attribute("href"))
    await expect(room.get_by_test_id("who")).to_have_text("Bidder dave · paddle 404")
    assert console.errors == [] and room.errors == []


async def test_the_clerk_retracts_sets_asking_and_reopens_and_the_room_shows_each_correction(engine, admin, new_page):
    lot = (await make_lot(admin, mode="live", duration_s=None, title="Nissan Sylphy 2020"))["lot"]
    alice = (await admin.register_bidder("alice", "77"))["token"]
    bob = (await admin.register_bidder("bob", "88"))["token"]
    console = await new_page(f"{engine.url}/console?token={engine.auctioneer_token}", height=1600)
    await expect(console.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    room = await new_page(f"{engine.url}/?token={alice}#lot={lot}")
    await expect(room.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    async with AuctionClient(engine.url, alice) as a, AuctionClient(engine.url, bob) as b:
        assert (await a.bid(lot, amount=13_500_000)).ok
        assert (await b.bid(lot, amount=13_600_000)).ok
    await console.locator(f'[data-testid=lot-row][data-lot="{lot}"]').click()
    await expect(console.get_by_test_id("selected-leader")).to_have_text("Paddle 88")

    await console.get_by_test_id("retract-reason").fill("paddle 88 bid by mistake")
    await console.get_by_test_id("action-retract_last").click()
    await console.get_by_test_id("confirm-action-yes").click()
    await expect(console.get_by_test_id("selected-leader")).to_have_text("Paddle 77")
    retracted = "correction: last bid retracted (paddle 88 bid by mistake)"
    await expect(console.get_by_test_id("feed-row").first).to_contain_text(retracted)
    banner = room.get_by_test_id("correction-banner")
    await expect(banner).to_contain_text("Correction: the last bid was taken back (paddle 88 bid by mistake)")
    await expect(room.get_by_test_id("bid-status")).to_have_text("You are leading")
    correction = room.locator('[data-testid=history-row][data-kind="correction"]')
    await expect(correction).to_contain_text("taken back")

    await console.get_by_test_id("correction-amount").fill("140000")
    await console.get_by_test_id("action-asking").click()
    await expect(room.get_by_test_id("next-min")).to_have_text("¥140,000")
    await expect(room.get_by_test_id("correction-banner")).to_contain_text("The auctioneer asks ¥140,000")

    await console.get_by_test_id("action-close").click()
    await console.get_by_test_id("confirm-action-yes").click()
    await expect(room.get_by_test_id("bid-status")).to_have_text("You won at ¥135,000")
    await console.get_by_test_id("action-reopen").click()  # within 60 s of the hammer
    await console.get_by_test_id("confirm-action-yes").click()
    await expect(console.get_by_test_id("selected-status")).to_contain_text("open")
    await expect(room.get_by_test_id("correction-banner")).to_contain_text("Correction: the auctioneer reopened the lot")
    await expect(room.get_by_test_id("bid-status")).to_have_text("You are leading")
    assert console.errors == [] and room.errors == []
