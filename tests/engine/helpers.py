"""Shared steps of the engine tests: create lots and talk HTTP as a given role."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

EXAMPLE_LADDER = [[0, 100], [10000, 500], [100000, 1000]]
_ids = itertools.count(1)


def api(engine: Any, role: str = "auctioneer", bidder: str | None = None) -> httpx.AsyncClient:
    headers = {} if role == "watcher" else {"Authorization": f"Bearer {engine.token(role, bidder)}"}
    return httpx.AsyncClient(base_url=engine.url, headers=headers, timeout=10)


async def new_lot(engine: Any, open_it: bool = True, **spec: Any) -> dict[str, Any]:
    body = {"lot": f"T{next(_ids)}", "title": "Toyota Camry 2.0 2019", "start_price": 5000, "duration_s": 600, **spec}
    async with api(engine) as client:
        created = await client.post("/api/lots", json=body)
        assert created.status_code == 201, created.text
        if open_it and body.get("starts_at") is None:
            opened = await client.post(f"/api/lots/{body['lot']}/open")
            assert opened.status_code == 200, opened.text
            return opened.json()
        return created.json()
