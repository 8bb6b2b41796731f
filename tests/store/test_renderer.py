"""The contract renderer process (store/aftersale.py) does not outlive an engine killed with -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from ..conftest import ROOT, alive

# A stand-in engine: starts the renderer pool as the engine does, prints the worker's pid, waits.
ENGINE = """
import os, sys, time
from auction_engine.store.aftersale import _renderer
print(_renderer().submit(os.getpid).result(timeout=60), flush=True)
time.sleep(120)
"""




def test_the_renderer_ends_when_its_engine_is_killed_with_minus_9() -> None:
    engine = subprocess.Popen([sys.executable, "-c", ENGINE], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert engine.stdout is not None
        worker = int(engine.stdout.readline())
        assert worker != engine.pid and alive(worker)
        engine.send_signal(signal.SIGKILL)
        engine.wait(10)
        deadline = time.monotonic() + 10
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(worker), "the renderer outlived its engine"
    finally:
        engine.kill()
