"""One Redis round trip per turn of the event loop for the appends of every lot that has work.

Each lot's actor awaits its own fenced append (`append.lua`). Sent one by one, 500 lots closing
together made 500 round trips, each a connection taken from the pool, a command packed, a write
and a read: about 90 us of the engine's loop per append in redis-py, against about 20 us when the
same appends share one pipeline (a burst of 500, measured with a throwaway script in issue 18;
docs/performance.md, "Sale day and the disk"). Here the appends queued during one turn of the loop
go out together at the start of the next, as one non-transactional pipeline of `EVALSHA` calls.

Each append stays its own script call, so its atomicity, its fencing and its answer are the lot's
own: one lot refused (`Fenced`, `SeqMismatch`) or failing does not touch another's. Redis already
shares one fsync among the commands it reads in one turn; the pipeline makes them arrive in one.
A lost connection fails every append of the pipeline, as it would have failed each of them: every
such lot answers `unavailable` and reloads from the log (`actor.py`).

One batch is in flight at a time: the appends made while it is away wait for its answer and go
out together as the next. Under load the batches grow instead of the round trips multiplying: in
a sale's last seconds, with a turn of the loop every few ms and each answer slowed by the loaded
loop, a pipeline per turn had 35 more connections opened mid-burst (their handshakes 4.5% of the
loop) and as many fsyncs as pipelines. Idle, the first append still leaves at the end of its turn.

With `--min-replicas N` on a single master (`wait`), the batch ends with one `WAIT N timeout` on the
same connection, which covers every write the batch made: an append that wrote is answered only
once N replicas hold it, and `NotReplicated` (never acknowledged; its retry finds the stored answer)
when fewer confirm in time. One WAIT per batch instead of a pipeline and a WAIT per append: in the
sale day with a replica, the append-and-WAIT per lot took 42% of a core and gave acks at p50 30 ms
(docs/performance.md, "Round six").
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from .replication import NotReplicated

Pending = tuple[list[str], list[Any], "asyncio.Future[Any]"]


class TickPipeline:
    """`await run(keys, args)`: the script's reply, as `script(keys=keys, args=args)` would give it."""

    def __init__(self, redis: Redis, script: AsyncScript, wait: tuple[int, int] | None = None) -> None:
        """`wait` = (replicas, timeout ms): each batch ends with `WAIT replicas timeout`."""
        self.redis = redis
        self.script = script
        self.wait = wait
        self._waiting: list[Pending] = []  # with nothing in flight, a `_send` is due at the end of this turn
        self._sending: asyncio.Task[None] | None = None  # the batch in flight

    async def run(self, keys: list[str], args: list[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((keys, args, future))
        if self._sending is None and len(self._waiting) == 1:  # send them all once the turn is over
            loop.call_soon(self._send)
        return await future

    def _send(self) -> None:
        if self._sending is not None or not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        self._sending = task = asyncio.create_task(self._flush(batch), name="append-pipeline")
        task.add_done_callback(self._sent)

    def _sent(self, _task: asyncio.Task[None]) -> None:
        self._sending = None
        if self._waiting:  # what queued meanwhile goes now, as one batch
            self._send()

    async def _flush(self, batch: list[Pending]) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            for keys, args, _ in batch:
                pipe.evalsha(self.script.sha, len(keys), *keys, *args)
            if self.wait is not None:
                pipe.execute_command("WAIT", *self.wait)
            replies = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            for _, _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # the connection, not a lot: every append of the batch fails alike
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        acked = replies.pop() if self.wait is not None else None
        # Redis restarted or was flushed: the script is loaded again and those appends are sent again,
        # as a batch of their own (with its own WAIT: a call on another connection is not covered by this one).
        again = [entry for entry, reply in zip(batch, replies, strict=True) if isinstance(reply, NoScriptError)]
        if again:
            try:
                await self.redis.script_load(self.script.script)
            except Exception as exc:
                for _, _, future in again:
                    _answer(future, exc)
                again = []
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if not isinstance(reply, NoScriptError):
                _answer(future, self._replicated(reply, acked))
        if again:
            await self._flush(again)

    def _replicated(self, reply: Any, acked: Any) -> Any:
        """An append's answer once the batch's WAIT said how many replicas hold it: an append that
        wrote, held by fewer than asked, is `NotReplicated`; a failed WAIT fails all it covered."""
        if self.wait is None:
            return reply
        if isinstance(acked, BaseException):
            return acked
        replicas, timeout_ms = self.wait
        if not isinstance(reply, BaseException) and int(reply[0]) > 0 and isinstance(acked, int) and acked < replicas:
            return NotReplicated(f"{acked} of {replicas} replicas confirmed within {timeout_ms} ms")
        return reply


def _answer(future: asyncio.Future[Any], reply: Any) -> None:
    if future.done():
        return
    if isinstance(reply, BaseException):
        future.set_exception(reply)
    else:
        future.set_result(reply)
