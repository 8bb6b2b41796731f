"""The staff page after the sale (/static/aftersale.html) in headless chromium against the real
engine: a dealer's application approved from the page, and a buyer's claim settled from it."""

import httpx
import pytest
from playwright.async_api import expect

from auction_engine.store import sign
from auction_engine.store.db import now_ms
from auction_engine.store.signing import PURPOSE_PAID

from ..engine.test_aftersale_http import bearer, credit_code, history, qualified_dealer, secret_of, sold_lot
from ..engine.test_settlement import payment, wait_for
from .support import require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
require_chromium()


async def test_staff_approve_a_dealer_and_settle_a_claim_from_the_page(engine, new_page):
    applied = httpx.post(f"{engine.url}/api/applications", json={
        "company": "苏州某某二手车有限公司", "credit_code": credit_code(), "contact_name": "周", "contact_phone": "13700000000",
        "city": "苏州", "documents": ["https://docs.example/licence.pdf"]}).json()["application"]
    page = await new_page(f"{engine.url}/static/aftersale.html?token={engine.auctioneer_token}", height=1200)
    row = page.locator(f'[data-testid=application-row][data-application="{applied}"]')
    await expect(row.get_by_test_id("application-status")).to_have_text("pending")
    await row.get_by_test_id("approve-bidder").fill("PD1")
    await row.get_by_test_id("approve-paddle").fill("pd1")
    await row.get_by_test_id("approve").click()
    await expect(row.get_by_test_id("application-status")).to_have_text("approved")

    token = qualified_dealer(engine, "PD2")
    record = await sold_lot(engine, token)
    lot = record["lot"]
    body = payment(record)
    paid = httpx.post(f"{engine.url}/api/settlements/{lot}/paid", content=body, headers={
        "X-Signature": sign(secret_of(engine, "escrow-secret"), PURPOSE_PAID, body, now_ms=now_ms())})
    assert paid.status_code == 200, paid.text
    await wait_for(lambda: history(engine, lot)["guarantee"])
    with bearer(token) as buyer:
        claim = buyer.post(f"{engine.url}/api/settlements/{lot}/claim",
                           json={"reason": "title_problem", "text": "登记证书有抵押"})
        assert claim.status_code == 201, claim.text
    await page.get_by_test_id("refresh").click()
    settled = page.locator(f'[data-testid=settlement-row][data-lot="{lot}"]')
    await expect(settled.get_by_test_id("guarantee-state")).to_have_text("claimed")
    await settled.get_by_test_id("refund-amount").fill("150000")
    await settled.get_by_test_id("claim-partial").click()
    await expect(settled.get_by_test_id("guarantee-state")).to_have_text("released")
    kinds = [i["kind"] for i in history(engine, lot)["instructions"]]
    assert sorted(kinds) == ["partial_refund", "release"]
    assert history(engine, lot)["claim"]["refund_amount"] == 150_000
