"""The engine's helpers yield the CPU to its loop across sessions, not only within one
(auction_engine/priority.py): on a kernel with autogroup, a helper in a session of its own
at plain nice 5 had the weight of the engine's whole session."""

from __future__ import annotations

import os
import subprocess
import sys

from auction_engine.store.aftersale import RENDER_NICE, _renderer
from auction_engine.store.writerproc import WRITER_NICE

from ..conftest import ROOT

AUTOGROUP = os.path.exists("/proc/self/autogroup")


def nice_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[16])


def autogroup_nice(pid: int | str = "self") -> int | None:
    """The nice of `pid`'s autogroup (`/autogroup-85 nice 5`), or None without autogroup, and
    None for a process in the kernel's default group (init's session: the file is empty), which
    is where CI's runner and so the test process itself may sit."""
    try:
        with open(f"/proc/{pid}/autogroup") as group:
            return int(group.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


# The same, as an expression for a child's `print` (its own group, read from inside).
OWN_GROUP = "(open('/proc/self/autogroup').read().split()[-1] if os.path.exists('/proc/self/autogroup') else None)"


def expected_group(nice: int) -> int | None:
    """What `autogroup_nice` reads back: `nice` on a kernel with autogroup, None without."""
    return nice if AUTOGROUP else None


def run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True, check=True)
    return out.stdout.split()


def test_a_session_leader_lowers_its_autogroup_with_its_nice() -> None:
    nice, group, policy = run("from auction_engine import priority; priority.lower(7); import os; "
                              f"print(os.nice(0), {OWN_GROUP}, os.sched_getscheduler(0))")
    assert int(nice) == 7
    assert group == str(expected_group(7))
    assert int(policy) == os.SCHED_OTHER, "SCHED_IDLE only when asked"


def test_a_process_sharing_its_session_leaves_the_session_s_group_alone() -> None:
    """Lowering it would lower the engine with it."""
    code = ("import os, subprocess, sys; from auction_engine import priority; "
            "child = subprocess.run([sys.executable, '-c', 'from auction_engine import priority; priority.lower(9)']); "
            f"print(os.nice(0), {OWN_GROUP})")
    nice, group = run(code)
    assert int(nice) == 0
    assert group == str(expected_group(0))


async def test_the_sql_writer_runs_at_its_nice_in_its_own_lowered_group(open_store) -> None:
    ours = autogroup_nice()
    store = await open_store(writer="process")
    await store.record_head("L1", 1, "00" * 32)  # a write: the child is up
    assert store.process is not None and store.process.pid is not None
    child = store.process.pid
    assert os.getsid(child) == child, "a session of its own"
    assert nice_of(child) == nice_of(os.getpid()) + WRITER_NICE
    assert autogroup_nice(child) == expected_group(WRITER_NICE)
    assert os.sched_getscheduler(child) == os.SCHED_IDLE, "it yields a core the moment the engine wakes"
    assert autogroup_nice() == ours, "the engine's own group untouched"
    await store.close()


def test_the_contract_renderer_runs_in_its_own_lowered_group() -> None:
    ours = autogroup_nice()
    worker = _renderer().submit(os.getpid).result(timeout=60)
    assert worker != os.getpid()
    assert os.getsid(worker) == worker
    assert nice_of(worker) == nice_of(os.getpid()) + RENDER_NICE
    assert autogroup_nice(worker) == expected_group(RENDER_NICE)
    assert os.sched_getscheduler(worker) == os.SCHED_IDLE
    assert autogroup_nice() == ours, "the engine's own group untouched"
