"""The console's run list and forms as an auctioneer needs them (issue 13 items 3, 8, 17): every row
live, the hammer and withdraw confirmed, rows reached by keyboard, nothing usable without a token,
every bad field named at once. Each test failed before its fix."""

import pytest
from playwright.async_api import expect

from clients.client import AuctionClient

from .support import make_lot, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
require_chromium()


async def test_every_row_is_live_the_hammer_asks_and_rows_take_the_keyboard(engine, admin, new_page):
    first = (await make_lot(admin, title="Audi A4L 2020"))["lot"]
    second = (await make_lot(admin, title="Nissan Sylphy 2021"))["lot"]
    bob = (await admin.register_bidder("bob", "88"))["token"]
    console = await new_page(f"{engine.url}/console?token={engine.auctioneer_token}", height=1400)
    await expect(console.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    rows = console.get_by_test_id("lot-row")
    await expect(rows).to_have_count(2)
    await console.locator(f'[data-testid=lot-row][data-lot="{first}"]').click()
    await expect(console.get_by_test_id("selected-title")).to_have_text("Audi A4L 2020")

    async with AuctionClient(engine.url, bob) as client:  # a bid on the row that is NOT selected
        assert (await client.bid(second, amount=13_500_000)).ok
    await expect(console.locator(f'[data-testid=lot-row][data-lot="{second}"]')).to_contain_text("¥135,000")

    await console.locator(f'[data-testid=lot-row][data-lot="{second}"]').focus()
    await console.keyboard.press("Enter")
    await expect(console.get_by_test_id("selected-title")).to_have_text("Nissan Sylphy 2021")

    await console.get_by_test_id("action-close").click()
    await expect(console.get_by_test_id("confirm-action-text")).to_have_text(
        f"Hammer lot {second} (Nissan Sylphy 2021) now at ¥135,000 to paddle 88?")
    await console.get_by_test_id("confirm-action-no").click()
    await expect(console.get_by_test_id("selected-message")).to_have_text("close: cancelled")
    assert (await admin.lot(second))["status"] == "open"
    await console.get_by_test_id("action-withdraw").click()
    await console.get_by_test_id("confirm-action-yes").click()
    await expect(console.get_by_test_id("selected-result")).to_have_text("Withdrawn")
    assert console.errors == []


async def test_without_a_token_the_console_forms_are_not_usable(engine, new_page):
    console = await new_page(f"{engine.url}/console")
    await expect(console.get_by_test_id("console-error")).to_contain_text("Open the console with ?token=")
    for testid in ("create-lot-button", "register-button", "lot-title-input", "bidder-id"):
        await expect(console.get_by_test_id(testid)).to_be_disabled()
    await expect(console.get_by_test_id("token-input")).to_be_enabled()


async def test_the_lot_form_names_every_bad_field_at_once(engine, new_page):
    console = await new_page(f"{engine.url}/console?token={engine.auctioneer_token}", height=1400)
    await expect(console.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    await console.get_by_test_id("lot-start-price").fill("abc")
    await console.get_by_test_id("lot-reserve").fill("-5")
    await console.get_by_test_id("create-lot-button").click()
    error = console.get_by_test_id("console-error")
    for field in ("start_price", "reserve", "title"):
        await expect(error).to_contain_text(field)
    await expect(console.locator(".invalid")).to_have_count(3)
