"""A headless Debian chromium per test, and pages that leave a screenshot in test-artifacts/."""

from __future__ import annotations

import contextlib
import re

import pytest
from playwright.async_api import async_playwright

from clients.client import AuctionClient

from .support import ARTIFACTS, CHROMIUM_ARGS, require_chromium


@pytest.fixture
async def browser():
    executable = require_chromium()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True,
                                           args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def new_page(browser, request):
    """`await new_page(url, width=...)`: a page in its own context (own localStorage), with its
    console errors collected in `page.errors`; every page is screenshotted at teardown."""
    pages = []

    async def open_page(url: str, width: int = 1280, height: int = 900, bypass_csp: bool = False, locale: str = "en-US"):
        # bypass_csp: only for injecting axe-core (tests/browser/axe.py) past the pages' script-src 'self'
        context = await browser.new_context(viewport={"width": width, "height": height}, bypass_csp=bypass_csp, locale=locale)
        page = await context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.ws_frames = []  # ("sent" | "received", payload) of every WebSocket of the page, in order

        def record(ws):
            ws.on("framesent", lambda payload: page.ws_frames.append(("sent", payload)))
            ws.on("framereceived", lambda payload: page.ws_frames.append(("received", payload)))

        page.on("websocket", record)
        pages.append(page)
        await page.goto(url)
        return page

    yield open_page
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for i, page in enumerate(pages):
        suffix = f"-{i + 1}" if len(pages) > 1 else ""
        with contextlib.suppress(Exception):  # a page that crashed still lets the others be saved
            await page.screenshot(path=str(ARTIFACTS / f"{name}{suffix}.png"), full_page=True)


@pytest.fixture
async def admin(engine):
    client = AuctionClient(engine.url, engine.auctioneer_token)
    yield client
    await client.close()
