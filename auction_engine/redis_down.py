"""What a Redis call raises when its server or shard is down or failing over.

redis-py raises its own `RedisError`s (a `ConnectionError`, a `TimeoutError`, a cluster's
`ClusterDownError`) or lets an `OSError` through. Under uvloop there is one more: a command written
on a connection whose socket the dying server has just closed meets uvloop's closed transport, which
raises a plain `RuntimeError` ("unable to perform operation on <TCPTransport closed=True ...>; the
handler is closed", MagicStack/uvloop#506) where asyncio's own loop would raise nothing. redis-py
neither retries it nor turns it into its `ConnectionError`. Seen in CI: a bid posted to a node
while the Redis master of its lot's slot was killed got a 500 instead of `unavailable`."""

from __future__ import annotations

from redis.exceptions import RedisError

CLOSED_TRANSPORT = "the handler is closed"


def redis_down(exc: BaseException) -> bool:
    """Is `exc` a Redis call failing because the server went away (retry, or answer `unavailable`)?"""
    if isinstance(exc, RedisError | OSError):
        return True
    return isinstance(exc, RuntimeError) and CLOSED_TRANSPORT in str(exc)
