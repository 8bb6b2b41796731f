"""A request that needs Redis while Redis does not answer is told so (503 `unavailable`, retry),
never a 500 with a traceback: the route's Redis error is the engine's weather, not its bug."""

from __future__ import annotations

from pathlib import Path

from auction_engine.redis_server import RedisServer
from tests.conftest import EngineProcess


def test_creating_a_lot_while_redis_is_down_is_503_unavailable_and_the_engine_goes_on(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", fsync="everysec").start()
    (tmp_path / "engine").mkdir()
    engine = EngineProcess(tmp_path / "engine", server.url).start()
    try:
        server.stop()
        with engine.http() as http:
            reply = http.post("/api/lots", json={"lot": "R1", "title": "Honda Fit 2018", "start_price": 100_000,
                                                 "duration_s": 600})
            assert reply.status_code == 503, reply.text
            assert reply.json()["error"]["code"] == "unavailable"
            assert http.get("/api/time").status_code == 200  # still serving
        assert "Traceback" not in (engine.data_dir / f"engine-{engine.port}.log").read_text()
    finally:
        engine.stop()
        server.stop()
