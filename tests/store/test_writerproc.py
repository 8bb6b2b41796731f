"""The store's writer process (`store/writerproc.py`): the sale's SQL writes and the escrow deliveries
in a child of their own, so they never share the engine's GIL (issue 18).

Real processes throughout: the child is killed with -9 mid-sale, and an engine's process is killed
with -9 to see that its writer does not outlive it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auction_engine.store.errors import WriterClosed

from ..conftest import alive
from .test_offloop import write_lock
from .test_outbox import jsonl, sale


async def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_settlements_are_written_and_delivered_by_a_child_process(open_store, tmp_path: Path) -> None:
    store = await open_store(writer="process")
    assert store.process is not None, "the default writer is a process"
    child = store.process.pid
    assert child is not None and child != os.getpid()
    store.start_outbox_worker()
    assert store.outbox.running
    record = await store.record_settlement(**sale("L1"))
    assert record.result == "sold" and record.hammer_price == 8_000_000
    assert await store.wait_delivered("L1", timeout=10)
    assert [line["lot"] for line in jsonl(tmp_path / "escrow.jsonl")] == ["L1"]
    again = await store.record_settlement(**sale("L1", price=1))
    assert again.hammer_price == 8_000_000, "the ledger writes a lot's record once, in the child as before"
    await store.close()
    assert await gone(child), "closing the store ends its writer"
    assert not store.outbox.running


def write_syscalls() -> int:
    """This process's write syscalls so far (every thread's), as Linux counts them."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("syscw:"))


async def test_a_hundred_settlements_made_in_one_turn_reach_the_writer_in_one_pipe_write(open_store, tmp_path: Path) -> None:
    """500 lots closing together wrote a frame each to the child's pipe, two with the escrow wake; the
    frames of one turn now leave in one write, and the hundred writes are all done, each once."""
    store = await open_store(writer="process")
    store.start_outbox_worker()
    await store.record_settlement(**sale("WARM"))  # the child is up and its pool open
    lots = [f"T{i}" for i in range(100)]
    before = write_syscalls()
    writes = [asyncio.ensure_future(store.record_settlement(**sale(lot))) for lot in lots]  # all in this turn
    await asyncio.sleep(0)  # the turn ends: its frames go
    written = write_syscalls() - before
    records = await asyncio.gather(*writes)
    assert [r.lot for r in records] == lots and all(r.result == "sold" for r in records)
    assert written <= 5, f"{written} write syscalls for one turn's 100 settlements"
    for lot in lots:
        assert await store.wait_delivered(lot, timeout=20)
    delivered = [line["lot"] for line in jsonl(tmp_path / "escrow.jsonl")]
    assert sorted(delivered) == sorted(["WARM", *lots]), "each handed to escrow once"
    await store.close()


async def test_a_refused_write_comes_back_as_its_own_exception_and_changes_nothing(open_store) -> None:
    store = await open_store(writer="process")
    with pytest.raises(ValueError, match="result must be one of"):
        await store.record_settlement(**{**sale("L2"), "result": "stolen"})
    assert await store.get_settlement("L2") is None
    assert (await store.record_settlement(**sale("L2"))).result == "sold", "the writer goes on after a refusal"


async def test_a_killed_writer_fails_the_write_in_flight_and_the_next_write_starts_a_new_one(
    open_store, database_url: str | None, tmp_path: Path
) -> None:
    store = await open_store(writer="process")
    store.start_outbox_worker()
    assert store.process is not None
    first = store.process.pid
    assert first is not None
    async with write_lock(database_url, tmp_path):  # the write waits in the child, on the lock
        in_flight = asyncio.create_task(store.record_settlement(**sale("L3")))
        await asyncio.sleep(0.3)
        assert not in_flight.done()
        os.kill(first, signal.SIGKILL)
        with pytest.raises(WriterClosed):
            await asyncio.wait_for(in_flight, 10)
    assert await gone(first)
    record = await store.record_settlement(**sale("L3"))  # the engine retries a settlement: this one lands
    second = store.process.pid
    assert record.result == "sold" and second is not None and second != first
    assert await store.wait_delivered("L3", timeout=10), "the new child took the escrow deliveries up again"
    assert [line["lot"] for line in jsonl(tmp_path / "escrow.jsonl")] == ["L3"]


async def test_the_database_url_is_never_on_the_writers_command_line(open_store) -> None:
    store = await open_store(writer="process")
    assert store.process is not None and store.process.pid is not None
    with open(f"/proc/{store.process.pid}/cmdline", "rb") as fh:
        argv = fh.read().replace(b"\0", b" ").decode()
    assert "sqlite" not in argv and "postgresql" not in argv and store.process.setup.url not in argv


ORPHAN = """
import asyncio, sys
from pathlib import Path
from auction_engine.store import Store

async def main():
    store = await Store.open(None, Path(sys.argv[1]))
    print(store.process.pid, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


async def test_an_engine_killed_with_minus_9_leaves_no_writer_behind(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN, str(tmp_path)], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 60)
        child = int(json.loads(line))
        assert alive(child)
        parent.kill()
        parent.wait()
        assert await gone(child), "the writer outlived the engine that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
