"""The engine's own WebSocket layer under uvicorn: websockets' sans-I/O `ServerProtocol` on the
transport uvicorn hands over at the upgrade, installed with `uvicorn.Config(ws=EngineWebSocket)`
(`ws` takes a protocol class as well as a name).

Why own it: a hot lot sends the same frames to every watcher in bursts, and the ASGI path costs
one `send`, one framing and one socket write per frame per watcher (docs/performance.md: the
batched path delivers several times the frames per CPU-second). Owning the protocol, the engine
offers the application two extras through the scope's `extensions` (ASGI's place for what a server
adds), under `FRAMES_EXTENSION`:

- `write_frames(frames)`: whole WebSocket frames, already framed (`frames.Outgoing.wire`, built
  once per event and shared by every watcher), written with one `transport.write` after waiting
  for the transport's flow control;
- `write_frames_now(frames)`: the same without waiting, when the transport takes it at once (not
  paused by flow control, the connection OPEN); False otherwise, and nothing is written. A lot's
  feed (`lotfeed.py`) writes an idle watcher's new frames this way, without waking its writer;
- `abort()`: drop the TCP connection at once (ASGI has no abort), for a watcher that stopped
  reading and so also stopped the close handshake;
- `receive_now(receiver)`: hand each message to `receiver(data)` as it is read, inside
  `data_received`, instead of queuing it for `receive`. A message the receiver takes (True) never
  goes through the queue, the app's task or a pause of reading; one it declines (False) is queued
  as before, and so is every message after it until the queue is empty again, so the app sees them
  in order; so are the messages of one read past the first `RECEIVE_NOW_PER_READ`. A bid is one
  message in and one ack out; its trip through `receive` (a future, a task step through three
  coroutines, and a pause and resume of reading) cost the conflated hot lot, at 8,000 commands a
  second, 0.74-0.76 cores of the engine against 0.70-0.73 without it (docs/performance.md, "Round
  seventeen").

No extension (permessage-deflate) is ever negotiated, so pre-framed bytes are always what the
peer expects while the connection is OPEN. Everything else is plain ASGI: `websocket.connect`,
`receive`, `disconnect`, `accept` (with a subprotocol), `send`, `close` (before the accept: an
HTTP 403), keepalive pings, and uvicorn's graceful shutdown (close 1012).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, TypedDict, cast
from urllib.parse import unquote

from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from .deadlines import deadlines

logger = logging.getLogger(__name__)

FRAMES_EXTENSION = "auction.frames"
CLOSE_TIMEOUT_S = 10.0  # how long a sent close waits for the peer's before the TCP connection goes
RECEIVE_NOW_PER_READ = 16
"""Messages of one read handed to the receiver; the rest of the read is queued, and reading pauses
until the app has taken them, a message per turn of the loop as before. A read of 256 KiB can hold
thousands of tiny frames: handled in one go, one client's burst would hold every other
connection's acks behind it."""


Receiver = Callable[[str | bytes], bool]
"""Takes one received message now (True), or declines it (False): it is then queued for `receive`."""


class FramesExtension(TypedDict):
    """What `scope["extensions"][FRAMES_EXTENSION]` holds."""

    write_frames: Callable[[list[bytes]], Awaitable[None]]
    write_frames_now: Callable[[list[bytes]], bool]
    abort: Callable[[], None]
    receive_now: Callable[[Receiver | None], None]


