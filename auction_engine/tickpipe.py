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
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from . import metrics
from .replication import NotReplicated


@dataclass(slots=True)
class Pending:
    """One lot's append on its way, with the times that split its wait (metrics.PIPELINE_SECONDS)."""

    keys: list[str]
    args: list[Any]
    future: asyncio.Future[Any]
    queued: float = field(default_factory=time.perf_counter)
    answered: float = 0.0


class TickPipeline:
    """`await run(keys, args)`: the script's reply, as `script(keys=keys, args=args)` would give it."""

    def __init__(self, redis: Redis, script: AsyncScript, wait: tuple[int, int] | None = None) -> None:
        """`wait` = (replicas, timeout ms): each batch ends with `WAIT replicas timeout`."""
        self.redis = redis
        self.script = script
        self.wait = wait
        self._waiting: list[Pending] = []  # appends not yet sent
        self._sending: asyncio.Task[None] | None = None  # sends batches while there are any

    async def run(self, keys: list[str], args: list[Any]) -> Any:
        pending = Pending(keys, args, asyncio.get_running_loop().create_future())
        self._waiting.append(pending)
        if self._sending is None:  # its first step runs once this turn is over, taking every append made in it
            self._sending = asyncio.create_task(self._send(), name="append-pipeline")
        reply = await pending.future
        metrics.labelled(metrics.PIPELINE_SECONDS, "resumed").observe(time.perf_counter() - pending.answered)
        return reply

    async def _send(self) -> None:
        """Batch after batch in one task: what queued while a batch was away leaves as soon as it is
        answered. A task per batch, started from the last one's done callback, cost two turns of the
        loop between batches: in the sale day's last seconds, turns of several ms made an append wait
        4x its round trip (docs/performance.md, "Round eight")."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._flush(batch)
                except Exception as exc:  # a reply this code did not expect: that batch fails, the next still goes
                    for pending in batch:
                        _answer(pending, exc)
        except asyncio.CancelledError:
            for pending in self._waiting:
                pending.future.cancel()
            self._waiting = []
            raise
        finally:
            self._sending = None

    async def _flush(self, batch: list[Pending]) -> None:
        sent = time.perf_counter()
        waiting = metrics.labelled(metrics.PIPELINE_SECONDS, "waiting")
        for pending in batch:
            waiting.observe(sent - pending.queued)
        metrics.PIPELINE_APPENDS.observe(len(batch))
        try:
            pipe = self.redis.pipeline(transaction=False)
            for pending in batch:
                pipe.evalsha(self.script.sha, len(pending.keys), *pending.keys, *pending.args)
            if self.wait is not None:
                pipe.execute_command("WAIT", *self.wait)
            replies = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            for pending in batch:
                pending.future.cancel()
            raise
        except Exception as exc:  # the connection, not a lot: every append of the batch fails alike
            for pending in batch:
                _answer(pending, exc)
            return
        answered = time.perf_counter()
        metrics.labelled(metrics.PIPELINE_SECONDS, "round_trip").observe(answered - sent)
        acked = replies.pop() if self.wait is not None else None
        # Redis restarted or was flushed: the script is loaded again and those appends are sent again,
        # as a batch of their own (with its own WAIT: a call on another connection is not covered by this one).
        again = [pending for pending, reply in zip(batch, replies, strict=True) if isinstance(reply, NoScriptError)]
        if again:
            try:
                await self.redis.script_load(self.script.script)
            except Exception as exc:
                for pending in again:
                    _answer(pending, exc)
                again = []
        for pending, reply in zip(batch, replies, strict=True):
            if not isinstance(reply, NoScriptError):
                _answer(pending, self._replicated(reply, acked))
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


def _answer(pending: Pending, reply: Any) -> None:
    future = pending.future
    if future.done():
        return
    pending.answered = time.perf_counter()
    if isinstance(reply, BaseException):
        future.set_exception(reply)
    else:
        future.set_result(reply)
