"""The sale's SQL writes in a process of their own, so they never share the engine's GIL.

Why a process and not the writer thread (`offloop.py`): a thread moved the writes off the event
loop, but not out of the interpreter. Each time the loop gives up the GIL (every socket write,
every poll) and the thread is running SQLAlchemy, the loop waits for it back, up to the switch
interval, hundreds of times a second. On a sale day (500 lots, a catalogue flush of up to 500 rows
every 0.5 s, a settlement per close) the loop ran at half a core yet an append waited 50-90 ms at
p50: with the catalogue flush switched off, 10 ms (docs/performance.md, "Round three").
In a process, the writes cost the engine's loop one pickled frame on a pipe each way.

The child is `python -c` calling `main` here (`CHILD`): it reads its setup (the database URL,
the escrow sink, the outbox settings) from its stdin, never its argv, so a password in the URL is
not in `ps`. Then requests `(id, name, args)` for the writes in `writes.WRITES` and the escrow
outbox worker's `start`, `stop` and `wake` arrive on stdin, and `(id, ok, value)` replies leave on
stdout, each frame a 4-byte length and a pickle. The pipe is private to the two processes, and both
ends run this code, which is why pickle is acceptable here and nowhere else.

The escrow hand-offs are delivered by the child too: its outbox worker runs on its own loop with
its own connection pool, as it did on the writer thread. The child ends when its stdin closes, so
an engine killed with -9 leaves no writer behind. If the child dies, the calls in flight fail with
`WriterClosed` (the engine retries settlements and flushes) and the next call starts a new child.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import struct
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .. import priority
from .db import make_engine, writing
from .errors import WriterClosed
from .outbox import OutboxWorker, escrow_sink
from .writes import WRITES

logger = logging.getLogger(__name__)

HEADER = struct.Struct(">I")
WRITER_NICE = 5  # under contention the engine's loop (acks) comes first; the writes can wait a little (priority.py)
START_S = 60.0  # the child imports SQLAlchemy and opens its pool: about a second on a quiet machine
STOP_S = 10.0
# The child first closes every descriptor it inherited but its pipes and stderr: uvloop's subprocess
# leaves them open, and a writer that outlived a killed engine by a second held its listening port,
# so the engine restarted at once could not listen ("Address already in use").
CHILD = "import os; os.closerange(3, os.sysconf('SC_OPEN_MAX')); from {module} import main; main()"


@dataclass(frozen=True)
class Setup:
    """What the child needs: the database, the escrow sink and the outbox worker's settings."""

    url: str
    escrow_file: str
    escrow_url: str | None = None
    escrow_secret: str | None = None
    http_timeout_s: float = 10.0
    outbox: dict[str, Any] = field(default_factory=dict)
    log_level: int = logging.WARNING


def _frame(message: object) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives a pickle round trip (SQLAlchemy's do), else its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class WriterProcess:
    """The parent's side: `await call(name, *args)` runs `writes.WRITES[name](conn, *args)` in one
    write transaction in the child; `outbox_*` drive the child's escrow worker."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next = 0
        self._closed = False
        self._starting: asyncio.Lock | None = None
        self.outbox_started = False
        # Frames sent in one turn of the loop leave in one write at its end: 500 lots closing
        # together wrote a frame each, two with the escrow wake, and those pipe writes were 9% of
        # the engine's loop in a sale's last seconds (docs/performance.md, "Round five").
        self._out: list[bytes] = []
        self._out_to: asyncio.subprocess.Process | None = None
        self._wake_queued = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    async def start(self) -> None:
        """Start the child and hand it its setup; do not wait for it. It imports SQLAlchemy and opens
        its pool (about a second of CPU) while the engine starts beside it, and writes sent meanwhile
        wait in the pipe; a child that fails to start fails them with `WriterClosed`."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._proc is not None and self._proc.returncode is None:
                return
            # Its own session, as the embedded redis-server's: a Ctrl-C at the terminal (SIGINT to the
            # foreground group) reaches the engine, which closes the writer after its own last writes.
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD.format(module=__name__),
                                                        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                        start_new_session=True)
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(_frame(self.setup))
            self._proc = proc
            self._reader = asyncio.create_task(self._read(proc), name="sql-writer-replies")
            if self.outbox_started:  # a restarted child takes the deliveries up again
                self._send(0, "outbox_start", ())

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            ready = await asyncio.wait_for(_read_frame(proc.stdout), START_S)
            if ready != ("ready",):
                logger.error("the SQL writer process did not start: %r", ready)
                proc.kill()
                return
            while True:
                reply = await _read_frame(proc.stdout)
                if reply is None:
                    break
                call_id, ok, value = reply
                future = self._pending.pop(call_id, None)
                if future is not None and not future.done():
                    (future.set_result if ok else future.set_exception)(value)
        except TimeoutError:
            logger.error("the SQL writer process did not start within %.0f s", START_S)
            proc.kill()
        finally:
            code = await proc.wait()
            if not self._closed:
                logger.error("the SQL writer process exited with %s; the next write starts a new one", code)
            pending, self._pending = self._pending, {}
            for future in pending.values():
                if not future.done():
                    future.set_exception(WriterClosed(f"the SQL writer process exited with {code}"))

    def _send(self, call_id: int, name: str, args: tuple[Any, ...]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            raise WriterClosed("the SQL writer process is not running")
        if self._out_to is not proc:  # the first frame of this turn (or a new child's)
            self._out, self._out_to, self._wake_queued = [], proc, False
            asyncio.get_running_loop().call_soon(self._write_out)
        self._out.append(_frame((call_id, name, args)))

    def _write_out(self) -> None:
        frames, proc = self._out, self._out_to
        self._out, self._out_to, self._wake_queued = [], None, False
        # A child that died meanwhile takes nothing: `_read` fails the calls it had in flight.
        if proc is not None and proc is self._proc and proc.stdin is not None and proc.returncode is None and frames:
            proc.stdin.write(b"".join(frames))

    async def call(self, name: str, *args: Any) -> Any:
        """The write's result, or its exception. Raises WriterClosed after `close`, or when the
        child died with this write in flight (it may or may not have committed)."""
        if self._closed:
            raise WriterClosed("the SQL writer process is closed")
        if self._proc is None or self._proc.returncode is not None:
            await self.start()
        self._next += 1
        call_id = self._next
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            self._send(call_id, name, args)
            return await future
        except asyncio.CancelledError:
            if self._pending.pop(call_id, None) is not None:
                with contextlib.suppress(WriterClosed):
                    self._send(0, "cancel", (call_id,))
            raise

    def outbox_wake(self) -> None:
        """One wake per turn: the worker looks for every due row when it wakes."""
        if self._wake_queued and self._out_to is self._proc:
            return
        with contextlib.suppress(WriterClosed):
            self._send(0, "outbox_wake", ())
            self._wake_queued = True

    def outbox_start(self) -> None:
        self.outbox_started = True
        self._send(0, "outbox_start", ())

    async def outbox_stop(self, grace_s: float = 2.0) -> None:
        if self.outbox_started:
            self.outbox_started = False
            with contextlib.suppress(WriterClosed):
                await self.call("outbox_stop", grace_s)

    async def close(self) -> None:
        """Close the child's stdin: it stops its worker, disposes of its pool and exits. Safe twice."""
        if self._closed:
            return
        self._closed = True
        proc = self._proc
        if proc is None:
            return
        self._write_out()  # this turn's frames first: the child runs them before it sees the end
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), STOP_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


