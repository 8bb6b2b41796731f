"""auction_engine/redis_down.py: what counts as Redis being away, and what the HTTP API answers then.

uvloop's closed transport under a Redis call (a shard's master killed while a node wrote to it) is
a RuntimeError; seen in CI as a 500 on a bid. It must be a 503 `unavailable`, which a client retries
with the same id, and no other RuntimeError may be taken for it."""

from __future__ import annotations

import httpx
import pytest
from redis.exceptions import ClusterDownError, ConnectionError, TimeoutError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from auction_engine.app import runtime_error
from auction_engine.redis_down import redis_down

CLOSED = RuntimeError("unable to perform operation on <TCPTransport closed=True reading=False 0x55d1>; the handler is closed")


@pytest.mark.parametrize("exc", [ConnectionError("gone"), TimeoutError("slow"), ClusterDownError("down"),
                                 ConnectionResetError(104, "reset"), CLOSED])
def test_a_server_going_away_is_redis_down(exc: BaseException) -> None:
    assert redis_down(exc)


@pytest.mark.parametrize("exc", [RuntimeError("dictionary changed size during iteration"), ValueError("x"),
                                 KeyError("lot"), RecursionError("deep")])
def test_a_bug_is_not_redis_down(exc: BaseException) -> None:
    assert not redis_down(exc)


def app_raising(exc: Exception) -> Starlette:
    async def bid(request: Request) -> None:
        raise exc

    return Starlette(routes=[Route("/bid", bid, methods=["POST"])], exception_handlers={RuntimeError: runtime_error})


async def test_a_closed_transport_under_a_request_is_a_503_unavailable() -> None:
    transport = httpx.ASGITransport(app=app_raising(CLOSED))
    async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
        reply = await client.post("/bid")
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "unavailable"


async def test_any_other_runtime_error_stays_a_500() -> None:
    transport = httpx.ASGITransport(app=app_raising(RuntimeError("a bug")), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
        reply = await client.post("/bid")
    assert reply.status_code == 500
