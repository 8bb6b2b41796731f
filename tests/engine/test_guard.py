"""auction_engine/guard.py: what one engine process admits at once. The deadlines run against the
real engine in tests/engine/test_edge.py; here the counting itself, and the protocol class it makes."""

from __future__ import annotations

import asyncio
import json
from typing import cast

from uvicorn.protocols.http.h11_impl import H11Protocol

from auction_engine.guard import GuardedProtocol, Limits, guarded


def test_limits_cap_the_total_and_each_address_and_release_frees_a_place() -> None:
    limits = Limits(max_connections=3, max_per_ip=2, head_s=1.0, request_s=1.0)
    assert limits.admit("10.0.0.1") and limits.admit("10.0.0.1")
    assert not limits.admit("10.0.0.1")  # its cap
    assert limits.admit("10.0.0.2")
    assert not limits.admit("10.0.0.3")  # the total
    limits.release("10.0.0.1")
    assert limits.admit("10.0.0.3")
    assert (limits.total, dict(limits.open)) == (3, {"10.0.0.1": 1, "10.0.0.2": 1, "10.0.0.3": 1})
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        limits.release(ip)
    assert (limits.total, dict(limits.open)) == (0, {})


class Answering(asyncio.Protocol):
    """The inner protocol: answers 200 once a request head has arrived, as uvicorn's would."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.seen = b""

    def data_received(self, data: bytes) -> None:
        self.seen += data
        if b"\r\n\r\n" in self.seen:
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


async def test_a_guarded_server_refuses_past_the_cap_and_cuts_a_silent_socket_at_the_deadline() -> None:
    limits = Limits(max_connections=10, max_per_ip=1, head_s=0.3, request_s=1.0)
    protocol = guarded(Answering, limits)
    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        first_r, first_w = await asyncio.open_connection("127.0.0.1", port)
        second_r, _ = await asyncio.open_connection("127.0.0.1", port)
        refused = await asyncio.wait_for(second_r.read(), 2)
        assert refused.startswith(b"HTTP/1.1 503")  # one per address
        head, _, body = refused.partition(b"\r\n\r\n")
        assert b"Retry-After: 1" in head and json.loads(body)["error"]["code"] == "too_many_connections"
        first_w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(first_r.readuntil(b"\r\n\r\n"), 2)).startswith(b"HTTP/1.1 200")
        first_w.close()
        await asyncio.sleep(0.05)
        silent_r, _ = await asyncio.open_connection("127.0.0.1", port)  # its place is free again
        late = await asyncio.wait_for(silent_r.read(), 2)
        assert late.startswith(b"HTTP/1.1 408")  # no head within head_s
        assert json.loads(late.partition(b"\r\n\r\n")[2])["error"]["code"] == "timeout"
        await asyncio.sleep(0.05)
        assert limits.total == 0
    finally:
        server.close()
        await server.wait_closed()


def test_guarded_makes_a_protocol_class_for_uvicorn_sharing_one_limits() -> None:
    limits = Limits(max_connections=1, max_per_ip=1, head_s=1.0, request_s=1.0)
    first, second = guarded(H11Protocol, limits), guarded(H11Protocol, limits)
    assert issubclass(first, GuardedProtocol) and issubclass(first, asyncio.Protocol)
    assert first.limits is limits and second.limits is limits
    assert first.inner_class is H11Protocol
