"""The application (`app.py`): its routes (the API stands alone; the pages only when handed a
directory), its error answers (404, 405, 413 as typed error bodies), a request id on every answer,
and escrow's secret never the token secret."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from auction_engine.app import create_app, escrow_secret_of, metrics_token_of
from auction_engine.config import Config

from ..conftest import METRICS_AUTH, EngineProcess

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


def test_metrics_keep_a_token_of_their_own_and_refuse_to_share_another_secret(tmp_path: Path) -> None:
    for shared in (TOKEN_SECRET, "escrow-secret-0123456789abcdef-01234"):
        with pytest.raises(SystemExit, match="METRICS_TOKEN equals"):
            metrics_token_of(Config(data_dir=tmp_path, auth_secret=TOKEN_SECRET,
                                    escrow_secret="escrow-secret-0123456789abcdef-01234", metrics_token=shared))
    (tmp_path / "own").mkdir()
    own = metrics_token_of(Config(data_dir=tmp_path / "own", auth_secret=TOKEN_SECRET))
    assert own not in (TOKEN_SECRET, escrow_secret_of(Config(data_dir=tmp_path / "own", auth_secret=TOKEN_SECRET)))
    assert (tmp_path / "own" / "metrics-token").stat().st_mode & 0o777 == 0o600


def test_metrics_answer_only_the_metrics_token(module_engine: EngineProcess) -> None:
    staff = {"Authorization": f"Bearer {module_engine.auctioneer_token}"}  # a JWT, even staff's, is not the metrics token
    with httpx.Client(base_url=module_engine.url, timeout=10) as client:
        given = METRICS_AUTH["Authorization"]
        refused = [client.get("/metrics", headers=h) for h in (
            {}, staff, {"Authorization": "Bearer wrong"}, {"Authorization": given.replace("Bearer", "Basic")},
            {"Authorization": given[:-1]})]
        scraped = client.get("/metrics", headers=METRICS_AUTH)
    assert [(r.status_code, r.json()["error"]["code"]) for r in refused] == [(401, "unauthorized")] * 5
    assert all("auction_" not in r.text for r in refused)
    assert scraped.status_code == 200 and "auction_bids_accepted_total" in scraped.text
