"""`auction-engine`: serve, token, verify, demo, cluster-demo, export-settlements."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import importlib
import importlib.resources
import io
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from .auth import SecretNotFound, TokenSigner, find_secret, load_secret, redact_tokens_in_logs
from .config import Config

if TYPE_CHECKING:
    from .cluster_demo import DemoCluster

SERVE_TOKEN_TTL_S = 3600


# The engine serves the browser pages and runs the demo of the `clients` package without
# importing it (auction_engine/ never imports clients/; tests/test_imports.py checks): the
# command line finds them by name, the one place that composes the two.
CLIENTS_PACKAGE = "clients"
DEMO_MODULE = "clients.demo"


def default_web_dir() -> Path:
    """The `clients` package's `web/` (package data), for `serve --web-dir`'s default."""
    return Path(str(importlib.resources.files(CLIENTS_PACKAGE).joinpath("web")))


def _data_dir(value: str | None) -> Path:
    """The data dir as `serve` finds it (flag, then AUCTION_DATA_DIR, then ./auction-data), absolute."""
    return Config.from_env(data_dir=Path(value) if value else None).data_dir


def _signer(data_dir: Path) -> TokenSigner:
    return TokenSigner(load_secret(os.environ.get("AUTH_SECRET"), data_dir))


def _existing_signer(data_dir: Path) -> TokenSigner:
    """For `token` and `verify`: never creates a secret; says on stderr which one it used.
    Raises SystemExit naming the data dir when there is none."""
    try:
        secret, source = find_secret(os.environ.get("AUTH_SECRET"), data_dir)
    except SecretNotFound as exc:
        raise SystemExit(f"auction-engine: {exc}") from None
    print(f"auction-engine: signing with the secret from {source}", file=sys.stderr)
    return TokenSigner(secret)


def tune_gc() -> None:
    """Full collections rarely, young ones in small steps, each pass timed (metrics.time_gc).

    With thousands of connections the heap holds millions of objects; CPython's default
    thresholds ran a full pass each time it grew by a quarter, and each pass held the event
    loop for 0.3-0.6 s: the sale-day ack p99 was 800 ms, 14 ms after this (docs/performance.md).
    Cyclic garbage that survives to the old generation waits about 10^8 allocations.

    The young generations in small steps: a burst of new connections (a sale's 7,000 bidders and
    watchers in four seconds, or a failed node's, reconnecting) survives its young passes, and with
    thresholds of 50,000 and 20 one middle pass scanned all of it at once, 175-250 ms of a stopped
    loop; at 10,000 and 2 the passes are 2 ms (young) and 8 ms (middle) at p50, the longest under
    100 ms, and the sale's acks are unchanged (docs/performance.md "Round twelve")."""
    from . import metrics

    gc.set_threshold(10_000, 2, 5_000)
    metrics.time_gc()


def cmd_serve(args: argparse.Namespace, demo: bool = False) -> int:
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    from .guard import Limits, guarded
    from .logs import logging_config
    from .ws_protocol import EngineWebSocket

    tune_gc()

    from .app import METRICS_TOKEN_FILE, create_app

    config = Config.from_env(
        host=args.host, port=args.port, data_dir=_data_dir(args.data_dir), node_id=args.node_id, redis_url=args.redis_url,
        redis_cluster=args.redis_cluster, database_url=args.database_url, advertise_url=args.advertise_url,
        min_replicas=args.min_replicas,
    )
    try:
        sock = listen(config)
    except OSError as exc:  # before the banner: a busy port is one line, not a banner then a traceback
        print(f"auction-engine: cannot listen on {config.host}:{config.port}: {exc.strerror or exc} "
              f"(is another engine running? choose another with --port)", file=sys.stderr)
        return 1
    app = create_app(config, web_dir=Path(args.web_dir) if args.web_dir else default_web_dir())
    token = _signer(config.data_dir).issue("auctioneer", ttl_s=SERVE_TOKEN_TTL_S)
    base = f"http://{config.host}:{config.port}"
    banner = contextlib.ExitStack()
    if args.log_format == "json":  # a log pipeline gets JSON lines only: no banner, no console token
        banner.enter_context(contextlib.redirect_stdout(io.StringIO()))
    print(f"auction-engine on {base}", flush=True)
    print(f"  bidder room:        {base}/", flush=True)
    print(f"  auctioneer console: {base}/console?token={token}", flush=True)
    print(f"  (this auctioneer token expires in {SERVE_TOKEN_TTL_S // 3600} h; "
          f"`auction-engine token --role auctioneer --data-dir {config.data_dir}` mints another)", flush=True)
    print(f"  data dir:           {config.data_dir.resolve()}", flush=True)
    where = "METRICS_TOKEN" if config.metrics_token else f"{config.data_dir.resolve() / METRICS_TOKEN_FILE}"
    print(f"  metrics:            {base}/metrics (Authorization: Bearer <the token in {where}>)", flush=True)
    if config.node_id:
        print(f"  node:               {config.node_id} of a cluster on {'Redis Cluster' if config.redis_cluster else 'Redis'}",
              flush=True)
    banner.close()
    server = uvicorn.Server(uvicorn.Config(
        app, host=config.host, port=config.port, log_level=args.log_level, ws_max_size=65536,
        log_config=logging_config(args.log_format, args.log_level, node=getattr(config, "node_id", None)),
        lifespan="on", loop="auto", timeout_graceful_shutdown=3,
        # Compression would run once per watcher per frame (context takeover): off, as frames are small.
        ws_per_message_deflate=False,
        ws=EngineWebSocket,  # the engine's WebSocket layer: batched frame writes (ws_protocol.py)
        http=guarded(AutoHTTPProtocol, Limits(config.max_connections, config.max_connections_per_ip,
                                              config.header_timeout_s, config.request_timeout_s)),
        timeout_keep_alive=config.keep_alive_s,
    ))
    redact_tokens_in_logs()  # after uvicorn.Config, which sets up its loggers
    if not demo:
        server.run(sockets=[sock])
        return 0

    main_demo = importlib.import_module(DEMO_MODULE).main_demo

    async def both() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.05)
        await main_demo(base, token, stop_when=task, data_dir=config.data_dir,
                        bidders=args.bidders, minutes=args.minutes)
        await task  # the sale is over; the engine keeps serving its results until interrupted

    asyncio.run(both())
    return 0


