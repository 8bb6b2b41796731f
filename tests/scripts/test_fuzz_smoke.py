"""The fuzzer runs end to end against its own engine and finds nothing: no 500, no leak."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_fuzz_quick_run_is_clean() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "fuzz.py"), "--quick", "--workers", "1"],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    summary = re.search(r"summary: frames=(\d+) bodies=(\d+) http500=(\d+) leaks=(\d+) failed_checks=(\d+)", done.stdout)
    assert summary, done.stdout[-3000:] + done.stderr[-3000:]
    frames, bodies, http500, leaks, failed = map(int, summary.groups())
    assert frames >= 20_000 and bodies > 0
    assert (http500, leaks, failed) == (0, 0, 0), done.stdout[-3000:]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
