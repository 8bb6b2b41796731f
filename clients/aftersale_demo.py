"""After the demo's hammer: a simulated escrow, logistics partner and buyer take each sold car from
the hand-off to delivered and paid out, over the engine's documented wire only (docs/settlement.md).

With no webhook URLs configured the engine writes each destination's messages to a JSON-lines file
in its data dir (`escrow.jsonl`, `logistics.jsonl`); the simulated partners read those files, as a
real partner would read its webhook, and answer with callbacks signed with the secrets the engine
keeps beside them (`escrow-secret`, `logistics-secret`). The buyer downloads the contract, follows
the car in "My purchases" and confirms receipt; one buyer (when two or more cars sold) opens a
claim instead, which the auctioneer settles with a partial refund.

    python -m clients.aftersale_demo --url http://127.0.0.1:8000 --token <auctioneer> --data-dir ./auction-data LOT...
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

YUAN = 100
TRANSPORT_STEPS = ("picked_up", "in_transit", "delivered")


def signature(secret: str, purpose: str, body: bytes) -> str:
    """`X-Signature: t=<ms>,n=<nonce>,v1=HMAC-SHA256(secret, purpose \\n t \\n nonce \\n body)`."""
    t, nonce = time.time_ns() // 1_000_000, secrets.token_urlsafe(16)
    digest = hmac.new(secret.encode(), f"{purpose}\n{t}\n{nonce}\n".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},n={nonce},v1={digest}"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a torn last line while the engine writes
    return out


class Partners:
    """The simulated outside parties, reading the engine's file sinks in `data_dir`."""

    def __init__(self, http: httpx.AsyncClient, data_dir: Path, escrow_secret: str | None = None) -> None:
        self.http = http
        self.data_dir = data_dir
        self.escrow_secret = escrow_secret or (data_dir / "escrow-secret").read_text().strip()
        self.logistics_secret = (data_dir / "logistics-secret").read_text().strip()

    async def signed(self, path: str, doc: dict[str, Any], secret: str, purpose: str) -> dict[str, Any]:
        body = json.dumps(doc).encode()
        reply = await self.http.post(path, content=body, headers={"X-Signature": signature(secret, purpose, body)})
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        return result

    async def wait_line(self, name: str, match: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in read_jsonl(self.data_dir / name):
                if match(line):
                    return line
            await asyncio.sleep(0.2)
        raise TimeoutError(f"nothing in {name} after {timeout}s")

    async def escrow_collects(self, lot: str) -> dict[str, Any]:
        handed = await self.wait_line("escrow.jsonl", lambda r: r.get("lot") == lot and "result" in r)
        doc = {"lot": lot, "settlement_id": handed["idempotency_key"], "amount_paid": handed["total_due"],
               "paid_at": time.time_ns() // 1_000_000}
        return await self.signed(f"/api/settlements/{lot}/paid", doc, self.escrow_secret, "escrow.paid")

    async def carrier_moves(self, lot: str, report: Callable[[str], None]) -> None:
        order = await self.wait_line("logistics.jsonl", lambda r: r.get("lot") == lot)
        report(f"  {lot}: transport ordered, {order['pickup']['city']} -> {order['destination']['city'] or 'buyer'}")
        for status in TRANSPORT_STEPS:
            await asyncio.sleep(0.5)
            doc = {"lot": lot, "status": status, "at": time.time_ns() // 1_000_000}
            await self.signed(f"/api/settlements/{lot}/transport", doc, self.logistics_secret, "logistics.status")
            report(f"  {lot}: {status}")

    async def escrow_instructed(self, lot: str, kind: str) -> dict[str, Any]:
        return await self.wait_line("escrow.jsonl", lambda r: r.get("lot") == lot and r.get("instruction") == kind)


async def follow(base_url: str, auctioneer_token: str, data_dir: Path, lots: list[str],
                 report: Callable[[str], None] = print, escrow_secret: str | None = None) -> dict[str, str]:
    """Take each sold lot in `lots` to the end of its guarantee; returns `{lot: guarantee state}`.
    The escrow secret is `escrow_secret` (the engine's ESCROW_SECRET) or the engine's file."""
    staff = {"Authorization": f"Bearer {auctioneer_token}"}
    out: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base_url, headers=staff, timeout=10) as http:
        partners = Partners(http, data_dir, escrow_secret)
        sold = [s for s in (await http.get("/api/settlements", params={"result": "sold"})).json()["settlements"]
                if s["lot"] in lots]
        for n, settlement in enumerate(sold):
            lot, buyer = settlement["lot"], settlement["winner"]
            report(f"{lot}: sold to {buyer} for ¥{settlement['hammer_price'] // YUAN:,}, "
                   f"¥{settlement['total_due'] // YUAN:,} due with the premium")
            await partners.escrow_collects(lot)
            report(f"  {lot}: escrow holds the payment")
            token = (await http.post(f"/api/bidders/{buyer}/tokens")).json()["token"]
            as_buyer = {"Authorization": f"Bearer {token}"}
            pdf = await http.get(f"/api/lots/{lot}/contract.pdf", headers=as_buyer)
            report(f"  {lot}: contract {len(pdf.content)} bytes, SHA-256 {pdf.headers.get('x-contract-sha256', '')[:16]}...")
            await partners.carrier_moves(lot, report)
            if n == 1:
                claim = {"reason": "not_as_described", "text": "右后门有划痕未在检测报告中", "photos": []}
                (await http.post(f"/api/settlements/{lot}/claim", json=claim, headers=as_buyer)).raise_for_status()
                refund = settlement["hammer_price"] // 100
                (await http.post(f"/api/settlements/{lot}/claim/resolve",
                                 json={"outcome": "partial_refund", "refund_amount": refund, "note": "补漆"})).raise_for_status()
                report(f"  {lot}: buyer claimed; auctioneer refunds ¥{refund // YUAN:,}")
                await partners.escrow_instructed(lot, "partial_refund")
            else:
                (await http.post(f"/api/settlements/{lot}/receipt", headers=as_buyer)).raise_for_status()
                report(f"  {lot}: buyer confirms receipt")
            released = await partners.escrow_instructed(lot, "release")
            report(f"  {lot}: escrow told to release ¥{released['amount'] // YUAN:,} to the seller")
            out[lot] = (await http.get(f"/api/settlements/{lot}")).json()["guarantee"]["state"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="auctioneer token")
    parser.add_argument("--data-dir", default="./auction-data")
    parser.add_argument("lots", nargs="+")
    args = parser.parse_args()
    asyncio.run(follow(args.url, args.token, Path(args.data_dir), args.lots))


if __name__ == "__main__":
    main()
