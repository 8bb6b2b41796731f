"""Fixtures that start real servers on free loopback ports: redis-server and the engine."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from auction_engine.auth import TokenSigner
from auction_engine.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent

# The engines of the suite write SQL on the writer thread: the shipped default, a writer process per
# engine, costs each of the suite's hundreds of engine starts a second Python start-up (~0.7 s of CPU;
# three engine test files took 68 s with it, 41 s on the thread; the whole CI run 27.5 min against
# 20). The process is what these tests run instead:
# tests/store/test_writerproc.py and test_offloop.py (the store), tests/engine/test_cli.py (the
# README's `serve`), the kill -9 tests of tests/engine/test_aftersale_http.py and test_crash.py, and
# every benchmark. A test that sets AUCTION_SQL_WRITER itself keeps its own.
os.environ.setdefault("AUCTION_SQL_WRITER", "thread")
# The suite reads /metrics before and after what it checks, often within a second: its engines make the
# text at every scrape. tests/engine/test_scrape.py runs the shipped default (once a second at most).
os.environ.setdefault("AUCTION_METRICS_EVERY_S", "0")
SECRET = "test-secret-0123456789abcdef-0123456789"
# What every engine the suite starts asks of a /metrics scrape (each would otherwise make its own
# in its data dir); METRICS_AUTH is the header that carries it.
METRICS_TOKEN = "metrics-test-token-0123456789abcdef"
os.environ.setdefault("METRICS_TOKEN", METRICS_TOKEN)
METRICS_AUTH = {"Authorization": f"Bearer {os.environ['METRICS_TOKEN']}"}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), fsync="everysec").start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


def alive(pid: int) -> bool:
    """Is `pid` running? A zombie is gone for our purpose."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def python_children(pid: int) -> list[int]:
    """The Python processes `pid` started (its SQL writer, its contract renderer)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                if b"python" in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]:
                    found.append(int(child))
    return found


@dataclass
class EngineProcess:
    """The real engine in its own process, as `auction-engine serve` runs it."""

    data_dir: Path
    redis_url: str | None
    port: int = field(default_factory=free_port)
    env_extra: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def auctioneer_token(self) -> str:
        return self.token("auctioneer")

    def token(self, role: str, bidder: str | None = None, paddle: str | None = None) -> str:
        """A signed token; a bidder is registered first (the engine refuses bidders it does not know)."""
        if role == "bidder" and bidder and self.process is not None:
            self.register(bidder, paddle or bidder)
        return TokenSigner(SECRET).issue(role, bidder, paddle)

    def register(self, bidder: str, paddle: str, credit_limit: int | None = None) -> None:
        """Register a bidder once (409 for one already known is fine)."""
        reply = httpx.post(f"{self.url}/api/bidders", json={"bidder": bidder, "paddle": paddle, "credit_limit": credit_limit},
                           headers={"Authorization": f"Bearer {self.auctioneer_token}"}, timeout=10)
        assert reply.status_code in (201, 409), reply.text

    def start(self, timeout: float = 20.0) -> EngineProcess:
        env = {**os.environ, "AUTH_SECRET": SECRET, "PYTHONUNBUFFERED": "1", **self.env_extra}
        env.pop("REDIS_URL", None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        with open(self.data_dir / f"engine-{self.port}.log", "ab") as log:  # the child keeps its own copy of the fd
            self.process = subprocess.Popen(
                [sys.executable, "-m", "auction_engine.cli", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"engine exited: {(self.data_dir / f'engine-{self.port}.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("engine did not become healthy")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """kill -9 of the engine and of its Python helpers (the SQL writer, the contract renderer), as
        a machine dying would take them: no shutdown, no flush, no delivery finished on the way out.
        Its redis-server, in a session of its own, stays: the next engine takes it over."""
        if self.process and self.process.poll() is None:
            helpers = python_children(self.process.pid)
            self.process.kill()
            for pid in helpers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def http(self, role: str = "auctioneer", bidder: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(role, bidder)}"} if role != "watcher" else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


@pytest.fixture
def engine(tmp_path: Path, redis_url: str) -> Iterator[EngineProcess]:
    proc = EngineProcess(tmp_path, redis_url).start()
    yield proc
    proc.stop()


@pytest.fixture
def embedded_engine(tmp_path: Path) -> Iterator[EngineProcess]:
    """The engine on its embedded default: its own redis-server child with AOF, SQLite, its SQL
    writer process."""
    proc = EngineProcess(tmp_path, None, env_extra={"AUCTION_SQL_WRITER": "process"}).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def module_engine(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[EngineProcess]:
    """One engine for a whole module (hypothesis examples share it; each uses fresh lots)."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    proc = EngineProcess(tmp_path_factory.mktemp("engine"), redis_server.url).start()
    yield proc
    proc.stop()