class RemoteOutbox:
    """The escrow worker of the writer process, driven as the store drives its own
    (`outbox.OutboxWorker`): started, woken when a settlement queued a hand-off, stopped."""

    def __init__(self, proc: WriterProcess) -> None:
        self.proc = proc

    def wake(self) -> None:
        self.proc.outbox_wake()

    def start(self) -> None:
        self.proc.outbox_start()

    async def stop(self, grace_s: float = 2.0) -> None:
        await self.proc.outbox_stop(grace_s)

    @property
    def running(self) -> bool:
        return self.proc.outbox_started and self.proc.pid is not None


async def _read_frame(stream: asyncio.StreamReader) -> Any:
    try:
        head = await stream.readexactly(HEADER.size)
        return pickle.loads(await stream.readexactly(HEADER.unpack(head)[0]))
    except asyncio.IncompleteReadError:
        return None


# -- the child --------------------------------------------------------------------------------


def _read_blocking(source: BinaryIO) -> Any:
    head = source.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    body = source.read(size)
    if len(body) < size:
        return None
    return pickle.loads(body)


class _Child:
    def __init__(self, setup: Setup, out: BinaryIO) -> None:
        self.out = out
        self.write_lock = threading.Lock()
        self.engine = make_engine(setup.url)
        self.sink = escrow_sink(setup.escrow_url, setup.escrow_secret, setup.http_timeout_s, Path(setup.escrow_file))
        self.outbox = OutboxWorker(self.engine, self.sink, **setup.outbox)
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def reply(self, call_id: int, ok: bool, value: Any) -> None:
        data = _frame((call_id, ok, value))
        with self.write_lock:
            self.out.write(data)
            self.out.flush()

    def handle(self, request: tuple[int, str, tuple[Any, ...]]) -> None:
        call_id, name, args = request
        if name == "cancel":
            task = self.tasks.pop(args[0], None)
            if task is not None:
                task.cancel()
        elif name == "outbox_wake":
            self.outbox.wake()
        else:
            task = asyncio.create_task(self.run(call_id, name, args))
            if call_id:
                self.tasks[call_id] = task
                task.add_done_callback(lambda _: self.tasks.pop(call_id, None))

    async def run(self, call_id: int, name: str, args: tuple[Any, ...]) -> None:
        try:
            value = await self.dispatch(name, args)
        except asyncio.CancelledError:
            return
        except Exception as exc:
            if call_id:
                self.reply(call_id, False, _portable(exc))
            else:
                logger.exception("the SQL writer's %s failed", name)
            return
        if call_id:
            self.reply(call_id, True, value)

    async def dispatch(self, name: str, args: tuple[Any, ...]) -> Any:
        if name == "outbox_start":
            self.outbox.start()
            return None
        if name == "outbox_stop":
            await self.outbox.stop(*args)
            return None
        async with writing(self.engine) as conn:
            return await WRITES[name](conn, *args)

    async def serve(self, requests: asyncio.Queue[Any]) -> None:
        while (request := await requests.get()) is not None:
            self.handle(request)
        await self.outbox.stop()
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await self.sink.aclose()
        await self.engine.dispose()


def main() -> None:
    source, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the reply pipe
    setup = _read_blocking(source)
    if not isinstance(setup, Setup):
        return
    priority.lower(WRITER_NICE, idle=True)  # its own session: its autogroup too (priority.py)
    logging.basicConfig(level=setup.log_level, format="%(levelname)s sql-writer %(name)s: %(message)s")

    async def run() -> None:
        child = _Child(setup, out)
        requests: asyncio.Queue[Any] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def read() -> None:  # a blocking reader: stdin's end is the parent's end, whatever killed it
            while True:
                request = _read_blocking(source)
                loop.call_soon_threadsafe(requests.put_nowait, request)
                if request is None:
                    return

        threading.Thread(target=read, name="requests", daemon=True).start()
        with child.write_lock:
            out.write(_frame(("ready",)))
            out.flush()
        await child.serve(requests)

    asyncio.run(run())
