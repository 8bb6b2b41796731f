"""The embedded redis-server (`redis_server.py`): private (unix socket, password, no CONFIG), its
password kept across restarts, a truncated AOF refused, the newest binary found the one that runs.
Its supervision under a running engine is in test_supervisor.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from auction_engine.redis_server import (
    RedisServer,
    RedisServerError,
    _candidates,
    _version,
    redis_server_binary,
)

ONCE = Retry(NoBackoff(), 0)  # a refused password is final: no reconnecting with backoff (3.6 s)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def embedded(tmp_path: Path):
    server = RedisServer.embedded(tmp_path).start()
    yield server
    server.stop()


def test_a_client_without_the_password_is_refused_on_the_test_server_too(redis_server: RedisServer) -> None:
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=redis_server.port, retry=ONCE).set("k", "v")
    assert redis.Redis.from_url(redis_server.url).ping()
    assert ":" in redis_server.url.split("@")[0]


def test_the_embedded_server_listens_on_a_private_socket_with_a_password_and_no_config(
    embedded: RedisServer, tmp_path: Path
) -> None:
    assert embedded.url.startswith("unix://")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(unix_socket_path=str(embedded.socket_path), retry=ONCE).get("k")
    client = redis.Redis.from_url(embedded.url)
    for command in (("CONFIG", "SET", "dir", "/tmp"), ("DEBUG", "SLEEP", "0"), ("MODULE", "LIST"),
                    ("REPLICAOF", "127.0.0.1", "1"), ("MIGRATE", "127.0.0.1", "1", "k", "0", "10")):
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command(*command)
    assert mode(embedded.socket_path) == 0o700
    assert mode(tmp_path / "redis-password") == 0o600
    assert mode(embedded.data_dir / "redis.conf") == 0o600
    assert embedded.password not in " ".join(embedded.process.args)  # not visible to `ps`
    assert client.ping()


def test_the_password_survives_a_restart(tmp_path: Path) -> None:
    first = RedisServer.embedded(tmp_path).start()
    redis.Redis.from_url(first.url).set("k", "v")
    first.stop()
    second = RedisServer.embedded(tmp_path).start()
    try:
        assert second.password == first.password
        assert redis.Redis.from_url(second.url).get("k") == b"v"
    finally:
        second.stop()


def test_a_truncated_aof_is_refused_rather_than_loaded_short(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    client = redis.Redis.from_url(server.url)
    for n in range(50):
        client.xadd("s", {"n": n})
    server.stop()
    incr = next((tmp_path / "appendonlydir").glob("*.incr.aof"), None) or tmp_path / "appendonly.aof"
    os.truncate(incr, incr.stat().st_size - 7)
    with pytest.raises(RedisServerError, match="exited"):
        RedisServer(tmp_path, port=server.port).start(timeout=5)


def test_the_newest_redis_server_found_is_the_one_that_runs() -> None:
    newest = max(_version(binary) for binary in _candidates())
    assert _version(redis_server_binary()) == newest
