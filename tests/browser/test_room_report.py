"""Photos and the condition report (issue 13 item 13): a gallery that moves with buttons, keys and
a swipe; the lot page's key facts; the report page with all of it. Failed before the gallery."""

import pytest
from playwright.async_api import expect

from .support import make_lot, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
require_chromium()

VIN = "LRW3E7EA0MC056789"
REPORT = {
    "grade": "A", "report_url": f"/static/inspection.html?vin={VIN}", "report_date": "2026-11-20", "version": 2,
    "checks": {"accident": False, "flood": False, "fire": True},
    "damage": [{"part": "front bumper", "kind": "scratch", "x": 50, "y": 4},
               {"part": "left rear door", "kind": "dent", "x": 28, "y": 62}],
    "tyres": [{"position": "FL", "tread_mm": 6}, {"position": "FR", "tread_mm": 5}],
    "obd_codes": ["P0301"], "battery_soh": 93,
}
PHOTOS = ["/static/photos/side.svg", "/static/photos/front.svg", "/static/photos/rear.svg"]


async def test_the_gallery_and_the_reports_key_facts_and_the_full_report(engine, admin, new_page):
    lot = (await make_lot(admin, title="Tesla Model 3 RWD 2021", vehicle={
        "make": "Tesla", "model": "Model 3 RWD", "year": 2021, "mileage_km": 46_800, "vin": VIN,
        "photos": PHOTOS, "inspection": REPORT}))["lot"]
    page = await new_page(f"{engine.url}/#lot={lot}", width=375, height=740)
    count = page.get_by_test_id("gallery-count")
    await expect(count).to_have_text("1 / 3")
    await expect(page.get_by_test_id("gallery-photo")).to_have_attribute("alt", "Photo 1 of 3: Tesla Model 3 RWD 2021")
    await page.get_by_test_id("gallery-next").click()
    await expect(count).to_have_text("2 / 3")
    await page.get_by_test_id("gallery").focus()
    await page.keyboard.press("ArrowRight")
    await expect(count).to_have_text("3 / 3")
    box = await page.get_by_test_id("gallery-photo").bounding_box()
    assert box
    await page.mouse.move(box["x"] + box["width"] - 10, box["y"] + 20)
    await page.mouse.down()
    await page.mouse.move(box["x"] + 10, box["y"] + 20, steps=5)
    await page.mouse.up()  # a swipe to the left: the next photo, round to the first
    await expect(count).to_have_text("1 / 3")

    facts = page.get_by_test_id("inspection-facts")
    await expect(facts).to_contain_text("事故 Accident: none found")
    await expect(facts.locator('[data-fact="fire"]')).to_have_attribute("data-bad", "true")
    await expect(facts).to_contain_text("Battery health 93%")
    await expect(facts).to_contain_text("OBD codes: P0301")
    await expect(facts).to_contain_text("Report 2026-11-20 (v2)")

    report = await new_page(f"{engine.url}/static/inspection.html?vin={VIN}")
    await expect(report.get_by_test_id("report-grade")).to_have_text("A")
    await expect(report.get_by_test_id("report-checks")).to_contain_text("火烧 Fire: FOUND")
    await expect(report.get_by_test_id("damage-map").locator("circle")).to_have_count(2)
    await expect(report.get_by_test_id("report-tyres").locator("tbody tr")).to_have_count(2)
    await expect(report.get_by_test_id("report-obd")).to_have_text("P0301")
    await expect(report.get_by_test_id("report-battery")).to_have_text("State of health 93%")
    assert page.errors == [] and report.errors == []
