"""The processes of `auction-engine cluster-demo`: a local Redis Cluster and N engine nodes.

The scale-out (docs/scale.md) is only believable when it can be watched: this starts, on one
machine and on loopback only, the same moving parts as production (a Redis Cluster of masters and
replicas, several `auction-engine serve --node-id` processes sharing one database and one
AUTH_SECRET), so that a sale can run across them. Everything lives in one private temporary
directory, the secrets are generated for the run, and `stop` takes it all down in the order that
loses nothing: the nodes first (SIGTERM hands their lots over, then they flush), then Redis.

A Ctrl-C in a terminal is sent to the whole foreground process group. The nodes get a session
of their own and the redis-servers start with SIGINT blocked, so only this process sees it and
stops the children in order (Redis would otherwise shut down under nodes that still write).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .auth import TokenSigner
from .redis_cluster import ClusterError, LocalRedisCluster

NODE_START_TIMEOUT_S = 90.0
NODE_STOP_TIMEOUT_S = 20.0


class ClusterDemoError(RuntimeError):
    """The demo cluster could not start: a port in use, a node or Redis that did not come up."""


@dataclass
class DemoNode:
    """One `auction-engine serve --node-id` child process."""

    node_id: str
    host: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "engine.log"


@contextmanager
def blocked(*signals: signal.Signals) -> Iterator[None]:
    """`signals` held back in this thread (and in children started meanwhile, which inherit the mask)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, set(signals))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class DemoCluster:
    """`shards` Redis masters with one replica each and `nodes` engine nodes on ports `port`.. `port+nodes-1`."""

    def __init__(self, root: Path, *, nodes: int = 3, shards: int = 3, host: str = "127.0.0.1", port: int = 8000,
                 log_level: str = "warning") -> None:
        if nodes < 1:
            raise ClusterDemoError("--nodes must be at least 1")
        if shards < 3:
            raise ClusterDemoError("--shards must be at least 3: a Redis Cluster needs three masters")
        self.root = root
        self.host = host
        self.log_level = log_level
        self.auth_secret = secrets.token_urlsafe(32)
        self.escrow_secret = secrets.token_urlsafe(32)  # one secret per purpose: never the auth secret
        self.signer = TokenSigner(self.auth_secret)
        self.redis = LocalRedisCluster(root / "redis", masters=shards, replicas=1)
        self.database_url = f"sqlite+aiosqlite:///{root / 'shared.db'}"
        self.nodes = [DemoNode(f"n{k + 1}", host, port + k, root / f"n{k + 1}") for k in range(nodes)]

    def token(self, role: str = "auctioneer", ttl_s: int | None = None) -> str:
        """A token every node accepts: they all check it with the same generated AUTH_SECRET."""
        return self.signer.issue(role, ttl_s=ttl_s)

    def start(self, report: Callable[[str], None] = print) -> None:
        """The Redis Cluster, then node 1 (which creates the shared database), then the others."""
        for node in self.nodes:
            _check_free(node.host, node.port)
        try:
            with blocked(signal.SIGINT):  # not SIGTERM: that is how LocalRedisCluster.stop ends them
                self.redis.start(timeout=60)
        except ClusterError as exc:
            raise ClusterDemoError(f"the local Redis Cluster did not start: {exc}") from exc
        report(f"cluster-demo: Redis Cluster of {self.redis.masters} masters + {self.redis.masters} replicas on "
               f"{', '.join(n.address for n in self.redis.nodes)}")
        first, *rest = self.nodes
        self._launch(first)
        self._wait_healthy(first)
        for node in rest:
            self._launch(node)
        for node in rest:
            self._wait_healthy(node)
        report(f"cluster-demo: {len(self.nodes)} engine nodes up; data, logs and the shared SQLite file in {self.root}")

    def _launch(self, node: DemoNode) -> None:
        node.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {**os.environ, "AUTH_SECRET": self.auth_secret, "ESCROW_SECRET": self.escrow_secret,
               "PYTHONUNBUFFERED": "1"}
        for name in ("NODE_ID", "REDIS_URL", "REDIS_CLUSTER", "DATABASE_URL", "AUCTION_DATA_DIR"):
            env.pop(name, None)  # the flags below say it all; a stray variable must not mix in
        args = [sys.executable, "-m", "auction_engine.cli", "serve", "--node-id", node.node_id,
                "--host", node.host, "--port", str(node.port), "--data-dir", str(node.data_dir),
                "--redis-url", self.redis.url, "--redis-cluster", "--database-url", self.database_url,
                "--log-level", self.log_level]
        with open(node.log, "ab") as log:  # the child keeps its own descriptor
            node.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def _wait_healthy(self, node: DemoNode) -> None:
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if node.process is None or node.process.poll() is not None:
                raise ClusterDemoError(f"node {node.node_id} exited; the end of {node.log}:\n{_tail(node.log)}")
            try:
                if httpx.get(f"{node.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise ClusterDemoError(f"node {node.node_id} did not answer /healthz in {NODE_START_TIMEOUT_S:.0f} s; "
                               f"the end of {node.log}:\n{_tail(node.log)}")

    def exited(self) -> list[str]:
        """Ids of nodes whose process has ended."""
        return [n.node_id for n in self.nodes if n.process is not None and n.process.poll() is not None]

    def stop(self) -> None:
        """Every node (SIGTERM: they hand their lots over and flush; SIGKILL after a timeout), then Redis.
        A second Ctrl-C (or a SIGTERM) meanwhile is held back, so that no child is left behind."""
        with blocked(signal.SIGINT, signal.SIGTERM):
            for node in self.nodes:
                if node.process is not None and node.process.poll() is None:
                    node.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + NODE_STOP_TIMEOUT_S
            for node in self.nodes:
                if node.process is None:
                    continue
                try:
                    node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
                node.process = None
            self.redis.stop()


def _check_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the node's own listen() does
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ClusterDemoError(f"cannot listen on {host}:{port} ({exc.strerror}): pass another --port") from None


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"
