"""The Starlette application and its lifespan: Redis (outside or embedded), SQL, the engine."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from . import http, makes_http, me, openapi, sales_http, scrape, staff_paid, ws
from .aftersale_http import open_aftersale
from .aftersale_http import routes as aftersale_routes
from .auth import TokenSigner, load_secret
from .browser import SecurityHeaders
from .config import Config
from .engine import Engine
from .errors import EngineError
from .frames import error_body
from .logs import RequestIds, bind, request_id_of
from .redis_down import redis_down
from .replication import NotReplicated
from .secret_file import load_or_create
from .store import Store
from .supervisor import redis_for

logger = logging.getLogger(__name__)


class EngineApp(Starlette):
    """The Starlette app, with `/ws` handed straight to its endpoint, past the middlewares and the router.

    Each layer an ASGI call passes through keeps a frame (and some a wrapped `send`) alive for
    as long as the call runs, which for a WebSocket is the connection's whole life: about 8 KB per
    idle watcher across RequestIds, SecurityHeaders, BodyLimit, the exception middleware and the
    router, a third of what an idle watcher cost; and ~0.6 KB more for Starlette's own outermost
    layer and a middleware of ours in front of the rest (docs/performance.md, idle soak). None of
    them does anything for a socket except the request id its log lines carry, which is kept here."""

    def __init__(self, *, ws_path: str, ws_endpoint: Callable[[WebSocket], Awaitable[None]],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ws_path = ws_path
        self.ws_endpoint = ws_endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or scope.get("path") != self.ws_path:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # what Starlette sets for `websocket.app`
        with bind(request_id=request_id_of(scope)):
            await self.ws_endpoint(WebSocket(scope, receive=receive, send=send))


class BodyLimit:
    """Refuse HTTP bodies over the limit before they are read into memory.

    The rest of a refused body is read and dropped (up to `DRAIN_BYTES` or `DRAIN_S`) before the 413
    goes: a server that answers and closes while the client is still sending makes the kernel reset
    the connection, and the client, still writing, then sees a reset instead of the typed error."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(scope, receive, send, more=True)
                return
        seen = 0
        more = True

        async def limited() -> Message:
            nonlocal seen, more
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                more = bool(message.get("more_body", False))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send, more=more)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, more: bool) -> None:
        if more:
            await _drain(receive)
        response = JSONResponse(error_body("too_large", f"bodies are limited to {self.limit} bytes"), status_code=413)
        await response(scope, receive, send)


DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_S = 2.0


async def _drain(receive: Receive) -> None:
    """Read and drop what is left of a request's body, within the bounds: a body larger still, or
    slower, gets its 413 then and may see the connection reset."""
    dropped = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_S):
            while dropped <= DRAIN_BYTES:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
                dropped += len(message.get("body", b""))


class _TooLarge(Exception):
    pass


METRICS_TOKEN_FILE = "metrics-token"


def metrics_token_of(config: Config) -> str:
    """METRICS_TOKEN, else `<data-dir>/metrics-token` (created once): a secret of its own, for a
    scraper that must not hold anything that signs or opens a bid (docs/deploy.md, "Monitoring")."""
    others = (("AUTH_SECRET", load_secret(config.auth_secret, config.data_dir)), ("ESCROW_SECRET", escrow_secret_of(config)))
    token = config.metrics_token or load_or_create(config.data_dir / METRICS_TOKEN_FILE)
    for purpose, secret in others:
        if hmac.compare_digest(token.encode(), secret.encode()):
            raise SystemExit(f"refusing to start: METRICS_TOKEN equals {purpose}; whoever scrapes /metrics would hold it. "
                             "Give the metrics their own token, or unset METRICS_TOKEN to use <data-dir>/metrics-token.")
    return token


def escrow_secret_of(config: Config) -> str:
    """ESCROW_SECRET, else `<data-dir>/escrow-secret` (created once). Never the token secret: an
    HS256 token is an HMAC under it, so sharing it would let any bidder sign escrow callbacks."""
    auth_secret = load_secret(config.auth_secret, config.data_dir)
    secret = config.escrow_secret or load_or_create(config.data_dir / "escrow-secret")
    if hmac.compare_digest(secret.encode(), auth_secret.encode()):
        raise SystemExit(
            "refusing to start: ESCROW_SECRET equals the token secret (AUTH_SECRET); anyone holding a token could "
            "then forge escrow callbacks. Give escrow its own secret, or unset ESCROW_SECRET to use <data-dir>/escrow-secret."
        )
    return secret


async def engine_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EngineError)
    return http.error_response(exc)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)


async def redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """Redis did not answer (a shard failing over, a restarted server): 503, retry; never a 500."""
    logger.warning("%s %s: Redis unavailable (%s)", request.method, request.url.path, str(exc).splitlines()[0][:200])
    return JSONResponse(error_body("unavailable", "the log store did not answer; retry"), status_code=503)


async def runtime_error(request: Request, exc: Exception) -> JSONResponse:
    """uvloop's closed transport under a Redis call (redis_down.py) is Redis unavailable: 503; any
    other RuntimeError is a bug, and stays a 500."""
    if redis_down(exc):
        return await redis_unavailable(request, exc)
    raise exc


