"""One engine node among many: which lots it writes, and how commands reach the lots it does not.

The node heartbeats into the live set, places lots by rendezvous hashing over it, takes the
leases of the lots that prefer it (or whose owner's lease lapsed), renews them, and hands a lot
over when a node it prefers joins or when this node shuts down. Commands for a lot owned
elsewhere are forwarded to the owner's mailbox; a letter to an owner that died gets no answer,
so the sender asks whoever holds the lease next, and the bid id keeps that retry idempotent.

The engine is the `LotHost`: it loads a lot when the node wins its lease and stops it when the
lease is lost or handed over. Timers, appends and snapshots stay the lot actor's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .mailbox import Letter, Mailbox, NoAnswer
from .ownership import Holder, Lease, Ownership
from .placement import Membership, NodeInfo, preferred
from .redis_down import redis_down

logger = logging.getLogger(__name__)

NOT_OWNER = "not_owner"  # the answer of a node asked about a lot it no longer owns
ADOPT = "adopt"  # a letter from a node handing a lot over: take it now
STOP_WAIT_S = 2.0


class LotHost(Protocol):
    """What the node needs of the engine."""

    async def own(self, lease: Lease) -> None:
        """Load the lot and run its actor, fenced by `lease.epoch`."""

    async def disown(self, lot: str, graceful: bool) -> None:
        """Stop the lot's actor: after its queued commands (graceful) or at once (lease lost)."""

    async def run_here(self, lot: str, body: dict[str, Any]) -> dict[str, Any]:
        """Run a forwarded command on a lot this node owns and return the answer frame."""

    async def placeable_lots(self) -> list[str]:
        """Lots that need a writer (created and not settled)."""


