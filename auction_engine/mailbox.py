"""Commands for a lot owned by another node, and their answers: each node's mailbox stream.

A bid that reaches a node that does not own its lot is written to the owner's mailbox
(`auction:{node:N}:mail`); the owner runs it like a local one and writes the answer to the
sender's mailbox. If the owner dies with a letter unread, the sender's wait times out and the
engine sends it again to whoever owns the lot then: the bid id makes that retry idempotent
(the first answer is stored with the log entry), so a bid is never placed twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import msgpack

from .tail import Entries, StreamTail

CAP = 100_000  # letters kept per mailbox (MAXLEN ~): minutes of a sale day's forwarded bids


def mailbox_key(node: str) -> str:
    return f"auction:{{node:{node}}}:mail"


class NoAnswer(Exception):
    """The owner did not answer within the timeout (it may have died; ask the new owner)."""


@dataclass(frozen=True, slots=True)
class Letter:
    """A command forwarded to this node, with where its answer goes."""

    sender: str
    ref: str
    lot: str
    body: dict[str, Any]


class Mailbox:
    """This node's mailbox: forwards commands out, runs those forwarded in, matches answers."""

    def __init__(
        self, redis: Any, node: str, on_letter: Callable[[Letter], Coroutine[Any, Any, None]], block_ms: int = 1000,
    ) -> None:
        self.redis = redis
        self.node = node
        self.on_letter = on_letter
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._tail = StreamTail(redis, mailbox_key(node), self._read, block_ms=block_ms)

    async def start(self) -> None:
        await self._tail.start()

    async def stop(self) -> None:
        await self._tail.stop()
        for future in self._waiting.values():
            if not future.done():
                future.cancel()

    async def ask(self, owner: str, lot: str, body: dict[str, Any], timeout: float,
                  still: Callable[[], Awaitable[bool]] | None = None, every: float = 0.25) -> dict[str, Any]:
        """Send `body` to `owner` for `lot` and wait for the answer; NoAnswer after `timeout`, or as
        soon as `still()` (asked every `every` s) says the owner is no longer worth waiting for."""
        ref = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._waiting[ref] = future
        deadline = loop.time() + timeout
        try:
            await self._post(owner, {"k": "ask", "from": self.node, "ref": ref, "lot": lot, "body": body})
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise NoAnswer(f"no answer from {owner} for lot {lot} within {timeout}s")
                done, _ = await asyncio.wait({future}, timeout=min(remaining, every if still else remaining))
                if done:
                    return future.result()
                if still is not None and not await still():
                    raise NoAnswer(f"{owner} no longer holds lot {lot}")
        finally:
            self._waiting.pop(ref, None)

    async def answer(self, letter: Letter, answer: dict[str, Any]) -> None:
        await self._post(letter.sender, {"k": "answer", "ref": letter.ref, "body": answer})

    async def _post(self, node: str, message: dict[str, Any]) -> None:
        await self.redis.xadd(mailbox_key(node), {"m": msgpack.packb(message)}, maxlen=CAP, approximate=True)

    async def _read(self, entries: Entries) -> None:
        for _id, fields in entries:
            message = msgpack.unpackb(fields[b"m"], raw=False)
            if message["k"] == "answer":
                future = self._waiting.get(message["ref"])
                if future is not None and not future.done():
                    future.set_result(message["body"])
            else:
                letter = Letter(message["from"], message["ref"], message["lot"], message["body"])
                task = asyncio.get_running_loop().create_task(self.on_letter(letter))
                self._running.add(task)  # the loop keeps only a weak reference to a task
                task.add_done_callback(self._running.discard)
