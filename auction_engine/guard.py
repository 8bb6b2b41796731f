"""The engine's edge at the transport: connection caps and request deadlines.

uvicorn never times out a connection that has sent nothing or only part of a request head
(its keep-alive timer starts after a response), and `limit_concurrency` counts requests, not
sockets. About 21k half-open requests used up the engine's file descriptors (issue 9, item 4).

`guarded(inner, limits)` wraps uvicorn's HTTP protocol class (passed as `uvicorn.Config(http=...)`,
a documented option). The wrapper stays the transport's protocol for the connection's whole
life, so it counts every socket until `connection_lost`, and hands the inner protocol a
transport whose `set_protocol` only swaps what the wrapper forwards to: an upgraded WebSocket is
still counted. Deadlines watch bytes only: a request head must end (`\\r\\n\\r\\n`) within
`head_s` of its first byte (or of the connection, for the first request), and the answer must
start within `request_s` after it (a body trickled in byte by byte is cut there). Upgraded
connections leave to the WebSocket ping timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from . import metrics
from .frames import error_body

log = logging.getLogger(__name__)

HEAD_END = b"\r\n\r\n"
MAX_HEAD = 64 * 1024  # the largest request head accepted before its end is seen


def _refusal(status: str, code: str, message: str, extra: str = "") -> bytes:
    """A whole HTTP answer written before the request is parsed, with the typed error body every
    other refusal has, so a client that reached the guard's limits is told why."""
    body = json.dumps(error_body(code, message), separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


TIMEOUT_RESPONSE = _refusal("408 Request Timeout", "timeout", "the request head did not arrive in time")
BUSY_RESPONSE = _refusal("503 Service Unavailable", "too_many_connections",
                         "too many connections from this address, or to this node; retry later", "Retry-After: 1\r\n")


@dataclass
class Limits:
    """What one engine process accepts at once, and how long a request may dawdle."""

    max_connections: int
    max_per_ip: int
    head_s: float
    request_s: float
    open: Counter[str] = field(default_factory=Counter)
    total: int = 0

    def admit(self, ip: str) -> bool:
        if self.total >= self.max_connections or self.open[ip] >= self.max_per_ip:
            return False
        self.total += 1
        self.open[ip] += 1
        return True

    def release(self, ip: str) -> None:
        self.total -= 1
        self.open[ip] -= 1
        if self.open[ip] <= 0:
            del self.open[ip]


class _Stage:
    HEAD = "head"          # waiting for the end of a request head
    REQUEST = "request"    # head read; waiting for the answer to start
    ANSWERED = "answered"  # idle between requests: uvicorn's keep-alive timeout applies
    UPGRADING = "upgrading"  # a WebSocket handshake read; its 101 must start within `request_s`
    UPGRADED = "upgraded"  # a WebSocket: its ping timeout applies


class GuardedProtocol(asyncio.Protocol):
    """One connection: counted, given deadlines, forwarding everything else to uvicorn's protocol."""

    limits: Limits
    inner_class: Callable[..., asyncio.Protocol]

    def __init__(self, **uvicorn_kwargs: Any) -> None:
        self.inner: asyncio.Protocol = self.inner_class(**uvicorn_kwargs)
        self.transport: asyncio.Transport | None = None
        self.ip = ""
        self.admitted = False
        self.stage = _Stage.HEAD
        self.head_bytes = 0
        self.tail = b""
        self.timer: asyncio.TimerHandle | None = None

    # -- from the transport ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self.limits.admit(self.ip):
            metrics.CONNECTIONS_REFUSED.labels("busy").inc()
            transport.write(BUSY_RESPONSE)
            transport.close()
            return
        self.admitted = True
        self._arm(self.limits.head_s)
        self.inner.connection_made(_GuardedTransport(transport, self))

    def data_received(self, data: bytes) -> None:
        if not self.admitted:
            return
        if self.stage is _Stage.HEAD or self.stage is _Stage.ANSWERED:
            self._watch_head(data)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.admitted:
            self.admitted = False
            self.limits.release(self.ip)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # -- deadlines -------------------------------------------------------------------

    def _watch_head(self, data: bytes) -> None:
        if self.stage is _Stage.ANSWERED:  # the first byte of the next request
            self.stage, self.head_bytes, self.tail = _Stage.HEAD, 0, b""
            self._arm(self.limits.head_s)
        if self.stage is not _Stage.HEAD:
            return
        seen = self.tail + data
        if HEAD_END in seen:
            self.stage = _Stage.REQUEST
            self._arm(self.limits.request_s)
            return
        self.head_bytes += len(data)
        self.tail = seen[-3:]
        if self.head_bytes > MAX_HEAD:
            self._expire()

    def answered(self) -> None:
        """The inner protocol wrote: the request got its answer (or its 101)."""
        if self.stage is _Stage.REQUEST:
            self.stage = _Stage.ANSWERED
            self._disarm()
        elif self.stage is _Stage.UPGRADING:
            self.stage = _Stage.UPGRADED
            self._disarm()

    def upgraded(self, protocol: asyncio.BaseProtocol) -> None:
        self.inner = cast(asyncio.Protocol, protocol)
        if self.stage is _Stage.REQUEST:
            self.stage = _Stage.UPGRADING

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self.timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        if self.transport is None or self.transport.is_closing():
            return
        metrics.CONNECTIONS_REFUSED.labels("timeout").inc()
        if self.stage is _Stage.HEAD:
            self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()


class _GuardedTransport(asyncio.Transport):
    """The transport as uvicorn's protocols see it: writes tell the guard a request was answered,
    and `set_protocol` (uvicorn's WebSocket upgrade) swaps the guard's inner protocol."""

    def __init__(self, real: asyncio.Transport, guard: GuardedProtocol) -> None:
        super().__init__()
        self.real = real
        self.guard = guard

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.guard.answered()
        self.real.write(data)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.guard.answered()
        self.real.writelines(list_of_data)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.guard.upgraded(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.guard.inner

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.real.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self.real.is_closing()

    def close(self) -> None:
        self.real.close()

    def abort(self) -> None:
        self.real.abort()

    def is_reading(self) -> bool:
        return self.real.is_reading()

    def pause_reading(self) -> None:
        self.real.pause_reading()

    def resume_reading(self) -> None:
        self.real.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.real.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self.real.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.real.get_write_buffer_limits()

    def write_eof(self) -> None:
        self.real.write_eof()

    def can_write_eof(self) -> bool:
        return self.real.can_write_eof()


def guarded(inner: Callable[..., asyncio.Protocol], limits: Limits) -> type[GuardedProtocol]:
    """uvicorn's HTTP protocol class behind `limits`, for `uvicorn.Config(http=...)`."""
    return type("Guarded", (GuardedProtocol,), {"inner_class": staticmethod(inner), "limits": limits})
