"""Real databases: SQLite in tmp_path always, PostgreSQL too when TEST_DATABASE_URL is set.

PostgreSQL runs get a private database for the session (so parallel runs by others on the same
server never collide) and a fresh `public` schema per test.
"""

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass, field

import asyncpg
import pytest
import uvicorn
from sqlalchemy.engine import make_url

from auction_engine.store import PURPOSE_SETTLEMENT, SignatureError, Store, verify
from auction_engine.store.db import now_ms

PG_URL = os.environ.get("TEST_DATABASE_URL")


def _plain(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_url():
    if not PG_URL:
        yield None
        return
    base = make_url(PG_URL)
    name = f"store_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_plain(base))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name)
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request, pg_url):
    if request.param == "sqlite":
        return None
    if pg_url is None:
        pytest.skip("TEST_DATABASE_URL not set")
    conn = await asyncpg.connect(_plain(pg_url))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    return pg_url.render_as_string(hide_password=False)


FAST = {"retry_base_s": 0.01, "retry_cap_s": 0.1, "poll_s": 0.05}
# The store's tests write on the writer thread (tests/conftest.py says why); test_writerproc.py and
# test_offloop.py ask for the process.
WRITER = {"writer": "thread"}


@pytest.fixture
async def open_store(database_url, tmp_path):
    """`await open_store(**kw)` opens a Store on this test's database and data dir; all are
    closed at the end. Opening again on the same database is a restart."""
    stores: list[Store] = []

    async def _open(**kw) -> Store:
        store = await Store.open(database_url, kw.pop("data_dir", tmp_path), **{**FAST, **WRITER, **kw})
        stores.append(store)
        return store

    yield _open
    for store in stores:
        await store.close()


@pytest.fixture
async def store(open_store):
    return await open_store()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class EscrowReceiver:
    """A real HTTP escrow on 127.0.0.1: checks signatures, keeps each Idempotency-Key once.

    `refuse` answers 500 to that many requests before looking at them; `lose_acks` stores that
    many records and then answers 500 anyway, as if the response were lost on the way back.
    """

    secret: str
    port: int = field(default_factory=free_port)
    refuse: int = 0
    lose_acks: int = 0
    records: dict = field(default_factory=dict)
    requests: int = 0
    duplicates: int = 0
    bad_signatures: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/settlements"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests += 1
        status = await self._handle(headers, body)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def _handle(self, headers: dict, body: bytes) -> int:
        if self.refuse > 0:
            self.refuse -= 1
            return 500
        try:
            verify(self.secret, PURPOSE_SETTLEMENT, body, headers.get("x-signature"), now_ms=now_ms())
        except SignatureError:
            self.bad_signatures += 1
            return 401
        key = headers.get("idempotency-key")
        if key in self.records:
            self.duplicates += 1
            return 409
        self.records[key] = body
        if self.lose_acks > 0:
            self.lose_acks -= 1
            return 500
        return 201

    async def start(self) -> None:
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="error", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


@pytest.fixture
async def escrow():
    receiver = EscrowReceiver(secret="s3cret-" + uuid.uuid4().hex)
    yield receiver
    await receiver.stop()


def lot_state(lot: str, **kw) -> dict:
    """A public lot state as PROTOCOL.md has it, with a vehicle."""
    vehicle = {
        "vin": kw.pop("vin", f"LVSHCAMB{lot:0>9}"[-17:]),
        "make": kw.pop("make", "BYD"),
        "model": kw.pop("model", "Han EV"),
        "year": kw.pop("year", 2021),
        "mileage_km": kw.pop("mileage_km", 35000),
        "colour": kw.pop("colour", "white"),
        "location": kw.pop("location", "上海"),
        "inspection": {"grade": kw.pop("grade", "B"), "report_url": f"https://inspect.example/{lot}"},
        "photos": [f"https://img.example/{lot}/1.jpg"],
    }
    state = {
        "lot": lot,
        "title": kw.pop("title", f"{vehicle['year']} {vehicle['make']} {vehicle['model']}"),
        "format": "english",
        "mode": "timed",
        "status": "open",
        "result": None,
        "currency": "CNY",
        "start_price": 5_000_000,
        "price": None,
        "next_min": 5_000_000,
        "leader": None,
        "bids": 0,
        "buy_now": None,
        "starts_at": None,
        "ends_at": 1_800_000_000_000,
        "extensions": 0,
        "seq": 1,
        "vehicle": vehicle,
    }
    state.update(kw)
    return state
