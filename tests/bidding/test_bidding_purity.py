"""bidding/ is sans-I/O and deterministic: stdlib only (log.py may use msgpack), no clock,
no randomness, no asyncio, no I/O."""

import ast
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "bidding"
FORBIDDEN = {"time", "datetime", "random", "secrets", "asyncio", "socket", "os", "io", "threading", "uuid",
             "subprocess", "pathlib", "shutil", "tempfile", "select", "selectors", "signal"}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_bidding_imports_only_the_stdlib_and_no_clock_or_io():
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 10
    for path in modules:
        names = imported_modules(path)
        allowed_extra = {"msgpack"} if path.name == "log.py" else set()
        outside = {n for n in names if n not in sys.stdlib_module_names and n != "__future__"} - allowed_extra
        assert not outside, (path.name, outside)
        assert not names & FORBIDDEN, (path.name, names & FORBIDDEN)
        assert not re.search(r"(?<![\w.])(open|print|input)\(", path.read_text()), path.name
