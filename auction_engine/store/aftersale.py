"""`AfterSale`: the steps around the settlement on the SQL store, and the worker that keeps them going.

Each step is one transaction that writes its state, its history and its outbox rows together. The
worker repairs what a crash can leave half-done, so nothing depends on the process that started it:
a sold lot without its contract gets it rendered (once the node has had no bid for a while, or its
sale is old enough: see `AfterSale`); a paid lot without its guarantee and transport
order gets them; a guarantee whose window ended with no open claim is released. Outbox rows for
escrow go through the store's escrow worker; the logistics partner has its own worker and sink.
"""

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import priority
from . import contract, dealers, guarantee, handoff, transport
from .db import now_ms, writing
from .errors import StepRefused
from .guarantee import Claim, Guarantee
from .ledger import get as get_settlement
from .models import Settlement
from .outbox import HttpSink, JsonlSink, OutboxWorker, Sink
from .schema import guarantees, settlements
from .store import Store

logger = logging.getLogger(__name__)

LOGISTICS_FILE = "logistics.jsonl"
DAY_MS = 86_400_000
WINDOW_FROM = ("paid", "delivered")


@functools.cache
def _renderer() -> concurrent.futures.ProcessPoolExecutor:
    """One process that renders contracts, started on first use and kept for the process's life.

    fontTools parses and subsets the CJK font in pure Python for about a second per contract; in a
    thread it held the GIL long enough to stall the engine's event loop (bids, acks) by 310-370 ms
    against 25 ms of the machine's own noise, in a spawned process 39-71 ms
    (scripts/bench_contract.py). `spawn`, not `fork`: the engine has threads and an event loop."""
    return concurrent.futures.ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=start_renderer, initargs=(os.getpid(),),
    )


RENDER_NICE = 15


async def render_off_loop(facts: contract.Facts) -> bytes:
    """The PDF, rendered in the renderer process. Submitted from a thread: the pool spawns its process
    on the first submit, and `run_in_executor` submits on the loop, which held a sale's bids 35 ms at
    its first close (a stall-sampling run of the sale day, docs/performance.md "Round nine")."""
    future = await asyncio.to_thread(_renderer().submit, contract.render, facts)
    pdf: bytes = await asyncio.wrap_future(future)
    return pdf


def start_renderer(parent: int) -> None:
    """The renderer runs at nice `RENDER_NICE`: a sale of 500 lots closing together queues 500
    renders of about a second each, and at the engine's priority they took a core from the bids
    still running on a 2-core machine; nobody waits for a contract within the second."""
    os.setsid()  # a session, so an autogroup, of its own: nice alone yields only within a session
    priority.lower(RENDER_NICE, idle=True)
    exit_with_parent(parent)


def exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """In the renderer: end when the engine that started it is gone. An engine killed with -9 never
    shuts its pool down, and the worker, holding both ends of its own call queue, would wait for
    work forever (one idle renderer left behind per crash)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os.kill(os.getpid(), signal.SIGTERM)  # the default action: the process ends, as its engine did

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class AfterSale:
    def __init__(
        self,
        store: Store,
        *,
        window_ms: int = 7 * DAY_MS,
        window_from: str = "paid",
        deposit_multiple: int = 10,
        logistics_url: str | None = None,
        logistics_secret: str | None = None,
        poll_s: float = 1.0,
        retry_base_s: float = 0.5,
        retry_cap_s: float = 60.0,
        lease_s: float = 30.0,
        busy: Callable[[float], bool] | None = None,
        quiet_s: float = 5.0,
        defer_max_s: float = 600.0,
        busy_every_s: float = 10.0,
    ) -> None:
        """`busy(quiet_s)`: whether a bid came in to this node in the last `quiet_s` seconds
        (`Engine.bidding_within`). While one did, the worker renders no contract ahead of its
        download unless its sale is more than `defer_max_s` old, and then one per `busy_every_s`;
        once the node is quiet, it renders them back to back.

        Why: a sale's 500 lots close within seconds of each other, and rendering their contracts
        then took a core for minutes (about 0.4 s of fontTools each, the first in a new process
        about 1.7 s) plus three SQL transactions each on this loop, from the second the sale's last
        bids were placed. Its sale-day ack p99 was 74-149 ms with the renders and 28-37 ms without
        them, though the renderer already ran at SCHED_IDLE; rendering one per 10 s from the first
        close was no better (65-89 ms; docs/performance.md "Round twelve"). Nobody waits for a
        contract rendered ahead: a buyer who downloads one first gets it rendered on the spot
        (`contract`). The deadline keeps a node that is never quiet from never rendering them."""
        if window_from not in WINDOW_FROM:
            raise ValueError(f"the claims window starts at one of {WINDOW_FROM}")
        self.store = store
        self.window_ms = window_ms
        self.window_from = window_from
        self.deposit_multiple = deposit_multiple
        self.poll_s = poll_s
        sink: Sink = (
            HttpSink(logistics_url, logistics_secret) if logistics_url else JsonlSink(Path(store.data_dir) / LOGISTICS_FILE)
        )
        self.logistics = OutboxWorker(store.engine, sink, destination=handoff.LOGISTICS, retry_base_s=retry_base_s,
                                      retry_cap_s=retry_cap_s, poll_s=poll_s, lease_s=lease_s)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._busy = busy
        self.quiet_s = quiet_s
        self.defer_max_ms = int(defer_max_s * 1000)
        self.busy_every_s = busy_every_s
        self._rendered_at = -math.inf  # time.monotonic() of the worker's last render

    # -- the worker ---------------------------------------------------------------

    def start(self) -> None:
        self.logistics.start()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="aftersale")

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.logistics.stop()
        await self.logistics.sink.aclose()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                logger.exception("after-sale pass failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def run_once(self, now: int | None = None) -> None:
        """One pass: contracts, guarantees of paid lots, releases due (each idempotent)."""
        at = now if now is not None else now_ms()
        overdue_only = self._busy is not None and self._busy(self.quiet_s)
        async with self._read() as conn:
            unrendered = await contract.missing(conn, decided_before=at - self.defer_max_ms if overdue_only else None)
            unheld = list((await conn.execute(
                sa.select(settlements.c.lot).where(
                    settlements.c.result == "sold", settlements.c.paid_at.is_not(None),
                    settlements.c.lot.not_in(sa.select(guarantees.c.lot)))
                .limit(100))).scalars())
            due = await guarantee.due(conn, at)
        for lot in unrendered:
            if not self._may_render(overdue_only):
                break
            try:
                await self.contract(lot)
            except StepRefused as exc:  # still voidable (a live lot's reopen window): next pass
                if exc.code != "contract_pending":
                    raise
            else:
                self._rendered_at = time.monotonic()
        for lot in unheld:
            await self.on_paid(lot)
        for lot in due:
            async with self._write() as conn:
                await guarantee.release_due(conn, lot, now if now is not None else now_ms())
            self._sent()

    def _may_render(self, overdue_only: bool) -> bool:
        """The worker's next contract may go now: the node is quiet, or (the pass having taken only
        contracts past their deadline) the trickle's turn came. A pass that began on a quiet node
        stops when bids come in: the next takes the overdue ones only."""
        if self._busy is None or not self._busy(self.quiet_s):
            return True
        return overdue_only and time.monotonic() - self._rendered_at >= self.busy_every_s

    # -- transactions ---------------------------------------------------------------

    def _write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return writing(self.store.engine)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self.store.engine.connect() as conn:
            yield conn

    def _sent(self) -> None:
        self.store.outbox.wake()
        self.logistics.wake()

    # -- contracts ------------------------------------------------------------------

    async def contract(self, lot: str) -> tuple[bytes, str]:
        """The lot's contract PDF and its SHA-256: the stored one, else rendered now and stored."""
        async with self._read() as conn:
            kept = await contract.stored(conn, lot)
            if kept is not None:
                return kept
            facts = await contract.facts(conn, lot, self.window_ms / DAY_MS, now_ms())
        pdf = await render_off_loop(facts)
        async with self._write() as conn:
            return await contract.keep(conn, lot, pdf, now_ms())

    # -- the guarantee and claims ----------------------------------------------------

    async def on_paid(self, lot: str) -> None:
        """Hold the paid money and order the transport, once (called on the paid callback and by the worker)."""
        async with self._write() as conn:
            settlement = await get_settlement(conn, lot)
            if settlement is None or settlement.paid_at is None:
                return
            now = now_ms()
            await guarantee.open_guarantee(conn, settlement, self.window_ms, self.window_from == "paid", now)
            await transport.order(conn, settlement, now)
        self._sent()

    async def confirm_receipt(self, lot: str, bidder: str, now: int | None = None) -> Guarantee:
        async with self._write() as conn:
            held = await guarantee.confirm_receipt(conn, lot, bidder, now or now_ms())
        self._sent()
        return held

    async def open_claim(
        self, lot: str, bidder: str, reason: str, text: str, photos: list[str], now: int | None = None
    ) -> Claim:
        async with self._write() as conn:
            return await guarantee.open_claim(conn, lot, bidder, reason, text, photos, now or now_ms())

    async def resolve_claim(self, lot: str, outcome: str, refund_amount: int | None, note: str, now: int | None = None) -> Claim:
        async with self._write() as conn:
            claim = await guarantee.resolve_claim(conn, lot, outcome, refund_amount, note, now or now_ms())
        self._sent()
        return claim

    async def record(self, lot: str) -> dict[str, Any]:
        """The settlement with its whole history: guarantee, claim, instructions, transport, deliveries."""
        async with self._read() as conn:
            settlement = await get_settlement(conn, lot)
            if settlement is None:
                return {}
            held, claim = await guarantee.get(conn, lot), await guarantee.get_claim(conn, lot)
            moved = await transport.get(conn, lot)
            sha = (await conn.execute(sa.select(settlements.c.contract_sha256).where(settlements.c.lot == lot))).scalar()
            return {
                "settlement": settlement.to_dict(),
                "contract_sha256": sha,
                "guarantee": held.to_dict() if held else None,
                "claim": claim.to_dict() if claim else None,
                "instructions": await guarantee.instructions_of(conn, lot),
                "transport": moved.to_dict() if moved else None,
                "deliveries": await handoff.deliveries(conn, lot),
                "history": await handoff.history(conn, lot),
            }

    async def purchases(self, bidder: str) -> list[dict[str, Any]]:
        """A buyer's won lots with where each stands (the "My auctions" view)."""
        async with self._read() as conn:
            won = [Settlement.from_row(r) for r in (await conn.execute(
                sa.select(settlements).where(settlements.c.winner == bidder, settlements.c.result == "sold")
                .order_by(settlements.c.decided_at))).all()]
        out = []
        for settlement in won:
            record = await self.record(settlement.lot)
            out.append({k: record[k] for k in ("settlement", "contract_sha256", "guarantee", "claim", "transport")})
        return out

    # -- transport ------------------------------------------------------------------

    async def transport_status(self, lot: str, status: str, now: int | None = None) -> transport.Transport:
        at = now or now_ms()
        async with self._write() as conn:
            order, moved = await transport.report(conn, lot, status, at)
            if moved and status == transport.DELIVERED and self.window_from == "delivered":
                await guarantee.start_window(conn, lot, at)
        return order

    # -- dealers --------------------------------------------------------------------

    async def apply(self, fields: dict[str, Any]) -> dealers.Application:
        async with self._write() as conn:
            return await dealers.apply(conn, fields, now_ms())

    async def applications(self, status: str | None = None) -> list[dealers.Application]:
        async with self._read() as conn:
            return await dealers.list_applications(conn, status)

    async def is_dealer(self, bidder: str) -> bool:
        """Whether `bidder` came from an approved dealer application."""
        async with self._read() as conn:
            dealer = await dealers.dealer_of(conn, bidder)
        return dealer is not None and dealer.status == "approved"

    async def application(self, app_id: str) -> dealers.Application:
        async with self._read() as conn:
            return await dealers.get_application(conn, app_id)

    async def decide(self, app_id: str, approve: bool, reason: str | None, bidder: str | None = None) -> dealers.Application:
        async with self._write() as conn:
            return await dealers.decide(conn, app_id, approve, reason, bidder, now_ms())

    async def request_deposit(self, bidder: str, amount: int, currency: str = "CNY") -> dealers.Deposit:
        async with self._write() as conn:
            deposit = await dealers.request_deposit(conn, bidder, amount, currency, now_ms())
        self._sent()
        return deposit

    async def deposit_paid(self, deposit_id: str, bidder: str, amount: int) -> tuple[dealers.Deposit, int]:
        async with self._write() as conn:
            return await dealers.deposit_paid(conn, deposit_id, bidder, amount, self.deposit_multiple, now_ms())

    async def refund_deposit(self, deposit_id: str, owed: int) -> tuple[dealers.Deposit, int]:
        async with self._write() as conn:
            done = await dealers.refund_deposit(conn, deposit_id, owed, self.deposit_multiple, now_ms())
        self._sent()
        return done

    async def deposit(self, deposit_id: str) -> dealers.Deposit:
        async with self._read() as conn:
            return await dealers.get_deposit(conn, deposit_id)

    async def deposits(self, bidder: str) -> list[dealers.Deposit]:
        async with self._read() as conn:
            return await dealers.deposits_of(conn, bidder)
