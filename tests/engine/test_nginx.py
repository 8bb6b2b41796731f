"""deploy/nginx/auction-engine.conf in front of the real engine, in a real nginx: TLS, the WebSocket
upgrade (welcome, subscribe, a bid acknowledged through the proxy), the request id passed through,
HTTP redirected to HTTPS, and an access log without the `?token=` the WebSocket URL carried."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from auction_engine.redis_server import free_port

from ..conftest import ROOT, EngineProcess
from .helpers import new_lot
from .wsclient import Peer

SITE = ROOT / "deploy" / "nginx" / "auction-engine.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"  # .ci/run installs it (Debian's nginx)


def site_for(engine_port: int, https: int, http: int, tmp: Path) -> str:
    """The shipped site with this test's ports, certificate and log path; nothing else changed."""
    text = SITE.read_text()
    for old, new in [
        ("server 127.0.0.1:8000", f"server 127.0.0.1:{engine_port}"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("listen 80;", f"listen 127.0.0.1:{http};"),
        ("listen [::]:80;", ""),
        ("/etc/letsencrypt/live/auction.example.com/fullchain.pem", str(tmp / "cert.pem")),
        ("/etc/letsencrypt/live/auction.example.com/privkey.pem", str(tmp / "key.pem")),
        ("/var/log/nginx/auction-engine.access.log", str(tmp / "access.log")),
    ]:
        assert old in text, f"the site no longer has {old!r}: update this test with it"
        text = text.replace(old, new)
    return text


@pytest.fixture
def proxied(engine: EngineProcess, tmp_path: Path) -> Iterator[tuple[EngineProcess, int, int, Path]]:
    tmp = tmp_path / "nginx"
    tmp.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=auction.example.com", "-days", "1",
                    "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")], check=True, capture_output=True)
    https, http = free_port(), free_port()
    (tmp / "site.conf").write_text(site_for(engine.port, https, http, tmp))
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(f"{kind}_temp_path {tmp / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'} warn;\ndaemon off;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n{temp}access_log off;\ninclude {tmp / 'site.conf'};\n}}\n")
    checked = subprocess.run([NGINX, "-t", "-p", str(tmp), "-c", str(tmp / "nginx.conf")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"https://127.0.0.1:{https}/healthz", verify=False, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield engine, https, http, tmp
    process.send_signal(signal.SIGQUIT)
    process.wait(timeout=10)


async def test_the_site_proxies_https_and_the_websocket_and_logs_no_token(proxied) -> None:
    engine, https, http, tmp = proxied
    lot = (await new_lot(engine))["lot"]
    with httpx.Client(base_url=f"https://127.0.0.1:{https}", verify=False, timeout=10) as client:
        answer = client.get(f"/api/lots/{lot}", headers={"X-Request-Id": "through-nginx"})
        assert answer.status_code == 200 and answer.json()["lot"] == lot
        assert answer.headers["x-request-id"] and answer.headers["strict-transport-security"]
    redirect = httpx.get(f"http://127.0.0.1:{http}/api/time", timeout=5)
    assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    token = engine.token("bidder", "NX", "951")
    peer = await Peer.open(f"wss://127.0.0.1:{https}/ws", token, ssl=context)
    await peer.send({"type": "subscribe", "lot": lot})
    await peer.next(lambda f: f["type"] == "snapshot")
    ack = await peer.bid(lot, "through-nginx-1", amount=5000)
    assert ack["ok"] and ack["seq"] > 0
    await peer.close()
    log = (tmp / "access.log").read_text()
    assert "GET /ws HTTP/1.1\" 101" in log and f"/api/lots/{lot}" in log
    assert token not in log and "token=" not in log
