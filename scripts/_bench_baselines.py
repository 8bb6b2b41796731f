"""The fan-out servers people deploy instead of us, installed, started and stopped by the bench.

- **bare `websockets`** (`_bench_fanout.py serve`): the sockets alone.
- **Nchan** (Debian's `libnginx-mod-nchan`): nginx with a publisher location (`POST /pub/{lot}`)
  and a WebSocket subscriber location (`/sub/{lot}`); one worker process, its own prefix, config,
  pid file and logs in the bench's temp dir (nothing root-owned), loopback only.
- **Socket.IO** (npm `socket.io` 4 with `bufferutil` and `utf-8-validate`, as its performance
  guide recommends, on the machine's `node`), installed once into ~/.cache/auction-bench/socketio:
  a `bid` emit is broadcast to the lot's room (`io.to(lot).emit`), encoded once per broadcast.

Each start returns a `Server` or, when the software is absent and cannot be installed, a `Skip`
with the reason; the bench prints the reason and goes on. Never used by the test suite.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "auction-bench"
NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
TICK = os.sysconf("SC_CLK_TCK")

NGINX_CONF = """\
load_module {module};
worker_processes 1;
worker_rlimit_nofile 65536;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
daemon off;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  keepalive_requests 100000000;  # the driver publishes on one keep-alive connection (default: closed after 1,000)
  keepalive_timeout 600s;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location ~ ^/pub/([\\w-]+)$ {{
      nchan_publisher;
      nchan_channel_id $1;
      nchan_message_buffer_length 64;
      nchan_message_timeout 60s;
    }}
    location ~ ^/sub/([\\w-]+)$ {{
      nchan_subscriber websocket;
      nchan_channel_id $1;
      nchan_subscriber_first_message newest;
    }}
  }}
}}
"""

SOCKETIO_JS = """\
// The Socket.IO baseline: a room per lot; a `bid` is broadcast to the room, then acked.
const http = require("http");
const fs = require("fs");
const { Server } = require("socket.io");
const port = Number(process.argv[2]);
const template = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const server = http.createServer();
const io = new Server(server, { serveClient: false, perMessageDeflate: false, transports: ["websocket"],
                                maxHttpBufferSize: 65536 });
let seq = 0;
io.on("connection", (socket) => {
  socket.on("subscribe", (lot) => {
    socket.join(lot);
    socket.emit("snapshot", { lot, seq, state: template.state });
  });
  socket.on("bid", (bid) => {
    seq += 1;
    io.to(bid.lot).emit("event", { ...template, lot: bid.lot, seq });
    socket.emit("ack", { id: bid.id, lot: bid.lot, ok: true, seq });
  });
});
server.listen(port, "127.0.0.1", 4096);
"""
SOCKETIO_PACKAGES = ["socket.io@4", "bufferutil@4", "utf-8-validate@6"]


@dataclass
class Skip:
    """A baseline that could not run here, and why."""

    name: str
    reason: str


def children(pid: int) -> list[int]:
    """The processes `pid` started, whichever of its threads started them."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue  # the thread ended meanwhile
    return found


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base: str  # ws://127.0.0.1:port
    version: str

    def pids(self) -> list[int]:
        """The server's process and its children (nginx's worker): their CPU is the server's."""
        return [self.proc.pid, *children(self.proc.pid)]

    def cpu_s(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / TICK

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited {proc.returncode}: {log.read_text(errors='replace')[-1500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"not listening after {timeout} s: {log.read_text(errors='replace')[-1500:]}")


def start_bare(work: Path, frame: str) -> Server:
    port = free_port()
    path = work / "frame.json"
    path.write_text(frame)
    log = work / "bare.log"
    with open(log, "wb") as out:  # closed here once the child has its own descriptor
        proc = subprocess.Popen([sys.executable, str(SCRIPTS / "_bench_fanout.py"), "serve", "--port", str(port),
                                 "--frame", str(path)], cwd=SCRIPTS.parent, stdout=subprocess.DEVNULL, stderr=out)
    _wait_listening(proc, port, log)
    return Server("bare websockets", proc, f"ws://127.0.0.1:{port}", f"websockets {metadata.version('websockets')}")


def _apt_install(package: str) -> str | None:
    """Install a Debian package if we may (root, apt-get present); None on success, else why not."""
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    if os.geteuid() != 0:
        return f"{package} is not installed and this user cannot apt-get install it"
    done = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", package], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return None if done.returncode == 0 else f"apt-get install {package} failed: {done.stderr.strip()[-300:]}"


def start_nchan(work: Path) -> Server | Skip:
    if not NCHAN_MODULE.exists() or shutil.which("nginx") is None:
        why = _apt_install("libnginx-mod-nchan")
        if why is not None or not NCHAN_MODULE.exists():
            return Skip("Nchan", why or f"{NCHAN_MODULE} missing after the install")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp = work / "nchan"
    tmp.mkdir(exist_ok=True)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(module=NCHAN_MODULE, tmp=tmp, port=port))
    log = tmp / "error.log"
    proc = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(conf), "-e", str(log)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_listening(proc, port, log)
    except RuntimeError as exc:
        return Skip("Nchan", f"nginx did not start: {exc}")
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-nchan"], capture_output=True,
                             text=True).stdout.strip()
    return Server("Nchan", proc, f"ws://127.0.0.1:{port}", f"nchan {version or '?'} (nginx, 1 worker)")


def install_socketio() -> Path | Skip:
    """~/.cache/auction-bench/socketio with socket.io installed by npm; once."""
    where = CACHE / "socketio"
    if (where / "node_modules" / "socket.io" / "package.json").exists():
        return where
    if shutil.which("node") is None or shutil.which("npm") is None:
        return Skip("Socket.IO", "no node/npm on PATH")
    where.mkdir(parents=True, exist_ok=True)
    if not (where / "package.json").exists():
        (where / "package.json").write_text('{"name": "auction-bench-socketio", "private": true}\n')
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", *SOCKETIO_PACKAGES], cwd=where,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return Skip("Socket.IO", f"npm install failed: {done.stderr.strip()[-300:]}")
    return where


def start_socketio(work: Path, frame: str) -> Server | Skip:
    where = install_socketio()
    if isinstance(where, Skip):
        return where
    (where / "server.js").write_text(SOCKETIO_JS)
    path = work / "frame.json"
    path.write_text(frame)
    port = free_port()
    log = work / "socketio.log"
    with open(log, "wb") as out:  # closed here once the child has its own descriptor
        proc = subprocess.Popen(["node", "server.js", str(port), str(path)], cwd=where, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_listening(proc, port, log)
    except RuntimeError as exc:
        return Skip("Socket.IO", f"node did not start: {exc}")
    import json

    version = json.loads((where / "node_modules" / "socket.io" / "package.json").read_text())["version"]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return Server("Socket.IO", proc, f"ws://127.0.0.1:{port}", f"socket.io {version}, node {node}")
