"""No module of the engine or the rules reaches into another library's private objects (issue 11
item 7): every `x._name` read on something other than `self` or `cls` names a member our own
code defines (a reach across our own modules is a style matter, not this test's), or one of the
few names a library documents with a leading underscore; nothing is reached through a bound
method's `__self__` (how `ws.py` once found uvicorn's transport)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("auction_engine", "bidding")

# Public by their library's documentation despite the underscore: SQLAlchemy's `Row._mapping`
# (the row as a mapping) and namedtuple's `_asdict`, `_replace`, `_fields`.
DOCUMENTED = {"_mapping", "_asdict", "_replace", "_fields"}


def own_names(trees: list[ast.Module]) -> set[str]:
    """Every underscored name our code defines: `self._x = ...`, `def _x`, `class _X`, `_X = ...`."""
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return {n for n in names if n.startswith("_")}


def reaches(tree: ast.Module, where: str, allowed: set[str]) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr") \
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            name, base = node.args[1].value, ast.unparse(node.args[0])  # getattr(x, "_name") reads x._name
        elif isinstance(node, ast.Attribute):
            name, base = node.attr, ast.unparse(node.value)
        else:
            continue
        if name == "__self__" or (name.startswith("_") and not name.startswith("__") and base not in ("self", "cls")
                                  and name not in allowed | DOCUMENTED):
            found.append(f"{where}:{node.lineno}: {base}.{name}")
    return sorted(found)


def test_nothing_reads_a_private_member_of_another_librarys_object() -> None:
    paths = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    trees = {str(path.relative_to(ROOT)): ast.parse(path.read_text(), str(path)) for path in paths}
    allowed = own_names(list(trees.values()))
    assert [hit for where, tree in trees.items() for hit in reaches(tree, where, allowed)] == []


def test_the_check_sees_a_reach_into_a_servers_protocol() -> None:
    ours = ast.parse("class A:\n    def __init__(self):\n        self._own = 1\n")
    sample = ast.parse("def f(send, row, a):\n    return send.__self__.transport, send._conn, a._own, row._mapping\n")
    assert reaches(sample, "sample.py", own_names([ours])) == ["sample.py:2: send.__self__", "sample.py:2: send._conn"]
    by_name = ast.parse("def f(send):\n    return getattr(getattr(send, '__self__', None), 'transport', None)\n")
    assert reaches(by_name, "ws.py", set()) == ["ws.py:2: send.__self__"]