def _page(path: Path) -> Callable[[Request], Awaitable[FileResponse]]:
    async def page(request: Request) -> FileResponse:
        return FileResponse(path)

    return page


def _web_routes(web_dir: Path | None) -> list[BaseRoute]:
    """The bidder room, the console and their files, from the directory the caller hands over
    (`cli.py` finds the `clients` package's pages); none without one: the API stands alone."""
    if web_dir is None:
        return []
    return [
        Route("/", _page(web_dir / "room.html")),
        Route("/console", _page(web_dir / "console.html")),
        Mount("/static", StaticFiles(directory=web_dir, check_dir=False), name="static"),
    ]


def create_app(config: Config | None = None, web_dir: Path | None = None) -> Starlette:
    config = config or Config.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with (
            redis_for(config.data_dir, config.redis_url, config.redis_restart_s, config.redis_cluster) as redis,
            engine_lifespan(app, redis),
        ):
            yield

    @contextlib.asynccontextmanager
    async def engine_lifespan(app: Starlette, redis: Redis | RedisCluster) -> AsyncIterator[None]:
        if config.node_id and not (config.auth_secret and config.escrow_secret):
            raise SystemExit(
                "refusing to start as a cluster node: set AUTH_SECRET and ESCROW_SECRET, the same on every node "
                "(each node would otherwise make its own, and tokens and escrow callbacks would work on one node only)"
            )
        app.state.escrow_secret = escrow_secret_of(config)  # before anything starts: it may refuse
        app.state.metrics_token = metrics_token_of(config)
        secret = load_secret(config.auth_secret, config.data_dir)
        app.state.signer = TokenSigner(secret, config.bidder_token_ttl_s, config.staff_token_ttl_s)
        store = await Store.open(
            config.database_url, config.data_dir, escrow_url=config.escrow_url,
            escrow_secret=app.state.escrow_secret, retry_base_s=config.escrow_retry_base_s, retry_cap_s=config.escrow_retry_cap_s,
            poll_s=config.escrow_poll_s, lease_s=config.escrow_lease_s,
            writer="thread" if config.sql_writer == "thread" else "process",
        )
        engine = Engine(config, redis, store)
        app.state.engine = engine
        app.state.exposition = scrape.Exposition(engine, config.metrics_every_s)
        aftersale, app.state.aftersale_settings = open_aftersale(config, store, app.state.escrow_secret,
                                                                 busy=engine.bidding_within)
        app.state.aftersale = aftersale
        try:
            await engine.start()
            store.start_outbox_worker()
            aftersale.start()
            yield
        finally:
            try:
                await engine.stop()
            finally:
                await aftersale.close()
                await store.close()

    routes: list[BaseRoute] = [
        Route("/api/time", http.server_time),
        Route("/api/bidders", http.register_bidder, methods=["POST"]),
        Route("/api/bidders", http.list_bidders, methods=["GET"]),
        Route("/api/bidders/{bidder}/tokens", http.mint_token, methods=["POST"]),
        Route("/api/bidders/{bidder}/suspend", http.suspend_bidder, methods=["POST"]),
        Route("/api/bidders/{bidder}/reinstate", http.reinstate_bidder, methods=["POST"]),
        Route("/api/lots", http.create_lot, methods=["POST"]),
        Route("/api/lots", http.list_lots, methods=["GET"]),
        Route("/api/lots/{lot}", http.get_lot, methods=["GET"]),
        Route("/api/lots/{lot}/events", http.lot_events, methods=["GET"]),
        Route("/api/lots/{lot}/bids", http.place_bid, methods=["POST"]),
        Route("/api/lots/{lot}/floor-bids", http.floor_bid, methods=["POST"]),
        Route("/api/lots/{lot}/{action}", http.lot_action, methods=["POST"]),
        Route("/api/settlements", http.list_settlements, methods=["GET"]),
        Route("/api/settlements/{lot}/paid", http.settlement_paid, methods=["POST"]),
        *staff_paid.ROUTES,
        *makes_http.ROUTES,
        Route("/metrics", http.metrics_endpoint),
        Route("/healthz", http.healthz),
        Route("/api/cluster", http.cluster_info),
        Route("/api/lots/{lot}/owner", http.lot_owner),
        Route("/openapi.json", openapi.openapi_endpoint),
        Route("/asyncapi.json", openapi.asyncapi_endpoint),
        *me.ROUTES,
        *sales_http.ROUTES,
        WebSocketRoute("/ws", ws.endpoint),  # served by EngineApp.__call__; listed so the app's routes name it
        *aftersale_routes(),
        *_web_routes(web_dir),
    ]
    app = EngineApp(
        ws_path="/ws",
        ws_endpoint=ws.endpoint,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={EngineError: engine_error, HTTPException: http_error, RedisError: redis_unavailable,
                            NotReplicated: redis_unavailable, RuntimeError: runtime_error},
    )
    app.add_middleware(BodyLimit, limit=config.max_body)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestIds)  # every line logged for a request carries its id
    app.state.config = config
    return app
