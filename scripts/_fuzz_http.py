"""The HTTP half of scripts/fuzz.py: mutated bodies, paths and query strings on every route that
takes input, with good, missing and broken tokens. A 500 is a finding; so is a hidden value in
an answer to anyone but the auctioneer (who may see reserves and maxima).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import _fuzz_mutate as mut
import httpx

if TYPE_CHECKING:
    from _fuzz_worker import Worker

ACTIONS = ("open", "pause", "resume", "fair_warning", "close", "withdraw", "approve", "reject", "nuke", "..", "%00")
QUERY_NAMES = ("status", "make", "year_min", "year_max", "price_max", "q", "limit", "cursor", "sort", "since", "token")
QUERY_VALUES = ("", "-1", "0", "1", "50", "201", "9" * 25, "1e3", "NaN", "open", "closed", "%00", "\u00e9", "a'b", "' OR 1=1 --",
                "9007199254740993", "-price", "bogus", "[]", "{}")


class HttpFuzz:
    """One loop of requests; a share of the worker's body quota."""

    def __init__(self, worker: Worker) -> None:
        self.w = worker
        self.rng: random.Random = worker.rng
        self.plan = worker.plan
        self.created: list[str] = []

    def _who(self) -> tuple[str, dict[str, str]]:
        """(role, headers): the auctioneer, a fuzz bidder, nobody, or a broken token."""
        roll = self.rng.random()
        if roll < 0.45:
            return "auctioneer", {"Authorization": f"Bearer {self.plan.auctioneer}"}
        if roll < 0.75:
            return "bidder", {"Authorization": f"Bearer {self.rng.choice(list(self.plan.fuzz_bidders.values()))}"}
        if roll < 0.9:
            return "watcher", {}
        return "broken", {"Authorization": self.rng.choice(("Bearer x.y.z", "Bearer", "Basic YTpi", "Bearer " + "A" * 3000))}

    def _lot(self, clean_ok: bool) -> str:
        """A lot to act on: never a clean lot for writes (the valid bidders need them open and sane)."""
        pool = self.plan.fuzz_lots + self.created[-20:] + ["NOPE-1", "a\u0000b", "..", "%2e%2e", "日本", "x" * 80]
        if clean_ok:
            pool += self.plan.clean_lots
        return quote(self.rng.choice(pool), safe="")

    def _body(self, base: dict[str, Any]) -> bytes:
        data = mut.deep_mutate(self.rng, base, self.rng.choice((0, 1, 2, 3)))
        raw = mut.encode(self.rng, data, binary=False)
        return mut.mutate_bytes(self.rng, raw, keep_utf8=False) if self.rng.random() < 0.3 else raw

    def _request(self) -> tuple[str, str, bytes | None, dict[str, str], str]:
        """method, path, body, extra headers, role."""
        role, headers = self._who()
        kind = self.rng.random()
        tag = f"{self.plan.worker}-{self.w.tally.counts['http requests']}"
        if kind < 0.2:
            lot = f"FZL-{tag}"
            self.created.append(lot)
            return "POST", "/api/lots", self._body(mut.lot_spec(self.rng, lot)), headers, role
        if kind < 0.3:
            body = {"bidder": f"fzb-{tag}", "paddle": f"FZP-{tag}", "credit_limit": self.rng.randrange(0, 10**7)}
            return "POST", "/api/bidders", self._body(body), headers, role
        if kind < 0.55:
            body = {self.rng.choice(("amount", "max")): mut.amount(self.rng), "id": f"h{tag}"}
            return "POST", f"/api/lots/{self._lot(False)}/bids", self._body(body), headers, role
        if kind < 0.62:
            body = {"amount": mut.amount(self.rng), "paddle": "FB0", "id": f"fl{tag}"}
            return "POST", f"/api/lots/{self._lot(False)}/floor-bids", self._body(body), headers, role
        if kind < 0.72:
            return "POST", f"/api/lots/{self._lot(False)}/{self.rng.choice(ACTIONS)}", self._body({}), headers, role
        if kind < 0.8:
            lot = self._lot(True)
            body = {"lot": lot, "settlement_id": f"settlement-{lot}", "amount_paid": mut.amount(self.rng), "paid_at": 1}
            sig = self.rng.choice(("t=1,n=a,v1=00", "", "v1=" + "ab" * 32, f"t={10**13},n=x,v1=zz"))
            return "POST", f"/api/settlements/{lot}/paid", self._body(body), {**headers, "X-Signature": sig}, role
        return "GET", self._query_path(), None, headers, role

    def _query_path(self) -> str:
        path = self.rng.choice(("/api/lots", f"/api/lots/{self._lot(True)}/events", f"/api/lots/{self._lot(True)}",
                                "/api/settlements", "/api/time"))
        params = [(self.rng.choice(QUERY_NAMES), self.rng.choice(QUERY_VALUES)) for _ in range(self.rng.randrange(0, 4))]
        # a tuple: httpx takes a tuple of (name, str | int | ...) pairs; a list[tuple[str, str]] is not one (lists are invariant)
        return path + ("?" + str(httpx.QueryParams(tuple(params))) if params else "")

    async def run(self, index: int) -> None:
        limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
        async with httpx.AsyncClient(base_url=self.plan.url, timeout=30, limits=limits) as client:
            while not self.w.over() and self.w.tally.counts["http requests"] < self.plan.bodies:
                method, path, body, headers, role = self._request()
                if body is not None:
                    content_type = self.rng.choice(("application/json",) * 8 + ("text/plain", "application/msgpack"))
                    headers = {**headers, "Content-Type": content_type}
                self.w.tally.counts["http requests"] += 1
                if body is not None:
                    self.w.tally.counts["http bodies sent (mutated)"] += 1
                try:
                    reply = await client.request(method, path, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    self.w.tally.counts["http transport error"] += 1
                    self.w.tally.note(self.w.tally.oddities, f"{method} {path}: {exc!r}")
                    await asyncio.sleep(0.1)
                    continue
                self._check(method, path, body, role, reply)

    def _check(self, method: str, path: str, body: bytes | None, role: str, reply: httpx.Response) -> None:
        tally = self.w.tally
        tally.counts[f"http {reply.status_code}"] += 1
        if reply.status_code >= 500 and reply.status_code != 503:
            tally.note(tally.server_errors, f"{method} {path} {body!r} -> {reply.status_code} {reply.text[:200]}")
        if role != "auctioneer" and self.w.scan.found(reply.content):
            tally.note(tally.leaks, f"http {role} {method} {path}: {reply.text[:300]}")
        if reply.status_code == 200 and path.endswith("/bids"):
            try:
                ack = json.loads(reply.content)
            except ValueError:
                return
            if isinstance(ack, dict) and ack.get("ok") and isinstance(ack.get("seq"), int):
                tally.acks.append((str(ack.get("lot")), ack["seq"], str(ack.get("id")), ""))
