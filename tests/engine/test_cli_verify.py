"""`auction-engine verify` says what went wrong in one line (issue 13 item 8): a server that
signs with another secret refuses this machine's auditor token, and an open lot has no result yet."""

from __future__ import annotations

from .helpers import new_lot
from .test_cli import cli


async def test_verify_against_a_server_with_another_secret_says_so(module_engine, tmp_path):
    lot = (await new_lot(module_engine))["lot"]
    refused = cli("verify", lot, "--url", module_engine.url, data_dir=tmp_path, secret="not-the-servers-secret-" + "x" * 32)
    assert refused.returncode == 2
    assert "refused the auditor token signed with this machine's secret" in refused.stderr
    assert "pass --token" in refused.stderr and "Traceback" not in refused.stderr

    ok = cli("verify", lot, "--url", module_engine.url)
    assert ok.returncode == 0, ok.stderr
    assert "result none yet" in ok.stdout and "result None" not in ok.stdout
