"""An append acknowledged only once Redis replicas hold it (`--min-replicas N`).

Redis replicates asynchronously: a master killed right after it answered an append may take
the entry with it, and the replica promoted in its place never had it. `WAIT n timeout` blocks
until `n` replicas acknowledged every write made earlier *on the same connection*, so the append
script and the WAIT must travel on one connection to the master of the lot's slot. A cluster
client spreads commands over pooled connections, so this module keeps one plain client per
master (found with the cluster client's own `get_node_from_key`) and sends the script and the
WAIT in one pipeline. Fewer replicas than asked within the timeout is a failed append
(`NotReplicated`): the bid is answered `unavailable`, and its retry with the same id gets the
stored answer once the entry is replicated (the ack is stored with the entry, never sent before).
A redirect after a failover refreshes the cluster client's slot map through an ordinary read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


class NotReplicated(RuntimeError):
    """The master took the append but too few replicas confirmed it in time: not acknowledged."""


def node_url(url: str, host: str, port: int) -> str:
    """`url` (any cluster node, with its password) pointed at another node of the same cluster."""
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@{host}:{port}" if auth else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class ReplicatedAppends:
    """Runs the append script then WAIT on one connection to the master of the lot's slot."""

    def __init__(self, cluster: RedisCluster | Redis, url: str, replicas: int, wait_ms: int, source: str) -> None:
        self.cluster = cluster
        self.url = url
        self.replicas = replicas
        self.wait_ms = wait_ms
        self.source = source
        self._clients: dict[tuple[str, int], tuple[Redis, Any]] = {}

    def _master(self, key: str) -> tuple[tuple[str, int], Redis, Any]:
        if isinstance(self.cluster, RedisCluster):
            node = self.cluster.get_node_from_key(key)
            if node is None:
                raise NotReplicated(f"no master known for {key}; retry")
            address = (node.host, int(node.port))
        else:
            address = ("", 0)
        found = self._clients.get(address)
        if found is None:
            client = self.cluster if isinstance(self.cluster, Redis) else Redis.from_url(node_url(self.url, *address))
            found = self._clients[address] = (client, client.register_script(self.source))
        return (address, *found)

    async def run(self, keys: list[str], args: list[bytes | int | str]) -> list[Any]:
        """The script's reply, once `replicas` replicas hold what it wrote; NotReplicated otherwise."""
        address, client, script = self._master(keys[0])
        try:
            async with client.pipeline(transaction=False) as pipe:
                await script(keys=keys, args=args, client=pipe)
                pipe.execute_command("WAIT", self.replicas, self.wait_ms)
                reply, acked = await pipe.execute()
        except ResponseError as exc:
            if str(exc).startswith(("MOVED", "ASK", "CLUSTERDOWN")):
                await self.cluster.exists(keys[0])  # the cluster client follows the redirect and refreshes its slot map
                raise NotReplicated(f"the lot's slot moved ({exc}); retry") from exc
            raise
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:  # a restarted master: connect afresh
            self._clients.pop(address, None)
            if client is not self.cluster:
                await client.aclose()
            raise NotReplicated(f"the master of the lot's slot did not answer ({exc}); retry") from exc
        result: list[Any] = reply
        if int(result[0]) > 0 and int(acked) < self.replicas:
            raise NotReplicated(f"{acked} of {self.replicas} replicas confirmed within {self.wait_ms} ms")
        return result

    async def close(self) -> None:
        for client, _script in self._clients.values():
            if client is not self.cluster:
                await client.aclose()
        self._clients.clear()
