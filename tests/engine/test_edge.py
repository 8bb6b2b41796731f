"""The engine's edge holds against slow and greedy clients (auction_engine/guard.py, issue 9 item 4)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from auction_engine.cli import default_web_dir
from tests.conftest import EngineProcess

from .helpers import api, new_lot
from .wsclient import Peer

HALF_OPEN = 500
PER_IP = 300
HEAD_S = 2.0
ATTACKER = "127.0.0.2"  # another loopback address: the per-IP cap applies to it, not to the bidder


@pytest.fixture
def guarded_engine(tmp_path: Path, redis_url: str) -> Iterator[EngineProcess]:
    proc = EngineProcess(tmp_path, redis_url, env_extra={
        "AUCTION_MAX_CONNECTIONS_PER_IP": str(PER_IP), "AUCTION_HEADER_TIMEOUT_S": str(HEAD_S),
        "AUCTION_REQUEST_TIMEOUT_S": str(HEAD_S),
    }).start()
    yield proc
    proc.stop()


def half_open(port: int, n: int) -> list[socket.socket]:
    """`n` requests whose heads never end, as a slowloris client holds them."""
    held = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(ATTACKER, 0))
        sock.sendall(b"GET /api/time HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held.append(sock)
    return held


def closed_by_server(sock: socket.socket, wait: float) -> bool:
    sock.settimeout(wait)
    try:
        while sock.recv(4096):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


async def test_500_half_open_requests_do_not_stop_a_bidder_and_are_closed_at_the_deadline(guarded_engine):
    lot = (await new_lot(guarded_engine))["lot"]
    started = time.monotonic()
    held = await asyncio.to_thread(half_open, guarded_engine.port, HALF_OPEN)
    peer = await Peer.open(guarded_engine.ws_url, guarded_engine.token("bidder", "A"))
    ack = await peer.bid(lot, "b1", amount=5000)
    assert ack["ok"], ack
    waited = time.monotonic() - started
    closed = await asyncio.to_thread(lambda: [closed_by_server(s, HEAD_S + 5 - (time.monotonic() - started)) for s in held])
    elapsed = time.monotonic() - started
    assert all(closed), f"{closed.count(False)} half-open requests still open after {elapsed:.1f}s"
    assert elapsed < HEAD_S + 5 + waited
    # the bidder's socket is a WebSocket now: no request deadline cut it
    assert (await peer.bid(lot, "b2", amount=9000))["id"] == "b2" and peer.closed_code is None
    for sock in held:
        sock.close()
    await peer.close()


async def test_one_address_gets_at_most_its_cap_of_connections_and_others_still_connect(guarded_engine):
    lot = (await new_lot(guarded_engine))["lot"]
    held = await asyncio.to_thread(half_open, guarded_engine.port, PER_IP + 20)
    over = held[PER_IP:]
    refused = await asyncio.to_thread(lambda: [closed_by_server(s, 1.0) for s in over])
    assert all(refused), "connections over the per-address cap must be closed at once"
    peer = await Peer.open(guarded_engine.ws_url, guarded_engine.token("bidder", "A"))
    assert (await peer.bid(lot, "b1", amount=5000))["ok"]
    for sock in held:
        sock.close()
    await peer.close()


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP/1.1 response (head and Content-Length body), however the segments fall."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, data
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_request_whose_head_ends_is_answered_and_a_kept_alive_socket_gets_a_fresh_deadline(guarded_engine):
    with socket.create_connection(("127.0.0.1", guarded_engine.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(b"GET /api/time HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /api/time HTTP/1.1\r\n")  # the third head never ends
        started = time.monotonic()
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        assert data.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < HEAD_S + 3


BROWSER_HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


async def test_every_http_response_carries_the_browser_security_headers(engine):
    async with api(engine) as client:
        for path in ("/", "/console", "/static/room.js", "/api/time", "/api/lots/nope", "/api/nothing", "/healthz"):
            response = await client.get(path)
            for name, value in BROWSER_HEADERS.items():
                assert response.headers.get(name) == value, (path, name)
            policy = response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy, path
            assert "unsafe-inline" not in policy


def test_the_pages_have_no_inline_script_or_handler_attribute():
    for page in default_web_dir().glob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page.name
        assert not re.search(r"\son[a-z]+\s*=", html), page.name


async def test_a_websocket_from_another_sites_page_is_refused_and_the_engines_own_and_python_clients_are_not(engine):
    with pytest.raises(InvalidStatus) as refused:
        await Peer.open(engine.ws_url, origin=Origin("http://evil.example"))
    assert refused.value.response.status_code == 403
    own = await Peer.open(engine.ws_url, origin=Origin(f"http://127.0.0.1:{engine.port}"))
    python = await Peer.open(engine.ws_url)
    for peer in (own, python):
        await peer.send({"type": "ping", "t": 7})
        assert (await peer.next())["type"] == "pong"
        await peer.close()


async def test_configured_origins_may_open_a_websocket(tmp_path, redis_url):
    proc = EngineProcess(tmp_path, redis_url, env_extra={"AUCTION_ALLOWED_ORIGINS": "https://room.example.com"}).start()
    try:
        peer = await Peer.open(proc.ws_url, origin=Origin("https://room.example.com"))
        await peer.close()
        with pytest.raises(InvalidStatus):
            await Peer.open(proc.ws_url, origin=Origin("https://other.example.com"))
    finally:
        proc.stop()
