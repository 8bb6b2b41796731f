"""Accessibility (issue 13 item 16): axe-core finds nothing on the room, a lot page and the console;
focus moves to the lot's title on open; changes are announced in a live region."""

import pytest
from playwright.async_api import expect

from clients.client import AuctionClient

from .axe import violations
from .support import make_lot, require_chromium
from .test_room import bidders, connected

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
require_chromium()


async def test_axe_finds_no_violation_on_the_room_the_lot_page_and_the_console(engine, admin, new_page):
    lot = (await make_lot(admin, reserve=15_000_000, buy_now=16_000_000))["lot"]
    alice, bob = await bidders(admin, "alice", "bob")
    async with AuctionClient(engine.url, bob) as client:
        assert (await client.bid(lot, amount=13_500_000)).ok
    room = await new_page(f"{engine.url}/?token={alice}", bypass_csp=True)
    await connected(room)
    await expect(room.get_by_test_id("lot-card")).to_have_count(1)
    found = {"catalogue": await violations(room)}

    await room.get_by_test_id("lot-card").click()
    await expect(room.get_by_test_id("lot-title")).to_be_focused()
    await expect(room.get_by_test_id("history-row")).to_have_count(1)
    found["lot page"] = await violations(room)

    phone = await new_page(f"{engine.url}/?token={alice}#lot={lot}", width=375, height=740, bypass_csp=True)
    await connected(phone)
    await expect(phone.get_by_test_id("lot-title")).to_have_text("Honda CR-V 240TURBO 2021")
    found["lot page at 375 px"] = await violations(phone)

    console = await new_page(f"{engine.url}/console?token={engine.auctioneer_token}", height=1400, bypass_csp=True)
    await expect(console.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    await console.locator(f'[data-testid=lot-row][data-lot="{lot}"]').click()
    await expect(console.get_by_test_id("selected-title")).to_have_text("Honda CR-V 240TURBO 2021")
    found["console"] = await violations(console)
    assert found == {"catalogue": [], "lot page": [], "lot page at 375 px": [], "console": []}


async def test_status_changes_are_announced_in_a_live_region(engine, admin, new_page):
    lot = (await make_lot(admin))["lot"]
    (alice,) = await bidders(admin, "alice")
    page = await new_page(f"{engine.url}/?token={alice}#lot={lot}")
    await connected(page)
    # The room announces changes from the state it first showed: a pause that lands before the lot's
    # first state reaches the page is that first state, and nothing is announced (a slow CI machine).
    await expect(page.get_by_test_id("lot-status")).to_have_text("open")
    announce = page.get_by_test_id("announce")
    await expect(announce).to_have_attribute("aria-live", "polite")
    await admin.action(lot, "pause")
    await expect(announce).to_contain_text("paused")
    await admin.action(lot, "resume")
    await expect(announce).to_contain_text("open")
    await admin.action(lot, "close")
    await expect(announce).to_contain_text("Unsold")