def cmd_cluster_demo(args: argparse.Namespace) -> int:
    """A local Redis Cluster, `--nodes` engine nodes and the demo sale across them, until Ctrl-C."""
    import shutil
    import tempfile

    from .cluster_demo import ClusterDemoError, DemoCluster

    main_demo = importlib.import_module(DEMO_MODULE).main_demo
    root = Path(tempfile.mkdtemp(prefix="auction-cluster-demo-"))  # private (0700), removed at the end
    try:
        cluster = DemoCluster(root, nodes=args.nodes, shards=args.shards, host=args.host, port=args.port,
                              log_level=args.log_level)
    except ClusterDemoError as exc:
        shutil.rmtree(root, ignore_errors=True)
        print(f"auction-engine: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a SIGTERM while starting cleans up too
    try:
        cluster.start()
        token = cluster.token("auctioneer", ttl_s=SERVE_TOKEN_TTL_S)
        for node in cluster.nodes:
            print(f"node {node.node_id}: bidder room {node.url}/   auctioneer console {node.url}/console?token={token}",
                  flush=True)
        print(f"  (the auctioneer token expires in {SERVE_TOKEN_TTL_S // 3600} h; every node accepts it. "
              "Ctrl-C stops the nodes, then the Redis Cluster)", flush=True)
        return asyncio.run(_cluster_sale(cluster, main_demo, token))
    except ClusterDemoError as exc:
        print(f"auction-engine: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        print("cluster-demo: stopping the nodes, then the Redis Cluster", flush=True)
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


async def _cluster_sale(cluster: DemoCluster, main_demo: Any, token: str) -> int:
    """The demo sale through node 1 (`main_demo`, loaded by name), then serving until SIGINT/SIGTERM
    or until a node dies; the sale stops early on either."""
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)

    async def watch() -> None:
        while not interrupted.is_set():
            if cluster.exited():
                print(f"cluster-demo: node {', '.join(cluster.exited())} exited (see its engine.log)", flush=True)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(interrupted.wait(), 0.5)

    watcher = asyncio.create_task(watch())
    status: int = await main_demo(cluster.nodes[0].url, token, stop_when=watcher)
    if not watcher.done():
        print("cluster-demo: the sale is over; the nodes keep serving its results until Ctrl-C", flush=True)
    await watcher
    return status if not cluster.exited() else 1


def listen(config: Config) -> socket.socket:
    """The listening socket; accepted sockets inherit its send buffer, which bounds how much
    the kernel holds for a watcher that stopped reading before `slow_consumer` notices."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if config.so_sndbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, config.so_sndbuf)
    sock.bind((config.host, config.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def cmd_token(args: argparse.Namespace) -> int:
    if args.role == "bidder" and not args.bidder:
        print("a bidder token needs --bidder ID", file=sys.stderr)
        return 2
    signer = _existing_signer(_data_dir(args.data_dir))
    print(signer.issue(args.role, args.bidder, args.paddle, ttl_s=args.ttl))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from bidding.log import verify
    from bidding.rules import winning_report
    from bidding.views import public_view

    token = args.token or os.environ.get("AUCTION_TOKEN")
    token = token or _existing_signer(_data_dir(args.data_dir)).issue("auditor", ttl_s=600)
    raw: list[tuple[bytes, bytes]] = []
    since = 0
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        while True:
            response = client.get(f"/api/lots/{args.lot}/events", params={"since": since, "limit": 10000})
            if response.status_code == 401 and not args.token and not os.environ.get("AUCTION_TOKEN"):
                print(f"cannot fetch the log: {args.url} refused the auditor token signed with this machine's secret "
                      "(the server uses another AUTH_SECRET or --data-dir): pass --token, or --data-dir/AUTH_SECRET of "
                      "that server", file=sys.stderr)
                return 2
            if response.status_code != 200:
                print(f"cannot fetch the log: HTTP {response.status_code} {response.text}", file=sys.stderr)
                return 2
            body = response.json()
            for item in body["events"]:
                raw.append((base64.b64decode(item["entry"]), bytes.fromhex(item["hash"])))
            if not body["events"] or body["next"] >= body["head"]:
                break
            since = body["next"]
        state = client.get(f"/api/lots/{args.lot}").json()
    report = verify(raw)
    if not report.ok or report.spec is None or report.state is None:
        print(f"FAIL lot {args.lot}: entry {report.first_bad_seq}: {report.problem}")
        return 1
    replayed = public_view(report.spec, report.state)
    mismatch = [k for k in ("status", "result", "price", "seq") if state.get(k) != replayed.get(k)]
    if mismatch:
        print(f"FAIL lot {args.lot}: the engine's {', '.join(mismatch)} differ from the replayed log")
        return 1
    seen = winning_report(report.state) if report.state.result in ("sold", "pending_approval") else None
    print(f"OK lot {args.lot}: {report.entries} entries, hash chain and every decision re-checked; "
          f"status {state['status']}, result {state['result'] or 'none yet'}, price {state['price']}"
          + ("" if seen is None else f", the winning bid saw report version {seen}"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .store import Store, export_settlements_csv

    async def run() -> None:
        store = await Store.open(os.environ.get("DATABASE_URL"), _data_dir(args.data_dir))
        try:
            if args.output == "-":
                await export_settlements_csv(store, sys.stdout)
            else:
                with open(args.output, "w", newline="") as out:
                    await export_settlements_csv(store, out)
        finally:
            await store.close()

    asyncio.run(run())
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the deployment this environment and data dir describe; exit 1 if anything is unsafe."""
    from .doctor import diagnose, report

    text, status = report(asyncio.run(diagnose(Config.from_env(data_dir=_data_dir(args.data_dir)))))
    print(text)
    return status


def cmd_backup(args: argparse.Namespace, restoring: bool = False) -> int:
    """`backup --out FILE` from the running engine's Redis and database (docs/deploy.md "Backups");
    `restore FILE` into an empty Redis and database, before the engine starts on them."""
    from redis.asyncio import Redis

    from . import backup
    from .secret_file import private_dir
    from .store import Store

    config = Config.from_env(data_dir=_data_dir(args.data_dir))
    os.umask(0o077)
    private_dir(config.data_dir)
    url, server = backup.redis_of(config.data_dir, config.redis_url)
    try:
        doc = backup.read(Path(args.file)) if restoring else None
    except backup.RestoreRefused as exc:
        print(f"auction-engine: restore refused: {exc}", file=sys.stderr)
        return 1

    async def run() -> dict[str, object]:
        redis = Redis.from_url(url)
        store = await Store.open(config.database_url, config.data_dir)
        try:
            if doc is not None:
                return await backup.restore(redis, store, doc)
            return await backup.backup(redis, store, Path(args.out))
        finally:
            await store.close()
            await redis.aclose()

    if server is not None:
        server.start()
    try:
        summary = asyncio.run(run())
    except backup.RestoreRefused as exc:
        print(f"auction-engine: restore refused: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
    print(("restored " if restoring else f"wrote {args.out}: ") + ", ".join(f"{v} {k}" for k, v in summary.items()))
    return 0


class Options(Protocol):
    """A parser or an argument group: what takes options."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action: ...


def option(parser: Options, *flags: str, help: str, **kw: Any) -> None:
    """An option whose help ends with its default, unless the help says it in words (a default of
    None means "found elsewhere", which the help names)."""
    default = kw.get("default")
    if default not in (None, False) and "default" not in help:
        help = f"{help} (default: {default})"
    parser.add_argument(*flags, help=help, **kw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="auction-engine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_dir_help = "where the secrets, SQLite database and embedded Redis live (env AUCTION_DATA_DIR; default ./auction-data)"
    for name in ("serve", "demo"):
        p = sub.add_parser(name, help="run the engine" + (" with a sample sale and simulated bidders" if name == "demo" else ""))
        option(p, "--host", default="127.0.0.1", help="the address to listen on")
        option(p, "--port", type=int, default=8000, help="the port to listen on")
        option(p, "--data-dir", default=None, help=data_dir_help)
        option(p, "--log-level", default=os.environ.get("AUCTION_LOG_LEVEL") or "warning",
                       choices=["critical", "error", "warning", "info", "debug"], help="log threshold (env AUCTION_LOG_LEVEL)")
        option(p, "--log-format", choices=["text", "json"], default=os.environ.get("AUCTION_LOG_FORMAT") or "text",
                       help="text, or one JSON object per line (env AUCTION_LOG_FORMAT; docs/deploy.md)")
        option(p, "--web-dir", default=None, help="the bidder room and console pages (default: the clients package's)")
        if name == "demo":
            option(p, "--minutes", type=float, default=5,
                   help="how long the sample sale runs (each lot at least 30 s, plus anti-sniping extensions)")
            option(p, "--bidders", type=int, default=8, help="how many simulated bidders bid in it")
        scale = p.add_argument_group("scale-out (docs/scale.md): many nodes on one Redis (Cluster) and one database")
        option(scale, "--node-id", default=None,
                           help="run as this node of a cluster of engines (env NODE_ID; default: one node, every lot)")
        option(scale, "--redis-url", default=None,
                           help="the shared Redis, redis://:PASSWORD@HOST:PORT (env REDIS_URL; default: embedded)")
        option(scale, "--redis-cluster", action="store_true", default=None,
                           help="--redis-url names a Redis Cluster node (env REDIS_CLUSTER=1)")
        option(scale, "--database-url", default=None,
                           help="the shared database, postgresql+asyncpg://... (env DATABASE_URL; default: SQLite)")
        option(scale, "--advertise-url", default=None,
                           help="the URL other nodes and clients reach this node at (default http://HOST:PORT)")
        option(scale, "--min-replicas", type=int, default=None,
                           help="acknowledge a bid only once this many Redis replicas hold it (Redis WAIT; "
                                "default 1 on a Redis Cluster, 0 otherwise)")
    p = sub.add_parser("cluster-demo", help="a local Redis Cluster, several engine nodes and the demo sale across them "
                                            "(docs/scale.md)")
    option(p, "--nodes", type=int, default=3, help="engine nodes, on consecutive ports from --port")
    option(p, "--shards", type=int, default=3, help="Redis masters, each with one replica (at least 3)")
    option(p, "--host", default="127.0.0.1", help="the address the nodes listen on")
    option(p, "--port", type=int, default=8000, help="the first node's port")
    option(p, "--log-level", default=os.environ.get("AUCTION_LOG_LEVEL") or "warning",
                   choices=["critical", "error", "warning", "info", "debug"], help="log threshold (env AUCTION_LOG_LEVEL)")
    p = sub.add_parser("token", help="print a signed token")
    option(p, "--role", required=True, choices=["auctioneer", "auditor", "bidder"], help="whom the token is for")
    option(p, "--bidder", help="the bidder id (required for --role bidder; the bidder must be registered)")
    option(p, "--paddle", help="the paddle number the room shows for the bidder (default: the bidder id)")
    option(p, "--ttl", type=int, default=None, help="lifetime in seconds "
           "(default: AUCTION_BIDDER_TOKEN_TTL_S or AUCTION_STAFF_TOKEN_TTL_S, 12 h)")
    option(p, "--data-dir", default=None, help=data_dir_help + "; its auth secret signs the token")
    p = sub.add_parser("verify", help="re-run a lot's log through the rules and check its hash chain")
    option(p, "lot", help="the lot id")
    option(p, "--url", default="http://127.0.0.1:8000", help="the engine to fetch the log from")
    option(p, "--token", help="an auditor or auctioneer token (env AUCTION_TOKEN; default: one signed with --data-dir's secret)")
    option(p, "--data-dir", default=None, help=data_dir_help)
    p = sub.add_parser("export-settlements", help="write the settlement ledger as CSV")
    option(p, "--output", default="-", help="the CSV file to write (- for standard output)")
    option(p, "--data-dir", default=None, help=data_dir_help + " (env DATABASE_URL names another database)")
    p = sub.add_parser("doctor", help="check Redis, the database, clocks, limits and secrets; exit 1 if anything is unsafe")
    option(p, "--data-dir", default=None, help=data_dir_help)
    p = sub.add_parser("backup", help="write the Redis data and the SQL store, consistent, to one file")
    option(p, "--out", required=True, help="the backup file to write")
    option(p, "--data-dir", default=None, help=data_dir_help)
    p = sub.add_parser("restore", help="load a backup into an empty Redis and database")
    option(p, "file", help="a file written by `backup`")
    option(p, "--data-dir", default=None, help=data_dir_help)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return cmd_serve(args)
    if args.command == "demo":
        return cmd_serve(args, demo=True)
    if args.command == "cluster-demo":
        return cmd_cluster_demo(args)
    if args.command == "token":
        return cmd_token(args)
    if args.command == "verify":
        return cmd_verify(args)
    if args.command == "doctor":
        return cmd_doctor(args)
    if args.command in ("backup", "restore"):
        return cmd_backup(args, restoring=args.command == "restore")
    return cmd_export(args)


if __name__ == "__main__":
    sys.exit(main())
