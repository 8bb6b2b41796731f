"""deploy/: every metric the Grafana dashboard and the Prometheus alerts name exists in a running
engine's /metrics, and the metrics read at scrape time hold real values."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx

from ..conftest import METRICS_AUTH, ROOT, EngineProcess
from .helpers import new_lot

DEPLOY = ROOT / "deploy"
METRIC = re.compile(r"\bauction_[a-z_]+\b")
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def dashboard_exprs() -> list[str]:
    doc = json.loads((DEPLOY / "grafana" / "auction-engine.json").read_text())
    return [target["expr"] for panel in doc["panels"] for target in panel["targets"]]


def named_metrics() -> set[str]:
    text = "\n".join(dashboard_exprs()) + (DEPLOY / "prometheus" / "alerts.yml").read_text()
    return set(METRIC.findall(text))


def exposed(metrics_text: str) -> tuple[set[str], set[str]]:
    """(sample names, family names from # TYPE) in a Prometheus exposition."""
    samples = {line.split("{")[0].split(" ")[0] for line in metrics_text.splitlines() if line and not line.startswith("#")}
    families = {line.split()[2] for line in metrics_text.splitlines() if line.startswith("# TYPE ")}
    return samples, families


def exists(name: str, samples: set[str], families: set[str]) -> bool:
    base = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
    return name in samples or name in families or base in families


async def test_every_metric_the_dashboard_and_alerts_name_is_in_metrics(engine: EngineProcess) -> None:
    await new_lot(engine)
    text = httpx.get(f"{engine.url}/metrics", headers=METRICS_AUTH, timeout=10).text
    samples, families = exposed(text)
    named = named_metrics()
    for must in ("auction_lots_owned", "auction_takeovers_total", "auction_forwarded_total", "auction_forward_seconds_bucket",
                 "auction_outbox_oldest_seconds", "auction_redis_rtt_seconds", "auction_append_seconds_bucket"):
        assert must in named, f"the dashboard or alerts lost {must}"
    missing = sorted(n for n in named if not exists(n, samples, families))
    assert missing == [], f"named in deploy/ but not in /metrics: {missing}"


async def test_scrape_time_metrics_hold_real_values(engine: EngineProcess) -> None:
    text = httpx.get(f"{engine.url}/metrics", headers=METRICS_AUTH, timeout=10).text
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith(("auction_redis_rtt_seconds ", "auction_outbox_pending ", "auction_outbox_oldest_seconds "))}
    assert 0 < values["auction_redis_rtt_seconds"] < 1.0
    assert values["auction_outbox_pending"] == 0 and values["auction_outbox_oldest_seconds"] == 0


def test_every_panel_has_a_title_and_every_alert_a_summary() -> None:
    doc = json.loads((DEPLOY / "grafana" / "auction-engine.json").read_text())
    assert all(panel["title"] and panel["targets"] for panel in doc["panels"])
    alerts = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    assert alerts.count("- alert:") == alerts.count("summary:") >= 4
    for name in ("AuctionOutboxStuck", "AuctionAckP99High", "AuctionNoWriterForLot", "AuctionNodeMissing"):
        assert f"- alert: {name}" in alerts


def test_every_command_line_in_deploy_uses_flags_the_cli_has() -> None:
    """ExecStart/ExecStartPre of the units and the container's CMD: each subcommand's flags are in its --help."""
    lines = [line for unit in (DEPLOY / "systemd").glob("*.service") for line in unit.read_text().splitlines()
             if line.startswith(("ExecStart=", "ExecStartPre="))]
    cmd = next(line for line in (DEPLOY / "Containerfile").read_text().splitlines() if line.startswith("CMD "))
    lines.append("bin/auction-engine " + " ".join(json.loads(cmd[4:])))
    used: dict[str, set[str]] = {}
    for line in lines:
        words = line.split("bin/auction-engine", 1)[1].split()
        used.setdefault(words[0], set()).update(w for w in words[1:] if w.startswith("--"))
    assert {"serve", "doctor"} <= set(used)
    for sub, flags in used.items():
        helptext = subprocess.run([sys.executable, "-m", "auction_engine.cli", sub, "--help"], cwd=ROOT,
                                  capture_output=True, text=True, timeout=30).stdout
        assert all(flag in helptext for flag in flags), (sub, flags - {f for f in flags if f in helptext})
