"""The outbox worker: hands each sold settlement to escrow, at least once, until acknowledged.

Rows are written in the same transaction as the settlement. The worker claims a due row by
moving its `next_attempt_at` a lease ahead with a conditional UPDATE (so two engine processes on
one database never send the same row at the same moment), sends it, then marks it delivered or
schedules the retry with exponential backoff and full jitter:
`delay = uniform(0, min(cap, base * 2 ** (attempts - 1)))`. Receivers deduplicate on the
`Idempotency-Key`, which makes the hand-off exactly-once as they see it.
"""

import asyncio
import concurrent.futures
import contextlib
import fcntl
import json
import logging
import os
import random
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .db import now_ms, writing
from .schema import outbox
from .signing import HEADER, PURPOSE_SETTLEMENT, sign

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The receiver did not take the record; the row will be retried."""


class Sink(Protocol):
    async def deliver(self, key: str, body: bytes, purpose: str = PURPOSE_SETTLEMENT) -> None: ...

    async def aclose(self) -> None: ...


class HttpSink:
    """POST the JSON body with `Idempotency-Key` and `X-Signature`; 2xx or 409 means taken.

    Each attempt is signed afresh (purpose `escrow.settlement`, a new time and nonce): a retry an
    hour later must not carry a stamp the receiver's 5-minute window has already closed on."""

    def __init__(self, url: str, secret: str | None, timeout_s: float = 10.0) -> None:
        self.url = url
        self.secret = secret
        self.client = httpx.AsyncClient(timeout=timeout_s)

    async def deliver(self, key: str, body: bytes, purpose: str = PURPOSE_SETTLEMENT) -> None:
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self.secret:
            headers[HEADER] = sign(self.secret, purpose, body, now_ms=now_ms())
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not (200 <= response.status_code < 300 or response.status_code == 409):
            raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")

    async def aclose(self) -> None:
        await self.client.aclose()


class JsonlSink:
    """The embedded escrow: appends each record once to a JSON-lines file.

    Each line is the settlement body plus its `idempotency_key`. Before appending, the file is
    read up to its end under an exclusive lock, so a record appended before a crash (and not yet
    marked delivered) is found and not written again, even by another process. Appends are
    fsynced. A torn last line from a crash is closed with a newline and ignored.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.keys: set[str] = set()
        self.offset = 0
        self.lock = asyncio.Lock()

    async def deliver(self, key: str, body: bytes, purpose: str = PURPOSE_SETTLEMENT) -> None:
        async with self.lock:
            await asyncio.to_thread(self._append_once, key, body)

    def _append_once(self, key: str, body: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                torn = self._scan(fh)
                if key in self.keys:
                    return
                line = json.dumps({"idempotency_key": key, **json.loads(body)}, sort_keys=True, ensure_ascii=False)
                fh.write((b"\n" if torn else b"") + line.encode() + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
                self.keys.add(key)
                self.offset = fh.tell()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _scan(self, fh: BinaryIO) -> bool:
        """Read lines added since the last scan; True if the file ends in a partial line."""
        fh.seek(self.offset)
        data = fh.read()
        complete = data.rfind(b"\n") + 1
        for line in data[:complete].splitlines():
            try:
                self.keys.add(json.loads(line)["idempotency_key"])
            except (ValueError, KeyError, TypeError):
                continue
        self.offset += complete
        return complete < len(data)

    async def aclose(self) -> None:
        return None


def escrow_sink(escrow_url: str | None, escrow_secret: str | None, timeout_s: float, escrow_file: Path) -> Sink:
    """Where settlements are handed over: the escrow's HTTP endpoint, or the embedded file."""
    return HttpSink(escrow_url, escrow_secret, timeout_s) if escrow_url else JsonlSink(escrow_file)


