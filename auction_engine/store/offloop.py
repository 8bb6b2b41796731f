"""The SQL writes of a sale, on a thread of their own, so a slow database never delays an ack.

Why: SQLAlchemy's asyncio layer runs everything but the driver's I/O on the event loop that awaits
it: statement compilation, bind processing (a catalogue row's JSON), result processing. On a sale
day the catalogue flush (every 0.5 s, up to 500 lots) and the burst of settlements at the closes ran
there, and every ack of every lot waited behind them: sale-day ack p99 220 ms on a quiet 2-core
machine with 0.1 ms fsyncs, 99 ms with the flush switched off, 55 ms with the settlements off too
(issue 18; docs/performance.md, "Sale day and the disk"). A slow or locked database made it worse:
the flush's wait was short, but everything after it ran in one piece on the loop.

`WriterThread` is a thread with its own asyncio loop and its own connection pool to the same
database (`make_engine`: the same pragmas, the same `BEGIN IMMEDIATE`). The engine's loop hands a
job over (`run`) and is woken with its result; it never runs a line of SQLAlchemy for these writes.
The job is the same code the loop would run (`catalogue.update`, `ledger.record`, `heads.record`),
so what is written, and the ledger's once-per-lot guarantee, do not change. A database that does
not answer (a held SQLite write lock, a PostgreSQL `LOCK TABLE`) holds this thread's job, never the
loop. Python's GIL still interleaves the two threads: while this thread runs Python, the loop waits
up to the interpreter's switch interval each time it takes the GIL back (after every poll, every
callback from uvloop). At the default 5 ms a 1 ms sleep on the loop woke 6 ms late at p50 and 25 ms
at p99 beside a busy thread, against 1 and 5 ms at 0.5 ms (`scripts/bench_sql_loop.py` prints this
probe), so starting a writer lowers the process's switch interval to `SWITCH_INTERVAL_S`.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from .db import make_engine
from .errors import WriterClosed

T = TypeVar("T")
JOIN_S = 10.0  # how long `close` waits for the thread to dispose of its pool
SWITCH_INTERVAL_S = 0.0005  # the GIL hand-over a writer thread needs; never raised, process-wide


class WriterThread:
    """A thread running its own event loop and its own `AsyncEngine` on `url`; `run` a job there."""

    def __init__(self, url: str, name: str = "sql-writer") -> None:
        self.url = url
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: AsyncEngine | None = None
        self._failed: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread and wait until its loop runs and its engine exists (no connection yet)."""
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._thread.start()
        self._ready.wait()
        if self._failed is not None:
            raise self._failed

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._engine = make_engine(self.url)
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
            loop.close()
            return
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(self._engine.dispose())
            loop.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The writer's own loop: for a task that should live there (the escrow outbox worker)."""
        if self._loop is None:
            raise WriterClosed("the SQL writer thread is not running")
        return self._loop

    @property
    def engine(self) -> AsyncEngine:
        """The writer's own pool: only for code that runs on `loop`."""
        if self._engine is None:
            raise WriterClosed("the SQL writer thread is not running")
        return self._engine

    async def run(self, job: Callable[[AsyncEngine], Coroutine[Any, Any, T]]) -> T:
        """Run `job(engine)` on the writer's loop and return (or raise) what it does. Cancelling the
        caller cancels the job. Raises WriterClosed after `close`."""
        loop, engine = self._loop, self._engine
        if self._closed or loop is None or engine is None or not self._thread.is_alive():
            raise WriterClosed("the SQL writer thread is closed")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(job(engine), loop))

    async def close(self) -> None:
        """Stop the loop (jobs still running are cancelled), dispose of the pool, join. Safe twice."""
        if self._closed:
            return
        self._closed = True
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, JOIN_S)
