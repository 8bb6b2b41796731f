"""How the engine answers while its embedded redis-server is dead or hung (docs/engine.md, The embedded Redis).

Starts the real engine on its embedded default, has two bidders bid in a loop over WebSockets, then
(1) kill -9s redis-server and reports how soon bids are answered `unavailable`, the slowest answer,
when bids are accepted again and whether every acknowledged bid is in the log; (2) SIGSTOPs it and
reports how long each bid waits for its `unavailable`. A measurement, not a test:
`python scripts/redis_outage.py`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import EngineProcess  # noqa: E402
from tests.engine.helpers import api, new_lot  # noqa: E402
from tests.engine.wsclient import Peer  # noqa: E402


async def bid(peer: Peer, lot: str, bid_id: str, amount: int) -> dict:
    await peer.send({"type": "bid", "lot": lot, "id": bid_id, "amount": amount})
    return await peer.next(lambda f: (f["type"] == "ack" and f.get("id") == bid_id) or f["type"] == "error", timeout=15)


async def killed(engine: EngineProcess, seconds: float = 5.0) -> None:
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    peers = [await Peer.open(engine.ws_url, engine.token("bidder", b)) for b in "AB"]
    amount, acked, n = 5000, [], 0
    kill_at = first_down = back = None
    slowest = 0.0
    while kill_at is None or time.monotonic() - kill_at < seconds:
        started = time.monotonic()
        answer = await bid(peers[n % 2], lot, f"k{n}", amount)
        n += 1
        if kill_at is not None:
            slowest = max(slowest, time.monotonic() - started)
        if answer.get("ok"):
            acked.append(answer["seq"])
            amount += 100
            if first_down is not None and back is None and kill_at is not None:
                back = time.monotonic() - kill_at
        elif answer["type"] == "error" and kill_at is not None and first_down is None:
            first_down = time.monotonic() - kill_at
        if n == 20:
            os.kill(int((engine.data_dir / "redis" / "redis.pid").read_text()), signal.SIGKILL)
            kill_at = time.monotonic()
        await asyncio.sleep(0.01)
    async with api(engine) as client:
        events = (await client.get(f"/api/lots/{lot}/events", params={"limit": 10000})).json()["events"]
    lost = set(acked) - {e["seq"] for e in events}
    ms = lambda s: f"{s * 1000:.0f} ms" if s is not None else "never"  # noqa: E731
    print(f"kill -9: first unavailable {ms(first_down)} after the kill, slowest answer {ms(slowest)}, "
          f"accepted again {ms(back)} after the kill; {len(acked)} acknowledged, {len(lost)} lost")


async def hung(engine: EngineProcess) -> None:
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    pid = int((engine.data_dir / "redis" / "redis.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        waits = []
        for n in range(3):
            started = time.monotonic()
            answer = await bid(peer, lot, f"h{n}", 5000)
            waits.append(f"{answer.get('code') or answer.get('reason')} after {(time.monotonic() - started) * 1000:.0f} ms")
        print("SIGSTOP: " + ", ".join(waits))
    finally:
        os.kill(pid, signal.SIGCONT)


async def main() -> None:
    engine = EngineProcess(Path(tempfile.mkdtemp(prefix="outage")), None,
                           env_extra={"AUCTION_BID_RATE": "1000", "AUCTION_BID_BURST": "1000"}).start()
    try:
        async with api(engine) as client:
            for bidder, paddle in (("A", "1"), ("B", "2")):
                await client.post("/api/bidders", json={"bidder": bidder, "paddle": paddle})
        await killed(engine)
        await hung(engine)
    finally:
        engine.stop()


if __name__ == "__main__":
    asyncio.run(main())
