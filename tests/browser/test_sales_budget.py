"""A sale made in the console and a budget set in the room (docs/rules.md "Sales", "Budgets"),
in headless chromium against the real engine: the console lists the lots' end times one stagger
apart; the room offers a budget on a lot of the sale, and a maximum past it is placed capped."""

import re

import pytest
from playwright.async_api import expect

from .support import make_lot, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
require_chromium()


async def test_the_console_makes_a_sale_and_the_room_caps_a_maximum_at_the_budget(engine, admin, new_page):
    lots = [(await make_lot(admin, open_now=False))["lot"] for _ in range(2)]
    console = await new_page(f"{engine.url}/console?token={engine.auctioneer_token}", height=1600)
    await expect(console.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    await console.get_by_test_id("sale-id").fill("SALE-B1")
    await console.get_by_test_id("sale-lots").fill(", ".join(lots))
    await console.get_by_test_id("sale-stagger").fill("45")
    await console.get_by_test_id("create-sale-button").click()
    ends = console.get_by_test_id("sale-end")
    await expect(ends).to_have_count(2)
    await expect(ends.first).to_contain_text(f"{lots[0]} ends")
    for lot in lots:
        await admin.action(lot, "open")

    alice = (await admin.register_bidder("alice", "77"))["token"]
    room = await new_page(f"{engine.url}/?token={alice}#lot={lots[1]}")
    await expect(room.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    await expect(room.get_by_test_id("budget-sale")).to_have_text("SALE-B1")
    await room.get_by_test_id("budget-total").fill("150000")
    await room.get_by_test_id("budget-lots").fill("1")
    await room.get_by_test_id("budget-button").click()
    held = re.compile(r"Budget ¥150,000, 1 lot: your bids hold ¥0.*won 0")
    await expect(room.get_by_test_id("budget-state")).to_have_text(held)
    await room.get_by_test_id("proxy-max").fill("200000")
    await room.get_by_test_id("proxy-button").click()
    await room.get_by_test_id("confirm-bid-yes").click()
    await expect(room.get_by_test_id("bid-message")).to_contain_text("your maximum ¥150,000")  # capped at the budget
    await expect(room.get_by_test_id("your-max")).to_have_text("¥150,000")