class Node:
    def __init__(
        self,
        redis: Any,
        node_id: str,
        url: str,
        host: LotHost,
        now_ms: Callable[[], int],
        lease_ms: int = 3000,
        incarnation: str | None = None,
    ) -> None:
        self.node_id = node_id
        self.host = host
        self.now_ms = now_ms
        self.lease_ms = lease_ms
        self.ownership = Ownership(redis, node_id, lease_ms, incarnation)
        self.membership = Membership(redis, node_id, url, ttl_ms=lease_ms)
        self.mailbox = Mailbox(redis, node_id, self._letter)
        self.leases: dict[str, Lease] = {}
        self.takeovers = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._moving: set[str] = set()
        self._stopping = False

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        await self.membership.beat(self.now_ms())
        await self.mailbox.start()
        await self.rebalance()
        self._tasks = [
            asyncio.create_task(self._renew_loop(), name="node-renew"),
            asyncio.create_task(self._rebalance_loop(), name="node-rebalance"),
        ]

    async def stop(self) -> None:
        """Leave the live set first (so nobody places lots here), then hand every lot over."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # bounded: the cluster client can retry through a cancellation (the loops also check the flag)
            await asyncio.wait(self._tasks, timeout=STOP_WAIT_S)
        await self.membership.leave()
        others = [n.node for n in await self.live() if n.node != self.node_id]
        await asyncio.gather(*(self._hand_over(lot, preferred(lot, others)) for lot in list(self.leases)),
                             return_exceptions=True)
        await self.mailbox.stop()

    # -- placement ----------------------------------------------------------------

    async def live(self) -> list[NodeInfo]:
        return await self.membership.live(self.now_ms())

    async def rebalance(self) -> None:
        """Take the lots that prefer this node and have no writer; hand over those preferring another."""
        live = [n.node for n in await self.live()]
        if self.node_id not in live and not self._stopping:
            live.append(self.node_id)
        for lot in await self.host.placeable_lots():
            if lot in self._moving:
                continue
            want = preferred(lot, live)
            if lot in self.leases:
                if want is not None and want != self.node_id:
                    await self._hand_over(lot, want)
            elif want == self.node_id:
                await self.try_take(lot)  # refused while another holds it; taken once its lease lapses

    async def try_take(self, lot: str) -> Lease | Holder:
        result = await self.ownership.acquire(lot, self.now_ms())
        if isinstance(result, Lease):
            self._moving.add(lot)
            try:
                self.leases[lot] = result
                if result.taken:
                    self.takeovers += 1
                await self.host.own(result)
            except Exception:
                self.leases.pop(lot, None)
                await self.ownership.release(result, self.now_ms())
                logger.exception("loading lot %s failed; released it", lot)
                raise
            finally:
                self._moving.discard(lot)
        return result

    async def _hand_over(self, lot: str, to: str | None) -> None:
        """Stop the lot after its queued commands, release it, and tell `to` to take it now
        rather than at its next rebalance (a lost letter costs only that wait)."""
        lease = self.leases.get(lot)
        if lease is None:
            return
        self._moving.add(lot)
        try:
            await self.host.disown(lot, graceful=True)
            self.leases.pop(lot, None)
            await self.ownership.release(lease, self.now_ms())
        finally:
            self._moving.discard(lot)
        if to is not None:
            with contextlib.suppress(NoAnswer, ConnectionError, OSError):
                await self.mailbox.ask(to, lot, {ADOPT: 1}, timeout=1.0)

    async def lost(self, lot: str) -> None:
        """The lease is gone (it expired, or an append was fenced): stop writing at once."""
        if self.leases.pop(lot, None) is not None:
            await self.host.disown(lot, graceful=False)

    async def _renew_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                now = self.now_ms()
                await self.membership.beat(now)
                leases = list(self.leases.values())
                kept = await asyncio.gather(*(self.ownership.renew(lease, now) for lease in leases), return_exceptions=True)
                for lease, ok in zip(leases, kept, strict=True):
                    if ok is False and self.leases.get(lease.lot) == lease:  # not handed over meanwhile
                        logger.warning("lost the lease of lot %s (epoch %d)", lease.lot, lease.epoch)
                        await self.lost(lease.lot)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("lease renewal failed; retrying", exc_info=True)

    async def _rebalance_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(max(0.2, self.lease_ms / 3000))
            try:
                await self.rebalance()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("rebalance failed; retrying", exc_info=True)

    # -- forwarding -----------------------------------------------------------------

    async def owner_of(self, lot: str) -> Holder | None:
        return await self.ownership.holder(lot)

    async def forward(self, lot: str, body: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """The answer of the lot's owner, wherever it is; None when no owner answered in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if lot in self._moving:  # its writer is being loaded or stopped here: ask again in a moment
                await asyncio.sleep(0.02)
                continue
            if lot in self.leases:
                return await self.host.run_here(lot, body)
            try:
                holder = await self.ownership.holder(lot)
                if holder is None or holder.node == self.node_id:
                    await asyncio.sleep(0.05)  # no writer yet (a takeover in progress), or this node is taking it
                    continue
                answer = await self.mailbox.ask(
                    holder.node, lot, body, timeout=max(0.05, deadline - loop.time()), still=self._holds(lot, holder),
                )
            except NoAnswer:
                continue
            except Exception as exc:
                if not redis_down(exc):
                    raise
                await asyncio.sleep(0.1)  # the lot's Redis shard fails over: ask again until the deadline
                continue
            if answer.get("code") == NOT_OWNER:
                await asyncio.sleep(0.02)
                continue
            return answer
        return None

    def _holds(self, lot: str, holder: Holder) -> Callable[[], Awaitable[bool]]:
        """While waiting for `holder`'s answer: does it still hold the lot? A dead owner's lease
        lapses and the lot is taken; the letter is then sent to the new owner at once (the bid id
        keeps that idempotent; a staff command the dead owner never read was never run)."""

        async def still() -> bool:
            try:
                return await self.ownership.holder(lot) == holder
            except Exception as exc:
                if not redis_down(exc):
                    raise
                return True  # cannot tell: keep waiting
        return still

    async def _letter(self, letter: Letter) -> None:
        if letter.body.get(ADOPT):
            if letter.lot not in self.leases and letter.lot not in self._moving and not self._stopping:
                with contextlib.suppress(Exception):
                    await self.try_take(letter.lot)
            await self.mailbox.answer(letter, {"adopted": letter.lot in self.leases})
            return
        if letter.lot not in self.leases or letter.lot in self._moving:  # the sender asks again
            await self.mailbox.answer(letter, {"type": "error", "code": NOT_OWNER, "message": "ask the lot's owner"})
            return
        try:
            answer = await self.host.run_here(letter.lot, letter.body)
        except Exception as exc:
            logger.exception("forwarded command for lot %s failed", letter.lot)
            answer = {"type": "error", "code": "unavailable", "message": str(exc)}
        await self.mailbox.answer(letter, answer)
