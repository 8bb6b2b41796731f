"""A local Redis Cluster of real redis-server processes: for `cluster-demo` and the tests.

Production runs its own Redis Cluster; this one exists so that the scale-out can be tried and
tested on one machine with the same moving parts: masters and replicas on loopback ports, a
password on every node (nothing listens without auth), AOF on each, and `redis-cli --cluster
create` to assign the slots. Killing a master (`kill(i)`) makes the cluster promote its replica
after `node_timeout_ms`, which is what the failover tests do.
"""

from __future__ import annotations

import random
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .redis_server import redis_server_binary


class ClusterError(RuntimeError):
    """The local cluster could not be started or did not become healthy."""


@dataclass
class ClusterNode:
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class LocalRedisCluster:
    """`masters` masters with `replicas` replicas each, on free loopback ports under `data_dir`."""

    data_dir: Path
    masters: int = 3
    replicas: int = 1
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    fsync: str = "always"
    node_timeout_ms: int = 2000
    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A URL of one master; the cluster client discovers the rest."""
        return f"redis://:{self.password}@{self.nodes[0].address}/0"

    @property
    def urls(self) -> list[str]:
        return [f"redis://:{self.password}@{n.address}/0" for n in self.nodes]

    def start(self, timeout: float = 30.0) -> LocalRedisCluster:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise ClusterError("redis-cli is not on PATH: a local cluster needs redis-server and redis-cli 7")
        self.data_dir = Path(self.data_dir).resolve()
        for _ in range(self.masters * (1 + self.replicas)):
            port = cluster_port({n.port for n in self.nodes})
            node = ClusterNode(port, self.data_dir / str(port))
            node.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._launch(node)
            self.nodes.append(node)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            self._wait_answering(node, deadline)
        create = [
            cli, "-a", self.password, "--no-auth-warning", "--cluster", "create",
            *[n.address for n in self.nodes], "--cluster-replicas", str(self.replicas), "--cluster-yes",
        ]
        result = subprocess.run(create, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            self.stop()
            raise ClusterError(f"redis-cli --cluster create failed: {result.stdout[-1500:]} {result.stderr[-500:]}")
        self.wait_healthy(deadline - time.monotonic())
        return self

    def _launch(self, node: ClusterNode) -> None:
        args = [
            redis_server_binary(),
            "--bind", "127.0.0.1", "--port", str(node.port), "--dir", str(node.data_dir),
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--appendonly", "yes", "--appendfsync", self.fsync, "--save", "",
            "--requirepass", self.password, "--masterauth", self.password,
            "--protected-mode", "yes", "--logfile", str(node.data_dir / "redis.log"),
            "--rename-command", "DEBUG", "", "--rename-command", "MODULE", "",
        ]
        node.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _ask(self, node: ClusterNode, *command: str) -> str:
        cli = shutil.which("redis-cli") or "redis-cli"
        result = subprocess.run(
            [cli, "-p", str(node.port), "-a", self.password, "--no-auth-warning", *command],
            capture_output=True, text=True, timeout=5,
        )
        return result.stdout

    def _wait_answering(self, node: ClusterNode, deadline: float) -> None:
        while time.monotonic() < deadline:
            if node.process is not None and node.process.poll() is not None:
                raise ClusterError(f"redis-server on {node.port} exited: {_tail(node.data_dir / 'redis.log')}")
            try:
                with socket.create_connection(("127.0.0.1", node.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise ClusterError(f"redis-server on {node.port} did not answer")

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until every live node says `cluster_state:ok` and sees a master for every slot, and, with
        every node up, each master's replicas are online."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [n for n in self.nodes if n.alive]
            if live and all(self._settled(n, len(self.nodes)) for n in live) and self._replicated(live):
                return
            time.sleep(0.1)
        raise ClusterError("the cluster did not reach cluster_state:ok")

    def _replicated(self, live: list[ClusterNode]) -> bool:
        """Every live master has its replicas online (while they sync, a WAIT gets 0 replicas)."""
        if not self.replicas or len(live) < len(self.nodes):
            return True
        for node in live:
            info = self._ask(node, "INFO", "replication")
            if "role:master" in info and info.count("state=online") < self.replicas:
                return False
        return True

    def _settled(self, node: ClusterNode, total: int) -> bool:
        """This node says ok, covers every slot and knows every node: a client sees no MOVED storm."""
        info = dict(
            line.split(":", 1) for line in self._ask(node, "CLUSTER", "INFO").splitlines() if ":" in line
        )
        return (
            info.get("cluster_state", "").strip() == "ok"
            and info.get("cluster_slots_ok", "").strip() == "16384"
            and int(info.get("cluster_known_nodes", "0").strip() or 0) >= total
        )

    def master_ports(self) -> list[int]:
        """Ports of the live masters, as the first live node sees them."""
        live = next(n for n in self.nodes if n.alive)
        ports = []
        for line in self._ask(live, "CLUSTER", "NODES").splitlines():
            parts = line.split()
            if len(parts) > 2 and "master" in parts[2] and "fail" not in parts[2]:
                ports.append(int(parts[1].split("@", 1)[0].rsplit(":", 1)[1]))
        return sorted(p for p in ports if any(n.port == p and n.alive for n in self.nodes))

    def master_of(self, key: str) -> int:
        """The port of the live master that serves `key`'s slot."""
        live = next(n for n in self.nodes if n.alive)
        slot = int(self._ask(live, "CLUSTER", "KEYSLOT", key).strip())
        for line in self._ask(live, "CLUSTER", "NODES").splitlines():
            parts = line.split()
            if len(parts) < 9 or "master" not in parts[2] or "fail" in parts[2]:
                continue
            for span in parts[8:]:
                low, _, high = span.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return int(parts[1].split("@", 1)[0].rsplit(":", 1)[1])
        raise ClusterError(f"no live master serves slot {slot}")

    def node(self, port: int) -> ClusterNode:
        return next(n for n in self.nodes if n.port == port)

    def kill(self, port: int) -> None:
        """kill -9 one node, as a crashed machine would."""
        node = self.node(port)
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait()

    def restart(self, port: int) -> None:
        """Start a killed node again on its own port and data (it rejoins, as a replica if replaced)."""
        self._launch(self.node(port))
        self._wait_answering(self.node(port), time.monotonic() + 10)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
                node.process = None


def cluster_port(taken: set[int]) -> int:
    """A free loopback port whose cluster-bus port (port + 10000) is free too: both under 65536."""
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(20000, 55000)
        if port in taken or port + 10000 in taken:
            continue
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise ClusterError("no free pair of loopback ports for a cluster node")


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-1500:]
    except OSError:
        return "(no log)"
