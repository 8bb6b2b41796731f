"""The command line a new user meets: `token`, and `export-settlements` after a sale."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from auction_engine.auth import TokenSigner
from auction_engine.redis_server import free_port, redis_server_binary

from ..conftest import ROOT, SECRET, alive, python_children
from .helpers import api, new_lot
from .wsclient import Peer


def cli(*args: str, data_dir=None, secret: str | None = SECRET) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AUTH_SECRET", "DATABASE_URL")}
    if secret:
        env["AUTH_SECRET"] = secret
    extra = ["--data-dir", str(data_dir)] if data_dir else []
    return subprocess.run([sys.executable, "-m", "auction_engine.cli", *args, *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_token_signs_with_auth_secret_or_the_data_dirs_own_secret(tmp_path):
    bidder = cli("token", "--role", "bidder", "--bidder", "dealer-9", "--paddle", "109").stdout.strip()
    principal = TokenSigner(SECRET).read(bidder)
    assert (principal.role, principal.bidder, principal.paddle) == ("bidder", "dealer-9", "109")
    missing = cli("token", "--role", "auditor", data_dir=tmp_path, secret=None)
    assert missing.returncode != 0 and str(tmp_path / "auth-secret") in missing.stderr
    assert not (tmp_path / "auth-secret").exists(), "token never creates a secret (issue 9 item 17)"
    (tmp_path / "auth-secret").write_text("d" * 40)
    made = cli("token", "--role", "auditor", data_dir=tmp_path, secret=None)
    assert TokenSigner("d" * 40).read(made.stdout.strip()).role == "auditor"
    assert str(tmp_path / "auth-secret") in made.stderr
    assert cli("token", "--role", "bidder").returncode == 2


async def test_export_settlements_writes_the_ledger_as_csv(engine):
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A", "101"))
    assert (await peer.bid(lot, "a1", amount=8_000_000))["ok"]
    async with api(engine) as client:
        await client.post(f"/api/lots/{lot}/close")
        for _ in range(50):
            if (await client.get("/api/settlements")).json()["settlements"]:
                break
            await asyncio.sleep(0.1)
    engine.stop()
    out = cli("export-settlements", data_dir=engine.data_dir)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(r["lot"], r["result"], r["hammer_price"]) for r in rows] == [(lot, "sold", "8000000")]


def test_serve_with_no_flags_runs_on_its_embedded_default_in_the_working_directory(tmp_path):
    """The README's first command, as a new user runs it: no REDIS_URL, no --data-dir."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("AUTH_SECRET", "REDIS_URL", "DATABASE_URL", "ESCROW_URL", "AUCTION_SQL_WRITER")}
    server = subprocess.Popen([sys.executable, "-m", "auction_engine.cli", "serve", "--port", str(port)],
                              cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(200):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.05)
        assert health.json() == {"ok": True, "redis": True, "database": True, "quarantined": {}}
        data = tmp_path / "auction-data"
        assert (data / "auth-secret").exists() and (data / "auction.db").exists()
        assert any((data / "redis").glob("appendonly*")), list((data / "redis").iterdir())
        writers = [c for c in python_children(server.pid) if b"writerproc" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(writers) == 1, "the embedded default writes its SQL in a writer process"
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=20)
    assert "auctioneer console" in out and "auctioneer token" in out
    assert f"redis-server:       {redis_server_binary()}" in out and "redis.sock" in out  # which binary runs, and where


def test_ctrl_c_at_the_terminal_stops_the_engine_before_its_writer(tmp_path):
    """Ctrl-C sends SIGINT to the terminal's whole foreground group. The writer process is in a
    session of its own, as the redis-server is: the engine shuts down first and closes it, rather
    than the writer dying under the engine's last writes (it once did, and the engine logged it)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("AUTH_SECRET", "REDIS_URL", "DATABASE_URL", "ESCROW_URL", "AUCTION_SQL_WRITER")}
    server = subprocess.Popen([sys.executable, "-m", "auction_engine.cli", "serve", "--port", str(port)],
                              cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.05)
        writers = [c for c in python_children(server.pid) if b"writerproc" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(writers) == 1
        os.killpg(server.pid, signal.SIGINT)  # the terminal's Ctrl-C: every process of the group
        out, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert "SQL writer process exited" not in out, out
    deadline = time.monotonic() + 10
    while alive(writers[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(writers[0]), "the writer outlived the engine's shutdown"


def test_token_without_a_secret_fails_naming_the_data_dir_and_creates_none(tmp_path, monkeypatch, capsys):
    import pytest as _pytest

    from auction_engine.cli import main

    monkeypatch.delenv("AUTH_SECRET", raising=False)
    monkeypatch.delenv("AUCTION_DATA_DIR", raising=False)
    with _pytest.raises(SystemExit) as exit_:
        main(["token", "--role", "auctioneer", "--data-dir", str(tmp_path / "nowhere")])
    assert str(tmp_path / "nowhere" / "auth-secret") in str(exit_.value)
    assert not (tmp_path / "nowhere").exists()


def test_token_says_on_stderr_which_secret_it_signed_with(tmp_path, monkeypatch, capsys):
    from auction_engine.cli import main

    monkeypatch.delenv("AUTH_SECRET", raising=False)
    (tmp_path / "auth-secret").write_text("s" * 40)
    assert main(["token", "--role", "auditor", "--ttl", "600", "--data-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert str(tmp_path / "auth-secret") in err
    assert TokenSigner("s" * 40).read(out.strip()).role == "auditor"


def test_serve_on_a_busy_port_says_so_in_one_line_and_starts_nothing(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = cli("serve", "--port", str(port), data_dir=tmp_path / "data")
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0] and "--port" in lines[0]
    assert "Traceback" not in result.stderr and "auctioneer console" not in result.stdout
    assert not (tmp_path / "data" / "redis").exists()  # no embedded redis-server was started for nothing


def help_entries(command: str) -> dict[str, str]:
    """`auction-engine COMMAND --help` as {option: its description}, read off argparse's layout: an
    entry starts two spaces in, its description follows two or more spaces or on indented lines."""
    import contextlib

    from auction_engine.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([command, "--help"])
    entries: dict[str, str] = {}
    flag = ""
    for line in out.getvalue().split("options:", 1)[1].splitlines():
        if line.startswith("  -"):
            flag, _, rest = line.strip().partition("  ")
            entries[flag.split()[0].rstrip(",")] = rest.strip()
        elif line.startswith("        ") and flag:
            entries[flag.split()[0].rstrip(",")] += " " + line.strip()
    return entries


def test_every_option_of_every_command_says_what_it_does_and_its_default():
    commands = ["serve", "demo", "cluster-demo", "token", "verify", "export-settlements", "doctor", "backup", "restore"]
    for command in commands:
        entries = help_entries(command)
        assert entries, command
        for flag, description in entries.items():
            assert description, f"{command} {flag}: no description"
    demo = help_entries("demo")
    assert demo["--minutes"].startswith("how long the sample sale runs") and demo["--minutes"].endswith("(default: 5)")
    assert demo["--bidders"] == "how many simulated bidders bid in it (default: 8)"
    assert demo["--port"] == "the port to listen on (default: 8000)"
    assert "(default: text)" in demo["--log-format"]
