"""The room in Chinese and English (issue 13 item 14): the browser's language by default, a switch,
`lang` on the page, prices in 万 and mileage in 万公里 in Chinese. Failed before the switch existed."""

import pytest
from playwright.async_api import expect

from clients.client import AuctionClient

from .support import make_lot, require_chromium
from .test_room import bidders, connected

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
require_chromium()


async def test_a_chinese_browser_gets_the_room_in_chinese_and_can_switch(engine, admin, new_page):
    lot = (await make_lot(admin, start_price=18_300_000))["lot"]
    for make in ("丰田", "TOYOTA"):  # one make typed two ways: one filter entry
        await make_lot(admin, title=f"{make} 卡罗拉 2020", vehicle={"make": make, "year": 2020})
    alice, bob = await bidders(admin, "alice", "bob")
    page = await new_page(f"{engine.url}/?token={alice}", locale="zh-CN", width=375, height=740)
    await connected(page)
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    card = page.locator(f'[data-testid=lot-card][data-lot="{lot}"]')
    await expect(card).to_contain_text("4.10万公里")
    makes = page.get_by_test_id("filter-make")
    await expect(makes.locator("xpath=..")).to_contain_text("品牌")
    await expect(makes.locator("option")).to_have_count(3)  # Any, 本田, 丰田
    await makes.select_option("丰田")
    await expect(page.get_by_test_id("lot-card")).to_have_count(2)
    await makes.select_option("")
    await expect(page.get_by_test_id("lot-card")).to_have_count(3)
    await card.click()
    await expect(page.get_by_test_id("price")).to_have_text("¥18.30万")
    await expect(page.locator("#d-price-label")).to_have_text("起拍价")
    await expect(page.get_by_test_id("bid-status")).to_have_text("您尚未出价")

    await page.get_by_test_id("lang-switch").select_option("en")
    assert await page.evaluate("document.documentElement.lang") == "en"
    await expect(page.get_by_test_id("price")).to_have_text("¥183,000")
    await expect(page.locator("#d-price-label")).to_have_text("Starting price")
    await expect(page.get_by_test_id("filter-make").locator("option")).to_have_text(["Any", "Honda", "Toyota"])
    await page.reload()  # the choice is kept over the browser's language
    await expect(page.get_by_test_id("price")).to_have_text("¥183,000")
    await page.get_by_test_id("lang-switch").select_option("zh-CN")
    for token, amount in ((alice, 18_300_000), (bob, 18_800_000)):  # the bid history names its bidders in Chinese
        async with AuctionClient(engine.url, token) as client:
            assert (await client.bid(lot, amount=amount)).ok
    rows = page.get_by_test_id("bid-history").get_by_test_id("history-row")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("¥18.80万 · 竞买人 2 · ")
    await expect(rows.last).to_contain_text("¥18.30万 · 您 · ")
    assert page.errors == []


async def test_an_english_browser_gets_english_with_plain_yuan(engine, admin, new_page):
    lot = (await make_lot(admin, start_price=18_300_000))["lot"]
    page = await new_page(f"{engine.url}/#lot={lot}")
    await expect(page.get_by_test_id("price")).to_have_text("¥183,000")
    assert await page.evaluate("document.documentElement.lang") == "en"
    await expect(page.get_by_test_id("lang-switch")).to_have_value("en")
