"""What the browser tests share: Debian's chromium (never a downloaded browser), lot helpers."""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def require_chromium() -> str:
    """The chromium binary; skips the calling module without one, but fails under CI, where a
    skipped browser suite would pass silently."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        why = "chromium not installed: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI is set: browser tests must run)", pytrace=False)
        pytest.skip(why, allow_module_level=True)
    return path


_lots = itertools.count(1)


async def make_lot(admin, open_now: bool = True, **spec) -> dict:
    """A lot with a vehicle, created (and opened) through the auctioneer's client."""
    lot = spec.pop("lot", f"B{os.getpid()}-{next(_lots)}")
    body = {
        "lot": lot, "title": "Honda CR-V 240TURBO 2021", "currency": "CNY", "start_price": 13_500_000,
        "duration_s": 300,
        "vehicle": {"make": "Honda", "model": "CR-V 240TURBO", "year": 2021, "mileage_km": 41_020,
                    "vin": "LVHRW5850M6045678", "location": "Hangzhou, Zhejiang",
                    "inspection": {"grade": "A-", "report_url": "/static/inspection.html?vin=LVHRW5850M6045678"}},
        **spec,
    }
    state = await admin.create_lot(body)
    if open_now and state["status"] == "scheduled":
        state = await admin.action(lot, "open")
    return state


async def bid_while_offline(page, engine):
    """The engine stopped under an open room and the bidder taps the next quick bid: the unsent-bid
    box, which must never send by itself once the engine is back."""
    from playwright.async_api import expect

    await page.get_by_test_id("confirm-toggle").uncheck()
    engine.kill()
    await expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "reconnecting")
    await page.get_by_test_id("quick-bid-next").click()
    return page.get_by_test_id("unsent-bid")