class OutboxWorker:
    def __init__(
        self,
        engine: AsyncEngine,
        sink: Sink,
        *,
        retry_base_s: float = 0.5,
        retry_cap_s: float = 60.0,
        poll_s: float = 2.0,
        lease_s: float = 60.0,
        batch: int = 100,
        destination: str = "escrow",
    ) -> None:
        self.engine = engine
        self.destination = destination
        self.sink = sink
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self.poll_s = poll_s
        self.lease_ms = int(lease_s * 1000)
        self.batch = batch
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Future[None] | concurrent.futures.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def backoff_s(self, attempts: int) -> float:
        return random.uniform(0, min(self.retry_cap_s, self.retry_base_s * 2 ** max(attempts - 1, 0)))

    def wake(self) -> None:
        """Look for due rows now. Safe from any thread: the worker may run on another loop."""
        loop = self._loop
        if loop is None or _running_loop() is loop:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nothing left to wake
                loop.call_soon_threadsafe(self._wake.set)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Run on `loop` (another thread's: the store's writer, so deliveries never take the
        engine's loop), or on the caller's."""
        if self._task is None or self._task.done():
            self._stopping = False
            if loop is None:
                self._loop = asyncio.get_running_loop()
                self._task = asyncio.create_task(self._run(), name=f"outbox-{self.destination}")
            else:
                self._loop = loop
                self._task = asyncio.run_coroutine_threadsafe(self._run(), loop)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, grace_s: float = 2.0) -> None:
        """Let an in-flight delivery finish (up to `grace_s`), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self.wake()
        waiter = task if isinstance(task, asyncio.Future) else asyncio.wrap_future(task)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(waiter, grace_s)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                delay = await self.run_once()
            except Exception:
                log.exception("outbox pass failed")
                delay = self.poll_s
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def run_once(self) -> float:
        """Deliver every due row once; returns seconds until the next is due (at most poll_s)."""
        now = now_ms()
        async with self.engine.connect() as conn:
            due = (
                await conn.execute(
                    sa.select(outbox.c.id, outbox.c.key, outbox.c.body, outbox.c.attempts, outbox.c.next_attempt_at,
                              outbox.c.purpose)
                    .where(outbox.c.delivered_at.is_(None), outbox.c.next_attempt_at <= now, self._mine)
                    .order_by(outbox.c.next_attempt_at, outbox.c.id)
                    .limit(self.batch)
                )
            ).all()
        for row in due:
            if self._stopping:
                break
            if await self._claim(row.id, row.next_attempt_at):
                await self._attempt(row)
        async with self.engine.connect() as conn:
            soonest = (
                await conn.execute(
                    sa.select(sa.func.min(outbox.c.next_attempt_at)).where(outbox.c.delivered_at.is_(None), self._mine)
                )
            ).scalar()
        if soonest is None:
            return self.poll_s
        return min(self.poll_s, max(0.0, (int(soonest) - now_ms()) / 1000))

    @property
    def _mine(self) -> sa.ColumnElement[bool]:
        return outbox.c.destination == self.destination

    async def _update(self, where: tuple[sa.ColumnElement[bool], ...], **values: Any) -> int:
        async with writing(self.engine) as conn:
            return (await conn.execute(sa.update(outbox).where(*where).values(**values))).rowcount

    async def _claim(self, row_id: int, seen_next: int) -> bool:
        where = (outbox.c.id == row_id, outbox.c.delivered_at.is_(None), outbox.c.next_attempt_at == seen_next)
        return await self._update(where, next_attempt_at=now_ms() + self.lease_ms) == 1

    async def _attempt(self, row: sa.Row[*tuple[Any, ...]]) -> None:
        attempts = row.attempts + 1
        try:
            await self.sink.deliver(row.key, row.body.encode(), row.purpose)
        except asyncio.CancelledError:
            # Stopped mid-send: give the claim back so a restart retries at once, not after the lease.
            await asyncio.shield(self._update((outbox.c.id == row.id,), next_attempt_at=now_ms()))
            raise
        except Exception as exc:
            error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
            delay = self.backoff_s(attempts)
            log.warning("%s hand-off %s failed (attempt %d, retry in %.2fs): %s", self.destination, row.key, attempts, delay,
                        error)
            await self._update(
                (outbox.c.id == row.id,),
                attempts=attempts,
                last_error=error[:1000],
                next_attempt_at=now_ms() + int(delay * 1000),
            )
            return
        await self._update((outbox.c.id == row.id,), attempts=attempts, delivered_at=now_ms(), last_error=None)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
