"""One bad catalogue row never stops the catalogue for the other lots (issue 9 item 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from auction_engine.config import Config
from auction_engine.engine import Engine
from auction_engine.store import Store


class RowOnly:
    """A stand-in for a LotActor, labelled as one: since the spec checks the vehicle, a real lot
    can no longer produce a row the catalogue refuses, and this test needs one on demand."""

    def __init__(self, lot: str, state: dict[str, Any]) -> None:
        self.lot = lot
        self.state = state

    def public(self, now: int | None = None) -> dict[str, Any]:
        return self.state


def lot_state(lot: str, **vehicle: Any) -> dict[str, Any]:
    return {"lot": lot, "title": f"car {lot}", "status": "open", "start_price": 100, "seq": 1,
            "vehicle": vehicle}


async def test_a_bad_row_is_dropped_and_the_other_lots_still_reach_the_catalogue(tmp_path: Path, redis_url: str) -> None:
    store = await Store.open(None, tmp_path)
    redis = Redis.from_url(redis_url)
    try:
        engine = Engine(Config(data_dir=tmp_path), redis, store)
        good, bad = RowOnly("G1", lot_state("G1", year=2020)), RowOnly("B1", lot_state("B1", year="abc"))
        engine._dirty = {"B1": bad, "G1": good}  # type: ignore[dict-item]
        await engine._write_catalogue()
        rows, _ = await store.query_lots(limit=10)
        assert [row["lot"] for row in rows] == ["G1"]
        assert engine._dirty == {}, "a refused row is not retried for ever"
        good.state = {**good.state, "seq": 2, "price": 500}
        engine._dirty = {"G1": good}  # type: ignore[dict-item]
        await engine._write_catalogue()
        rows, _ = await store.query_lots(limit=10)
        assert rows[0]["price"] == 500
    finally:
        await redis.aclose()
        await store.close()
