"""`backup` from a live engine, `restore` into a new data dir: the restored engine passes `verify` on
every lot and holds every bid acknowledged before the backup began."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
from redis.asyncio import Redis

from auction_engine import backup
from auction_engine.cli import main as cli
from auction_engine.redis_server import RedisServer, free_port
from auction_engine.store import Store
from auction_engine.stream import SETTLED_KEY

from ..conftest import ROOT, SECRET, EngineProcess
from .helpers import new_lot
from .wsclient import Peer


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "auction_engine.cli", *args], cwd=ROOT,
                          env={**base, "AUTH_SECRET": SECRET, **env}, capture_output=True, text=True, timeout=60)


def acked_in_log(engine: EngineProcess, lot: str) -> set[str]:
    """The bid ids in the lot's log, read as an auditor."""
    ids: set[str] = set()
    with httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {engine.token('auditor')}"}) as client:
        since = 0
        while True:
            page = client.get(f"/api/lots/{lot}/events", params={"since": since}).json()
            ids |= {e["command"].get("id") for e in page["events"] if e["command"] and e["command"].get("id")}
            if page["next"] >= page["head"]:
                return ids
            since = page["next"]


async def test_a_restored_engine_verifies_every_lot_and_holds_every_acknowledged_bid(
        engine: EngineProcess, tmp_path_factory) -> None:
    lots = [(await new_lot(engine))["lot"] for _ in range(3)]
    a = await Peer.open(engine.ws_url, engine.token("bidder", "KA", "601"))
    b = await Peer.open(engine.ws_url, engine.token("bidder", "KB", "602"))
    acked: dict[str, set[str]] = {lot: set() for lot in lots}
    for i, lot in enumerate(lots):
        for n, (peer, name) in enumerate([(a, "a"), (b, "b")] * 3):
            ack = await peer.bid(lot, f"{name}{i}-{n}", amount=5000 + 10_000 * (n + 1))
            if ack["ok"]:
                acked[lot].add(ack["id"])
    with httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {engine.auctioneer_token}"}) as staff:
        assert staff.post(f"/api/lots/{lots[0]}/close").status_code == 200
    assert all(acked.values())
    out = tmp_path_factory.mktemp("backup") / "sale.backup"
    made = run("backup", "--out", str(out), "--data-dir", str(engine.data_dir), REDIS_URL=engine.redis_url or "")
    assert made.returncode == 0, made.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    late = await a.bid(lots[1], "after-backup", amount=900_000)  # acknowledged after: not promised
    assert late["ok"]
    await asyncio.gather(a.close(), b.close())
    engine.stop()

    target = tmp_path_factory.mktemp("restored")
    restored = run("restore", str(out), "--data-dir", str(target))  # no REDIS_URL: the embedded redis-server
    assert restored.returncode == 0, restored.stderr
    again = run("restore", str(out), "--data-dir", str(target))
    assert again.returncode == 1 and "not empty" in again.stderr

    second = EngineProcess(target, None).start()
    try:
        for lot in lots:
            assert cli(["verify", lot, "--url", second.url, "--token", second.token("auditor")]) == 0
            assert acked[lot] <= acked_in_log(second, lot)
        assert "after-backup" not in acked_in_log(second, lots[1])
        with httpx.Client(base_url=second.url, headers={"Authorization": f"Bearer {second.auctioneer_token}"}) as staff:
            settled = staff.get("/api/settlements").json()["settlements"]
            assert [s["lot"] for s in settled] == [lots[0]]
            assert staff.get(f"/api/lots/{lots[0]}").json()["status"] == "closed"
    finally:
        second.stop()


async def test_a_lot_settled_between_the_sql_and_redis_reads_is_settled_again_after_restore(
        engine: EngineProcess, tmp_path: Path) -> None:
    """The settlement row is missing from the SQL part (written after it was read) while Redis
    already marks the lot settled: restore unmarks it, so the engine wakes the lot and settles it."""
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "KC", "603"))
    assert (await peer.bid(lot, "c1", amount=50_000))["ok"]
    with httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {engine.auctioneer_token}"}) as staff:
        assert staff.post(f"/api/lots/{lot}/close").status_code == 200
        for _ in range(100):
            if staff.get("/api/settlements").json()["settlements"]:
                break
            await asyncio.sleep(0.05)
    out = tmp_path / "sale.backup"
    assert run("backup", "--out", str(out), "--data-dir", str(engine.data_dir), REDIS_URL=engine.redis_url or "").returncode == 0
    doc = backup.read(out)
    assert [row["lot"] for row in doc["sql"]["settlements"]] == [lot]
    doc["sql"]["settlements"] = []
    server = RedisServer(tmp_path / "r", port=free_port())
    (tmp_path / "r").mkdir()
    server.start()
    try:
        target = Redis.from_url(server.url)
        store = await Store.open(None, tmp_path / "db")
        await backup.restore(target, store, doc)
        assert lot.encode() not in await target.smembers(SETTLED_KEY)
        await store.close()
        await target.aclose()
    finally:
        server.stop()


def test_a_file_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.backup"
    bogus.write_bytes(b"\x1f\x8b" + b"\x00" * 20)
    done = run("restore", str(bogus), "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 1 and "cannot be read as a backup" in done.stderr
