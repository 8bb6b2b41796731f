"""`Store`: the engine's SQL side (bidders, catalogue, settlement ledger, escrow outbox).

The writes a sale makes while bids are acked (the catalogue flush, settlements, log heads, `writes.py`)
and the escrow deliveries run in the store's writer process (`writerproc.py`), never on the caller's
event loop nor in its interpreter; everything else (bidder registration, queries, payment reports)
runs on the caller's loop as before. `writer="thread"` (`offloop.py`) and `writer="loop"` remain for
the A/B of `scripts/bench_sql_loop.py`.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import catalogue, handoff, heads, ledger
from .db import make_engine, normalise_url, now_ms, writing
from .errors import BidderExists, NoSuchBidder
from .migrate import upgrade_to_head
from .models import Bidder, Settlement
from .offloop import WriterThread
from .outbox import OutboxWorker, Sink, escrow_sink
from .premium import DEFAULT_CNY, PremiumSchedule
from .schema import bidders, lots, outbox
from .writerproc import RemoteOutbox, Setup, WriterProcess
from .writes import WRITES

ESCROW_FILE = "escrow.jsonl"
T = TypeVar("T")
WriterKind = Literal["process", "thread", "loop"]


class Store:
    """Open with `await Store.open(...)`; the schema is migrated to head on open.

    Pending escrow hand-offs left by an earlier run are retried once `start_outbox_worker()` runs.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        data_dir: Path,
        sink: Sink,
        premium: PremiumSchedule,
        payment_days: int,
        worker_options: dict[str, Any],
        writer: WriterThread | None = None,
        process: WriterProcess | None = None,
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.process = process
        self.data_dir = data_dir
        self.premium = premium
        self.payment_days = payment_days
        self.sink = sink
        # The escrow hand-offs of a sale's closes are delivered by the writer (process or thread) too.
        self.outbox: OutboxWorker | RemoteOutbox = (
            RemoteOutbox(process) if process is not None
            else OutboxWorker(writer.engine if writer else engine, sink, **worker_options)
        )
        self._closed = False

    @classmethod
    async def open(
        cls,
        database_url: str | None,
        data_dir: Path,
        escrow_url: str | None = None,
        escrow_secret: str | None = None,
        premium: PremiumSchedule | None = None,
        payment_days: int = 3,
        retry_base_s: float = 0.5,
        retry_cap_s: float = 60.0,
        *,
        poll_s: float = 2.0,
        lease_s: float = 60.0,
        http_timeout_s: float = 10.0,
        writer: WriterKind = "process",
    ) -> "Store":
        """`writer`: where the sale's writes and the escrow deliveries run; "thread" and "loop" (as
        before issue 18) only for the A/B of `scripts/bench_sql_loop.py`."""
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(normalise_url(database_url, data_dir))
        try:
            async with writing(engine) as conn:
                await conn.run_sync(upgrade_to_head)
        except BaseException:
            await engine.dispose()
            raise
        sink = escrow_sink(escrow_url, escrow_secret, http_timeout_s, data_dir / ESCROW_FILE)
        options = {"retry_base_s": retry_base_s, "retry_cap_s": retry_cap_s, "poll_s": poll_s, "lease_s": lease_s}
        url = engine.url.render_as_string(hide_password=False)
        thread = WriterThread(url) if writer == "thread" else None
        process = WriterProcess(Setup(
            url, escrow_file=str(data_dir / ESCROW_FILE), escrow_url=escrow_url, escrow_secret=escrow_secret,
            http_timeout_s=http_timeout_s, outbox=options, log_level=logging.getLogger("auction_engine").getEffectiveLevel(),
        )) if writer == "process" else None
        try:
            if thread is not None:
                thread.start()
            if process is not None:
                await process.start()
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, data_dir, sink, premium or DEFAULT_CNY, payment_days, options, thread, process)

    async def close(self) -> None:
        """Stop the worker and release connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self.outbox.stop()
        if self.process is not None:
            await self.process.close()  # the child closes its own sink
            await self.sink.aclose()
        elif self.writer is not None:
            await self.writer.run(lambda _: self.sink.aclose())  # the sink's client lives on the writer's loop
            await self.writer.close()
        else:
            await self.sink.aclose()
        await self.engine.dispose()

    async def __aenter__(self) -> "Store":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return writing(self.engine)

    async def _write_named(self, name: str, *args: Any) -> Any:
        """`writes.WRITES[name](conn, *args)` in one write transaction, wherever the writer is."""
        if self.process is not None:
            return await self.process.call(name, *args)
        write = WRITES[name]
        return await self._off_loop(lambda conn: write(conn, *args))

    async def _off_loop(self, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `job` in one write transaction on the writer thread (on this loop without one)."""

        async def in_transaction(engine: AsyncEngine) -> T:
            async with writing(engine) as conn:
                return await job(conn)

        if self.writer is None:
            return await in_transaction(self.engine)
        return await self.writer.run(in_transaction)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    def where(self) -> str:
        """The database as an operator names it, password hidden (for start-up messages)."""
        return self.engine.url.render_as_string(hide_password=True)

    async def ping(self) -> bool:
        try:
            async with self._read() as conn:
                return (await conn.execute(sa.text("SELECT 1"))).scalar() == 1
        except Exception:
            return False

    # bidders

    async def register_bidder(self, bidder: str, paddle: str, credit_limit: int | None = None) -> Bidder:
        record = Bidder(bidder, paddle, credit_limit, now_ms())
        try:
            async with self._write() as conn:
                taken = (
                    await conn.execute(
                        sa.select(bidders.c.bidder, bidders.c.paddle).where(
                            sa.or_(bidders.c.bidder == bidder, bidders.c.paddle == paddle)
                        )
                    )
                ).first()
                if taken is not None:
                    raise BidderExists("bidder", bidder) if taken.bidder == bidder else BidderExists("paddle", paddle)
                await conn.execute(sa.insert(bidders).values(**record.to_dict()))
        except IntegrityError:
            raise BidderExists("bidder or paddle", f"{bidder}/{paddle}") from None
        return record

    async def get_bidder(self, bidder: str) -> Bidder | None:
        async with self._read() as conn:
            row = (await conn.execute(sa.select(bidders).where(bidders.c.bidder == bidder))).first()
        return Bidder(**row._mapping) if row else None

    async def set_suspended(self, bidder: str, suspended_at: int | None, tokens_after: int | None) -> Bidder:
        """Suspend (`suspended_at` set) or reinstate (None) a bidder; `tokens_after` is kept as given.
        Raises NoSuchBidder."""
        async with self._write() as conn:
            done = await conn.execute(sa.update(bidders).where(bidders.c.bidder == bidder).values(
                suspended_at=suspended_at, tokens_after=tokens_after))
            if done.rowcount == 0:
                raise NoSuchBidder(bidder)
        record = await self.get_bidder(bidder)
        assert record is not None
        return record

    async def list_bidders(self) -> list[Bidder]:
        async with self._read() as conn:
            rows = (await conn.execute(sa.select(bidders).order_by(bidders.c.created_at, bidders.c.bidder))).all()
        return [Bidder(**r._mapping) for r in rows]

    # catalogue

    async def upsert_lot(self, public_state: dict[str, Any]) -> None:
        await self._write_named("upsert_lots", [public_state], now_ms())

    async def upsert_lots(self, states: list[dict[str, Any]]) -> None:
        """Bulk form of `upsert_lot` (seeding, benchmarks)."""
        await self._write_named("upsert_lots", states, now_ms())

    async def update_lots(self, states: list[dict[str, Any]]) -> None:
        """Merge the lots' public states into the catalogue, in the writer: a sale-day flush of 500
        rows (their JSON, SQLAlchemy's compilation) never runs on the engine's loop."""
        await self._write_named("update_lots", states, now_ms())

    async def query_lots(
        self,
        status: str | None = None,
        make: str | None = None,
        year_min: int | None = None,
        year_max: int | None = None,
        price_max: int | None = None,
        q: str | None = None,
        sort: str = "ending",
        limit: int = catalogue.DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of public states and the cursor of the next page (None on the last).
        Raises `BadQuery` for a bad sort, limit, status or cursor."""
        filters: dict[str, Any] = dict(status=status, make=make, year_min=year_min, year_max=year_max, price_max=price_max, q=q)
        catalogue.build_query(**filters, sort=sort, limit=limit, cursor=cursor)  # BadQuery before any I/O
        async with self._read() as conn:
            return await catalogue.query(conn, **filters, sort=sort, limit=limit, cursor=cursor)

    async def get_lot(self, lot: str) -> dict[str, Any] | None:
        async with self._read() as conn:
            return (await conn.execute(sa.select(lots.c.state).where(lots.c.lot == lot))).scalar()

    async def catalogue_makes(self) -> list[dict[str, Any]]:
        """Each make in the catalogue once (`catalogue.makes`): the room's make filter."""
        async with self._read() as conn:
            return await catalogue.makes(conn)

    async def lot_ids(self, open_only: bool = True) -> list[str]:
        async with self._read() as conn:
            return await catalogue.lot_ids(conn, open_only)

    # lot heads

    async def record_head(self, lot: str, seq: int, head_hash: str) -> None:
        """Remember the lot's log head (seq, hex hash); an older head than the stored one is ignored."""
        await self._write_named("record_head", lot, seq, head_hash, now_ms())

    async def lot_heads(self) -> dict[str, heads.Head]:
        async with self._read() as conn:
            return await heads.load(conn)

    # settlements

    async def record_settlement(
        self,
        lot: str,
        result: str,
        winner: str | None,
        winner_paddle: str | None,
        price: int | None,
        currency: str,
        closed_at: int,
        final_seq: int,
        head_hash: str,
        hold_until: int = 0,
        report_version: int | None = None,
    ) -> Settlement:
        """Write the lot's settlement once (see `ledger`); a sold result is queued for escrow in
        the same transaction, its first attempt not before `hold_until`. A repeat returns the stored record.
        Written by the writer: a burst of closes never holds the engine's loop."""
        fields = dict(
            lot=lot, result=result, winner=winner, winner_paddle=winner_paddle, price=price, currency=currency,
            closed_at=closed_at, final_seq=final_seq, head_hash=head_hash, schedule=self.premium,
            payment_days=self.payment_days, now=now_ms(), hold_until=hold_until, report_version=report_version,
        )
        recorded: tuple[Settlement, bool] = await self._write_named("record_settlement", fields)
        settlement, queued = recorded
        if queued:
            self.outbox.wake()
        return settlement

    async def void_settlement(self, lot: str, held_until: int) -> bool:
        """Remove a reopened lot's record and its hand-off, still held until `held_until` as it was
        recorded (`ledger.void`); False if escrow may already have it (nothing changes then)."""
        async with self._write() as conn:
            return await ledger.void(conn, lot, now_ms(), held_until)

    async def get_settlement(self, lot: str) -> Settlement | None:
        async with self._read() as conn:
            return await ledger.get(conn, lot)

    async def mark_paid(self, lot: str) -> Settlement:
        """Record escrow's payment report; idempotent (the first `paid_at` stays).
        `UnknownSettlement` if the lot has no record, `NotPayable` if it was not sold."""
        async with self._write() as conn:
            return await ledger.mark_paid(conn, lot, now_ms())

    async def mark_paid_by_staff(self, lot: str, by: str) -> tuple[Settlement, bool]:
        """Staff record a payment escrow did not report (a transfer seen on the statement, cash at
        the desk): paid once, and who marked it and when go into the settlement's history in the
        same transaction. A repeat changes nothing and answers False. `UnknownSettlement` if the lot
        has no record, `NotPayable` if it was not sold."""
        async with self._write() as conn:
            before = await ledger.get(conn, lot)
            record = await ledger.mark_paid(conn, lot, now_ms())
            first = before is not None and before.paid_at is None
            if first and record.paid_at is not None:
                await handoff.record_event(conn, lot, "marked_paid", record.paid_at, by=by)
            return record, first

    async def list_settlements(
        self,
        result: str | None = None,
        paid: bool | None = None,
        winner: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = 1000,
        offset: int = 0,
    ) -> list[Settlement]:
        async with self._read() as conn:
            return await ledger.listing(
                conn, result=result, paid=paid, winner=winner, since=since, until=until, limit=limit, offset=offset
            )

    async def unpaid_won(self, bidder: str | None = None) -> dict[str, int]:
        async with self._read() as conn:
            return await ledger.unpaid_won(conn, bidder)

    # escrow outbox

    def start_outbox_worker(self) -> None:
        """Deliver the escrow hand-offs in the writer process, on the writer thread's loop, or on
        this loop, wherever the writes are."""
        if isinstance(self.outbox, RemoteOutbox):
            self.outbox.start()
        else:
            self.outbox.start(self.writer.loop if self.writer else None)

    async def outbox_entry(self, lot: str) -> dict[str, Any] | None:
        """The hand-off's delivery state: attempts, delivered_at, last_error, next_attempt_at."""
        async with self._read() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        outbox.c.key, outbox.c.attempts, outbox.c.delivered_at, outbox.c.last_error, outbox.c.next_attempt_at
                    ).where(outbox.c.key == ledger.outbox_key(lot))
                )
            ).first()
        return dict(row._mapping) if row else None

    async def pending_deliveries(self) -> int:
        async with self._read() as conn:
            return (
                await conn.execute(sa.select(sa.func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None)))
            ).scalar_one()

    async def wait_delivered(self, lot: str, timeout: float = 10.0, interval: float = 0.02) -> bool:
        """Poll until the lot's hand-off is delivered; False on timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            entry = await self.outbox_entry(lot)
            if entry and entry["delivered_at"] is not None:
                return True
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(interval)
