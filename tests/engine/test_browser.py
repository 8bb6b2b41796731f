"""auction_engine/browser.py: the headers every HTTP answer carries, and whose pages may open /ws."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from auction_engine.browser import SecurityHeaders, origin_allowed, policy


def test_origin_allowed_takes_no_origin_the_engines_own_or_a_configured_one() -> None:
    own = {"host": "auction.example:8000"}
    assert origin_allowed(own, "ws", [])  # not a browser: Python, curl
    assert origin_allowed({**own, "origin": "http://auction.example:8000/"}, "ws", [])
    assert origin_allowed({**own, "origin": "https://auction.example:8000"}, "wss", [])
    assert not origin_allowed({**own, "origin": "https://auction.example:8000"}, "ws", [])
    assert not origin_allowed({**own, "origin": "https://evil.example"}, "ws", [])
    assert origin_allowed({**own, "origin": "https://hall.example"}, "ws", ["https://hall.example"])


def test_policy_names_the_hosts_websockets_and_nothing_inline() -> None:
    csp = policy("auction.example:8000").decode()
    assert "connect-src 'self' ws://auction.example:8000 wss://auction.example:8000" in csp
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp


async def test_every_http_answer_gets_the_headers_and_an_odd_host_is_left_out() -> None:
    async def page(request: Any) -> JSONResponse:
        return JSONResponse({}, headers={"x-frame-options": "SAMEORIGIN"})

    app = SecurityHeaders(Starlette(routes=[Route("/", page)]))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auction.example")
    answer = await client.get("/", headers={"host": "auction.example"})
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"  # the app's own header is kept
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "ws://auction.example" in answer.headers["content-security-policy"]
    missing = await client.get("/nowhere", headers={"host": "evil.example'; script-src *"})
    assert missing.status_code == 404
    assert "evil" not in missing.headers["content-security-policy"]