class EngineWebSocket(asyncio.Protocol):
    """One upgraded connection: bytes in and out through `ServerProtocol`, ASGI to the app."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any]) -> None:
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        self.root_path = config.root_path
        self.ping_interval = config.ws_ping_interval
        self.ping_timeout = config.ws_ping_timeout
        self.app_state = app_state
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.default_headers = server_state.default_headers
        self.ws = ServerProtocol(max_size=config.ws_max_size, logger=logger)
        self.transport: asyncio.Transport | None = None
        # What `receive` hands the app, and the paused transport's waiters: a list and bare futures
        # rather than asyncio.Queue and Event (four deques of ~760 bytes each per idle connection:
        # docs/performance.md, "Idle watchers").
        self.inbox: list[dict[str, Any]] = []
        self.inbox_waiter: asyncio.Future[None] | None = None
        self.receiver: Receiver | None = None
        self.taken = 0  # messages of the current read the receiver took
        self.paused = False
        self.drain_waiters: list[asyncio.Future[None]] = []
        self.response: Response | None = None  # the 101 the handshake would get, sent on the app's accept
        self.handshake_done = False  # the app accepted (101 sent) or refused (403 sent)
        self.told_disconnect = False
        self.lost = False
        self.read_paused = False
        self.fragments: list[bytes] = []
        self.fragment_text = False
        self.close_timer: asyncio.TimerHandle | None = None
        self.keepalive_slot: int | None = None  # the next ping, or the pong's deadline (deadlines.py)
        self.ping_payload: bytes | None = None  # the ping waiting for its pong

    # -- from the transport ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        # uvicorn's graceful shutdown calls `shutdown()` on each of these (the set is typed with its own classes)
        self.connections.add(self)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self.taken = 0
        self.ws.receive_data(data)
        self._flush()
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._connect(event)
            elif isinstance(event, Frame):
                self._frame(event)
        self._after_receive()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush()
        self._after_receive()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_keepalive()
        self._cancel_close_timer()
        self.lost = True
        self._drained()  # a writer waiting on a paused transport must wake and see it is gone
        self._tell_disconnect(1006)
        self.connections.discard(self)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._drained()

    def _drained(self) -> None:
        waiters, self.drain_waiters = self.drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _writable(self) -> None:
        """Wait while the transport's buffer is over its high-water mark (and the peer is there)."""
        while self.paused and not self.lost:
            waiter = asyncio.get_running_loop().create_future()
            self.drain_waiters.append(waiter)
            await waiter

    def _put(self, message: dict[str, Any]) -> None:
        self.inbox.append(message)
        waiter, self.inbox_waiter = self.inbox_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close 1012 (service restart) to an open connection."""
        self._stop_keepalive()
        if self.ws.state is State.OPEN:
            self.ws.send_close(1012)
            self._flush()
            self._tell_disconnect(1012)
        self._close_transport()

    # -- received ------------------------------------------------------------------------

    def _connect(self, request: Request) -> None:
        accepted = self.ws.accept(request)
        if accepted.status_code != 101:  # not a valid handshake: the answer says why
            self.handshake_done = True
            self.ws.send_response(accepted)
            self._flush()
            self._close_transport()
            return
        self.response = accepted
        self._put({"type": "websocket.connect"})
        task = asyncio.get_running_loop().create_task(self._run_asgi(self._scope(request)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        # ServerProtocol's parser keeps the request for the connection's life; its headers are in
        # the scope now, and were ~4 KiB of every idle connection (Headers.clear is public API).
        request.headers.clear()

    def _frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.PONG:
            if self.ping_payload is not None and bytes(frame.data) == self.ping_payload:
                self._stop_keepalive()
                self._schedule_ping()
            return
        if frame.opcode is Opcode.CLOSE:  # ServerProtocol queued the reply, which _flush wrote
            close = Close.parse(bytes(frame.data))
            self._tell_disconnect(close.code, close.reason)
            return
        if frame.opcode is Opcode.TEXT or frame.opcode is Opcode.BINARY:
            self.fragments = [bytes(frame.data)]
            self.fragment_text = frame.opcode is Opcode.TEXT
        elif frame.opcode is Opcode.CONT:
            self.fragments.append(bytes(frame.data))
        else:  # PING: ServerProtocol queued the pong, which _flush wrote
            return
        if frame.fin:
            self._message(b"".join(self.fragments))

    def _message(self, data: bytes) -> None:
        self.fragments = []
        if self.ws.state is not State.OPEN:  # past a close: the peer's reply is all that matters
            return
        message: str | bytes = data
        if self.fragment_text:
            try:
                message = data.decode()
            except UnicodeDecodeError:
                self.ws.fail(1007, "invalid UTF-8")
                self._flush()
                self._tell_disconnect(1007)
                return
        if (self.receiver is not None and not self.inbox and self.taken < RECEIVE_NOW_PER_READ
                and self._receive_now(self.receiver, message)):
            self.taken += 1
            return
        self._put({"type": "websocket.receive", "text": message} if isinstance(message, str)
                  else {"type": "websocket.receive", "bytes": message})
        if not self.read_paused and self.transport is not None:  # one message at a time, as uvicorn reads
            self.read_paused = True
            self.transport.pause_reading()

    def _receive_now(self, receiver: Receiver, message: str | bytes) -> bool:
        """The app's receiver, guarded: it runs inside `data_received`, where an exception would
        reach the event loop and drop the transport with no close frame and no disconnect."""
        try:
            return receiver(message)
        except Exception:
            logger.exception("WebSocket receiver failed")
            self.receiver = None
            self.ws.fail(1011, "internal error")
            self._flush()
            self._tell_disconnect(1011)
            return True

    def _after_receive(self) -> None:
        """A parse error or a finished close handshake ends the connection."""
        if self.ws.state is State.CLOSED:
            self._tell_disconnect(self.ws.close_code or 1006)
            self._close_transport()
        elif self.ws.close_expected():
            self._tell_disconnect(self.ws.close_code or 1006)
            self._arm_close_timer()

    # -- ASGI ----------------------------------------------------------------------------

    def _scope(self, request: Request) -> dict[str, Any]:
        assert self.transport is not None
        raw_path, _, query = request.path.partition("?")
        offered = [p.strip() for header in request.headers.get_all("Sec-WebSocket-Protocol") for p in header.split(",")]
        extension: FramesExtension = {"write_frames": self.write_frames, "write_frames_now": self.write_frames_now,
                                      "abort": self.abort, "receive_now": self.receive_now}
        return {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "scheme": "wss" if self.transport.get_extra_info("sslcontext") else "ws",
            "server": _address(self.transport.get_extra_info("sockname")),
            "client": _address(self.transport.get_extra_info("peername")),
            "root_path": self.root_path,
            "path": self.root_path + unquote(raw_path),
            "raw_path": (self.root_path + raw_path).encode("ascii"),
            "query_string": query.encode("ascii"),
            "headers": [(k.lower().encode("ascii"), v.encode("latin-1")) for k, v in request.headers.raw_items()],
            "subprotocols": [p for p in offered if p],
            "state": self.app_state.copy(),
            "extensions": {FRAMES_EXTENSION: extension},
        }

    async def _run_asgi(self, scope: dict[str, Any]) -> None:
        try:
            await self.app(scope, self.receive, self.send)
        except Exception:
            logger.exception("WebSocket application failed")
            if not self.handshake_done:
                self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR)
        else:
            if not self.handshake_done:
                logger.error("the application returned without accepting or closing the WebSocket")
                self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR)
        if self.close_timer is None:
            self._close_transport()

    async def receive(self) -> dict[str, Any]:
        while not self.inbox:
            self.inbox_waiter = asyncio.get_running_loop().create_future()
            await self.inbox_waiter
        message = self.inbox.pop(0)
        if self.read_paused and not self.inbox and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()
        return message

    async def send(self, message: dict[str, Any]) -> None:
        await self._writable()
        kind = message["type"]
        if self.lost:
            raise ConnectionResetError("the peer went away")
        if not self.handshake_done:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                self._tell_disconnect(1006)
                self._refuse(HTTPStatus.FORBIDDEN)
            else:
                raise RuntimeError(f"expected websocket.accept or websocket.close, got {kind!r}")
            return
        if kind == "websocket.send":
            if self.ws.state is not State.OPEN:
                raise ConnectionResetError("the WebSocket is closing")
            data = message.get("bytes")
            if data is not None:
                self.ws.send_binary(data)
            else:
                self.ws.send_text(str(message.get("text", "")).encode())
            self._flush()
        elif kind == "websocket.close":
            if self.ws.state is not State.OPEN:
                return
            code, reason = int(message.get("code", 1000)), str(message.get("reason") or "")
            self._tell_disconnect(code, reason)
            self.ws.send_close(code, reason)
            self._flush()
            if self.read_paused and self.transport is not None:  # read on until the peer's close arrives
                self.read_paused = False
                self.transport.resume_reading()
            self._arm_close_timer()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on an open WebSocket")

    def _accept(self, message: dict[str, Any]) -> None:
        response = self.response
        assert response is not None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in [*self.default_headers, *message.get("headers", [])]]
        if message.get("subprotocol"):
            headers.append(("Sec-WebSocket-Protocol", message["subprotocol"]))
        del response.headers["Date"]
        response.headers.update(headers)
        self.handshake_done = True
        self.ws.send_response(response)
        self.response = None  # its headers were ~4 KiB per idle connection
        self._flush()
        self._schedule_ping()

    def _refuse(self, status: HTTPStatus) -> None:
        self.handshake_done = True
        self.ws.send_response(self.ws.reject(status, ""))
        self._flush()
        self._close_transport()

    # -- the extension -------------------------------------------------------------------

    async def write_frames(self, frames: list[bytes]) -> None:
        """Whole, unmasked frames with no extension bits, in one write (flow control as `send`)."""
        await self._writable()
        if self.lost or self.transport is None:
            raise ConnectionResetError("the peer went away")
        if self.ws.state is not State.OPEN:
            raise ConnectionResetError("the WebSocket is closing")
        self.transport.write(b"".join(frames))

    def write_frames_now(self, frames: list[bytes]) -> bool:
        """`write_frames` if it would not wait: True when written, False (nothing written) if the
        transport is paused or gone or the WebSocket is no longer OPEN."""
        if self.paused or self.lost or self.transport is None or self.ws.state is not State.OPEN:
            return False
        if self.transport.is_closing():
            return False
        if frames:  # none: only "would it take data now?"
            self.transport.write(b"".join(frames))
        return True

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def receive_now(self, receiver: Receiver | None) -> None:
        """Messages read from now on go to `receiver` first (None: all through `receive` again)."""
        self.receiver = receiver

    # -- plumbing ------------------------------------------------------------------------

    def _flush(self) -> None:
        """Write what ServerProtocol has to send; its empty chunk means our side is done (EOF)."""
        out = self.ws.data_to_send()
        if not out or self.transport is None or self.transport.is_closing():
            return
        self.transport.write(b"".join(out))
        if out[-1] == b"":
            self._close_transport()

    def _tell_disconnect(self, code: int, reason: str = "") -> None:
        if not self.told_disconnect:
            self.told_disconnect = True
            self._put({"type": "websocket.disconnect", "code": code, "reason": reason})

    def _close_transport(self) -> None:
        self._cancel_close_timer()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _arm_close_timer(self) -> None:
        if self.close_timer is None and not self.lost:
            self.close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, self._close_transport)

    def _cancel_close_timer(self) -> None:
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None

    def _schedule_ping(self) -> None:
        if self.ping_interval and not self.lost:
            self.keepalive_slot = deadlines().add(self, self.ping_interval)

    def deadline_passed(self) -> None:
        """The next ping is due, or the last one's pong is late."""
        self.keepalive_slot = None
        if self.ws.state is not State.OPEN:
            return
        if self.ping_payload is None:
            self._ping()
        else:
            self._ping_timed_out()

    def _ping(self) -> None:
        payload = os.urandom(4)
        self.ws.send_ping(payload)
        self._flush()
        if self.ping_timeout:
            self.ping_payload = payload
            self.keepalive_slot = deadlines().add(self, self.ping_timeout)
        else:
            self._schedule_ping()

    def _ping_timed_out(self) -> None:
        self.ws.fail(1011, "keepalive ping timeout")
        self._flush()
        self._tell_disconnect(1011)
        self._close_transport()

    def _stop_keepalive(self) -> None:
        if self.keepalive_slot is not None:
            deadlines().remove(self, self.keepalive_slot)
            self.keepalive_slot = None
        self.ping_payload = None


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None
