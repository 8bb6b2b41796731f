"""axe-core, from the npm registry, run inside the test pages (issue 13 item 16).

The test setup fetches one pinned release with `npm pack` into build/vendor/ (gitignored, ~700 kB:
not committed) and injects `axe.min.js` into the page under test. Without npm the tests that need
it skip, except under CI, where a skipped accessibility check would pass silently."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from .support import ROOT

AXE_VERSION = "4.14.1"
VENDOR = ROOT / "build" / "vendor" / f"axe-core-{AXE_VERSION}"


def axe_script() -> Path:
    """build/vendor/axe-core-<version>/axe.min.js, fetched once with npm."""
    script = VENDOR / "axe.min.js"
    if script.exists():
        return script
    npm = shutil.which("npm")
    if npm is None:
        why = "npm not installed: apt-get install -y npm (the accessibility tests fetch axe-core with it)"
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI is set: accessibility tests must run)", pytrace=False)
        pytest.skip(why)
    VENDOR.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "pack", f"axe-core@{AXE_VERSION}", "--silent", "--pack-destination", str(VENDOR)],
                   check=True, capture_output=True, timeout=180)
    with tarfile.open(VENDOR / f"axe-core-{AXE_VERSION}.tgz") as tar:
        member = tar.getmember("package/axe.min.js")
        source = tar.extractfile(member)
        assert source is not None
        script.write_bytes(source.read())
    return script


async def violations(page: Any) -> list[str]:
    """Every axe violation on the page as it stands, one line each (rule, impact, where)."""
    await page.add_script_tag(path=str(axe_script()))
    found = await page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        const where = (v) => v.nodes.map(n => n.target.join(" ")).slice(0, 5).join(", ");
        return r.violations.map(v => `${v.id} (${v.impact}): ${v.help} at ${where(v)}`);
    }""")
    return list(found)
