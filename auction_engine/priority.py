"""The engine's helper processes (the SQL writer, the contract renderer) yield the CPU to its loop.

`os.nice` alone did not do it. Linux with autogroup on (`/proc/sys/kernel/sched_autogroup_enabled`,
the default of most distributions' desktop and cloud kernels) shares the CPU between sessions first
and applies a process's nice only within its session. The SQL writer runs in a session of its own
(so a Ctrl-C at the terminal does not reach it before the engine's last writes), so at nice 5 it
still had the weight of the engine's whole session: in a sale's last seconds on a 2-core machine,
with the writer writing 500 settlements and the renderer rendering their contracts, the engine's
loop spent 44% of the wall clock waiting for a core and ran 22% (`/proc/<pid>/schedstat`), and
its acks waited 150-500 ms (docs/performance.md, "Round five").

`lower(nice)` therefore also sets the nice of the caller's autogroup, through the documented
`/proc/self/autogroup` (sched(7)), when the caller leads a session of its own, and only then: a
helper sharing the engine's session would lower the engine with it. Raising a nice value needs
no privilege. Without autogroup (or under systemd, where cgroups decide) the file is absent or
inert, and plain nice is what applies.
"""

from __future__ import annotations

import contextlib
import os

AUTOGROUP = "/proc/self/autogroup"


def lower(nice: int, idle: bool = False) -> None:
    """This process at `nice` (added to its own), and its session's autogroup at `nice` when it
    leads that session. `idle`: also the SCHED_IDLE policy (sched(7)): it runs on what the engine,
    Redis and everything else at normal priority leave of the cores, and yields the moment they wake.

    Why SCHED_IDLE on top: on two cores, with the autogroups lowered, the engine still waited for a
    core 18-24% of the wall clock in a sale's last seconds (the renderer running 44-75% of a core,
    the writer 24-47%) and acks waited 200-370 ms at p99; with both helpers at SCHED_IDLE, 67-136 ms.
    What it costs: while normal work keeps both cores busy the helpers wait. Nothing waits on the
    renderer; the writer's settlements, catalogue flushes and escrow hand-offs are late then, never
    lost (the engine retries them, and the outbox is durable), and no bid waits for them."""
    os.nice(nice)
    if idle and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    if os.getsid(0) != os.getpid():
        return
    with contextlib.suppress(OSError), open(AUTOGROUP, "w") as group:
        group.write(str(nice))

