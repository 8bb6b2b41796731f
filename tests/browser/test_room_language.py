"""The room in Chinese and English (issue 13 item 14): the browser's language by default, a switch,
`lang` on the page, prices in 万 and mileage in 万公里 in Chinese, and the lot page's leader, extensions,
quick bids and bid messages (outbid, refused, accepted) in Chinese too. Failed before the switch existed,
and again before those texts were translated."""

import re

import pytest
from playwright.async_api import expect

from clients.client import AuctionClient

from .support import make_lot, require_chromium
from .test_room import bidders, confirm, connected

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

    # the lot page and the bid messages in Chinese (each was English in a 375 px screenshot)
    message = page.get_by_test_id("bid-message")
    await expect(message).to_have_text("已被超越：当前价 ¥18.80万，最低加价至 ¥18.90万。")  # bob outbid alice
    await expect(page.get_by_test_id("leader")).to_have_text("号牌 102")
    await expect(page.get_by_test_id("extensions").locator("xpath=..")).to_have_text(re.compile(r"^延时次数：\s*0$"))
    for n in ("next", "1", "5"):
        await expect(page.get_by_test_id(f"quick-bid-{n}")).not_to_contain_text("step")
    await expect(page.get_by_test_id("quick-bid-1")).to_have_text("+1 档：¥19.00万")
    await expect(page.get_by_test_id("quick-bid-5")).to_contain_text("+5 档：¥")
    await page.get_by_test_id("bid-amount").fill("100")  # below the next minimum
    await page.get_by_test_id("bid-button").click()
    await confirm(page)
    await expect(message).to_have_text("未受理：您的出价低于最低可出价。最低加价至 ¥18.90万。")
    await page.get_by_test_id("quick-bid-next").click()
    await confirm(page)
    await expect(message).to_have_text("出价已受理：您以 ¥18.90万 领先。")
    await expect(page.get_by_test_id("leader")).to_have_text("号牌 101（您）")
    await expect(page.get_by_test_id("who")).to_have_text("竞买人 alice · 号牌 101")  # switched after a reload in English
    shown = await page.get_by_test_id("lot-detail").inner_text()
    for english in ("Paddle", "extensions", "step", "Outbid", "Refused", "Accepted", "next minimum", "Next minimum"):
        assert english not in shown, english
    untranslated = await page.evaluate("""async () => {  // every refusal reason of common.js has its Chinese
        const [{ MESSAGES }, { t }] = await Promise.all([import("/static/common.js"), import("/static/i18n.js")]);
        return Object.values(MESSAGES).filter((text) => t(text) === text);
    }""")
    assert untranslated == []

    await page.get_by_test_id("lang-switch").select_option("en")  # the message follows the switch
    await expect(message).to_have_text("Accepted: you lead at ¥189,000.")
    await expect(page.get_by_test_id("leader")).to_have_text("Paddle 101 (you)")
    await expect(page.get_by_test_id("who")).to_have_text("Bidder alice · paddle 101")
    await expect(page.get_by_test_id("extensions").locator("xpath=..")).to_have_text("extensions: 0")
    await expect(page.get_by_test_id("quick-bid-1")).to_have_text(re.compile(r"^\+1 step: ¥"))
    assert page.errors == []


async def test_an_english_browser_gets_english_with_plain_yuan(engine, admin, new_page):
    lot = (await make_lot(admin, start_price=18_300_000))["lot"]
    page = await new_page(f"{engine.url}/#lot={lot}")
    await expect(page.get_by_test_id("price")).to_have_text("¥183,000")
    assert await page.evaluate("document.documentElement.lang") == "en"
    await expect(page.get_by_test_id("lang-switch")).to_have_value("en")
