"""The load test runs end to end against a real engine and its consistency check passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("extra", [[], ["--subprotocol", "msgpack", "--rate", "60", "--open-loop"]],
                         ids=["json-closed-loop", "msgpack-open-loop"])
def test_loadtest_smoke(engine, tmp_path: Path, extra: list[str]) -> None:
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "loadtest.py"), "--url", engine.url, "--token", engine.auctioneer_token,
         "--create", "--lots", "2", "--bidders", "6", "--watchers", "8", "--duration", "3", "--settle", "5",
         "--mix", "increment=1,proxy=1,sniper=1", "--quiet", "--json", str(out), *extra],
        capture_output=True, text=True, timeout=60,
    )
    assert out.exists(), done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["consistency"]["ok"], report["consistency"]
    assert report["accepted"] > 0
    assert report["ack"]["count"] > 0 and report["delivery"]["count"] > 0
    assert done.returncode == 0, done.stdout + done.stderr
