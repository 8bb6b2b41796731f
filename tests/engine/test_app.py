"""The application (`app.py`): its routes (the API stands alone; the pages only when handed a
directory), its error answers (404, 405, 413 as typed error bodies), a request id on every answer,
and escrow's secret never the token secret."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from auction_engine.app import create_app, escrow_secret_of
from auction_engine.config import Config

from ..conftest import EngineProcess

TOKEN_SECRET = "token-secret-0123456789abcdef-0123456789"


def _paths(web_dir: Path | None, tmp_path: Path) -> set[str]:
    routes = create_app(Config(data_dir=tmp_path), web_dir=web_dir).routes
    return {r.path for r in routes if isinstance(r, Route | Mount)}


def test_the_api_stands_alone_and_serves_pages_only_from_the_directory_it_is_handed(tmp_path: Path) -> None:
    alone = _paths(None, tmp_path)
    assert {"/api/lots", "/healthz", "/openapi.json"} <= alone and not {"/", "/console", "/static"} & alone
    assert {"/", "/console", "/static"} <= _paths(tmp_path / "web", tmp_path)


def test_escrow_refuses_to_share_the_token_secret_and_otherwise_keeps_one_of_its_own(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="ESCROW_SECRET equals the token secret"):
        escrow_secret_of(Config(data_dir=tmp_path, auth_secret=TOKEN_SECRET, escrow_secret=TOKEN_SECRET))
    own = escrow_secret_of(Config(data_dir=tmp_path, auth_secret=TOKEN_SECRET))
    assert own != TOKEN_SECRET and own == escrow_secret_of(Config(data_dir=tmp_path, auth_secret=TOKEN_SECRET))
    assert (tmp_path / "escrow-secret").exists()


def test_an_unknown_path_a_wrong_method_and_a_large_body_get_typed_error_bodies(module_engine: EngineProcess) -> None:
    with httpx.Client(base_url=module_engine.url, timeout=10) as client:
        missing = client.get("/api/no-such-thing")
        method = client.delete("/api/time")
        large = client.post("/api/lots", content=b"x" * (64 * 1024 + 1),
                            headers={"Authorization": f"Bearer {module_engine.auctioneer_token}"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert (method.status_code, method.json()["error"]["code"]) == (405, "method_not_allowed")
    assert (large.status_code, large.json()["error"]["code"]) == (413, "too_large")


def test_every_answer_carries_a_request_id_and_a_callers_own_id_is_kept(module_engine: EngineProcess) -> None:
    with httpx.Client(base_url=module_engine.url, timeout=10) as client:
        fresh = [client.get("/api/time").headers["x-request-id"] for _ in range(2)]
        kept = client.get("/api/time", headers={"X-Request-Id": "trace-42"}).headers["x-request-id"]
    assert all(fresh) and fresh[0] != fresh[1]
    assert kept == "trace-42"
