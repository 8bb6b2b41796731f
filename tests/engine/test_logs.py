"""Structured logs: `--log-format json` lines carry request id, lot, bidder, node; never a token
or a query string; a client's invalid UTF-8 text frame is one warning line, not a traceback."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from auction_engine.logs import ConciseInvalidText, JsonFormatter, StripQuery, bind, logging_config

from ..conftest import EngineProcess
from .helpers import new_lot
from .wsclient import Peer


def send_invalid_utf8_text_frame(port: int) -> list[tuple[int, bytes]]:
    """A handshake on a raw socket, then one masked text frame that is not UTF-8; the server's
    frames (opcode, payload) until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Protocol: auction.v1.json\r\n\r\n").encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(4096)
        assert received.startswith(b"HTTP/1.1 101")
        payload, mask = b"\xff\xfe{bad", os.urandom(4)
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        received = received.split(b"\r\n\r\n", 1)[1]
        while chunk := sock.recv(4096):
            received += chunk
    frames = []
    while received:
        size, at = received[1] & 0x7F, 2
        if size == 126:
            size, at = int.from_bytes(received[2:4], "big"), 4
        frames.append((received[0] & 0x0F, received[at:at + size]))
        received = received[at + size:]
    return frames


@pytest.fixture
def json_engine(tmp_path: Path, redis_url: str):
    proc = EngineProcess(tmp_path, redis_url, env_extra={"AUCTION_LOG_FORMAT": "json", "AUCTION_LOG_LEVEL": "info"}).start()
    yield proc
    proc.stop()


def log_lines(engine: EngineProcess) -> list[str]:
    return (engine.data_dir / f"engine-{engine.port}.log").read_text().splitlines()


async def test_json_lines_carry_request_ids_and_lots_and_never_a_token_or_query(json_engine: EngineProcess) -> None:
    engine = json_engine
    token = engine.auctioneer_token
    lot = (await new_lot(engine))["lot"]
    with httpx.Client(base_url=engine.url, timeout=10) as client:
        answer = client.get(f"/api/lots/{lot}", params={"token": token}, headers={"X-Request-Id": "trace-42"})
        assert answer.headers["x-request-id"] == "trace-42"
        client.get("/api/lots", params={"q": "private-search", "token": token})
        assert len(client.get("/api/time", headers={"X-Request-Id": "bad id with spaces"}).headers["x-request-id"]) == 16
        bidder = {"Authorization": f"Bearer {engine.token('bidder', 'LB', '901')}", "X-Request-Id": "bidder-read"}
        assert client.get(f"/api/lots/{lot}", headers=bidder).status_code == 200
    peer = await Peer.open(f"{engine.ws_url}", engine.token("bidder", "LB", "901"))
    await peer.close()
    for _ in range(3):
        frames = send_invalid_utf8_text_frame(engine.port)  # a close (1007), not a crash, maybe after the welcome
        assert frames[-1][0] == 0x8 and frames[-1][1][:2] == (1007).to_bytes(2, "big")
        assert [json.loads(text)["type"] for opcode, text in frames[:-1]] in ([], ["welcome"])
    time.sleep(0.3)
    engine.stop()
    lines = log_lines(engine)
    records = [json.loads(line) for line in lines]  # every line is one JSON object: the banner is not printed
    assert all({"ts", "level", "logger", "msg"} <= r.keys() for r in records)
    text = "\n".join(lines)
    assert token not in text and "token=" not in text and "private-search" not in text and "?" not in text.replace('"?"', "")
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    traced = [r for r in access if r.get("request_id") == "trace-42"]
    assert traced and traced[0]["path"] == f"/api/lots/{lot}" and traced[0]["lot"] == lot and traced[0]["status"] == 200
    assert all(r.get("request_id") for r in access)
    assert [r["bidder"] for r in access if r["request_id"] == "bidder-read"] == ["LB"]
    assert "Traceback" not in text and not any("exc" in r for r in records)
    utf8 = [r for r in records if "UTF-8" in r["msg"]]
    assert len(utf8) <= 3 and all(r["level"] == "warning" for r in utf8)


def record(msg: str, args: tuple[object, ...], name: str = "auction_engine.actor", **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_formatter_takes_fields_from_extra_then_context_then_the_message() -> None:
    formatter = JsonFormatter(node="n1")
    line = json.loads(formatter.format(record("took lot %s after %d ms", ("L7", 12), seq=9)))
    assert (line["lot"], line["seq"], line["node"], line["msg"]) == ("L7", 9, "n1", "took lot L7 after 12 ms")
    with bind(request_id="r1", bidder="B2"):
        line = json.loads(formatter.format(record("%s: lot %s failed", ("x", "L8"))))
    assert (line["request_id"], line["bidder"], line["lot"]) == ("r1", "B2", "L8")
    assert "request_id" not in json.loads(formatter.format(record("no context", ())))


def test_the_access_line_loses_its_query_string() -> None:
    rec = record('%s - "%s %s HTTP/%s" %d', ("1.2.3.4:5", "GET", "/ws?token=abc.def&x=1", "1.1", 101), name="uvicorn.access")
    StripQuery().filter(rec)
    assert rec.getMessage() == '1.2.3.4:5 - "GET /ws HTTP/1.1" 101'
    rec = record('%s - "WebSocket %s" [accepted]', ("1.2.3.4:5", "/ws?token=abc"), name="uvicorn.error")
    StripQuery().filter(rec)
    assert rec.getMessage() == '1.2.3.4:5 - "WebSocket /ws" [accepted]'


def test_uvicorns_invalid_utf8_traceback_becomes_one_warning_line() -> None:
    """What uvicorn's websockets layer logs for a text frame that is not UTF-8 (scripts/fuzz.py sent thousands)."""
    try:
        b"\xff".decode()
    except UnicodeDecodeError as exc:
        rec = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Invalid UTF-8 sequence received from client.", (),
                                (type(exc), exc, exc.__traceback__))
    ConciseInvalidText().filter(rec)
    assert rec.levelname == "WARNING" and rec.exc_info is None
    assert "\n" not in logging.Formatter().format(rec)


def test_logging_config_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError):
        logging_config("xml")
