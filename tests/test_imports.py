"""The layering of DESIGN.md "Layout", read from the source (ast): `bidding/` imports nothing of
ours, neither `bidding/` nor `auction_engine/` imports `clients/`, and no two modules of
`auction_engine/` import each other, directly or round a longer circle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("bidding", "auction_engine", "clients")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> Iterator[str]:
    """Every module of ours that `path` imports, at any depth in the file (lazy imports count)."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        yield from (name for name in names if name.split(".")[0] in OURS)


def graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of `package` it imports (`from . import x` counts as importing `x`).
    A module's own enclosing packages are left out: Python imports them first whatever it says."""
    files = {module_name(p): p for p in (ROOT / package).rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        edges[name] = {target for target in imports(path) if target in files and not (name + ".").startswith(target + ".")}
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, if there is any (depth-first search, grey/black marking)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module_name(path)} imports {target}"
        for path in (ROOT / package).rglob("*.py")
        for target in imports(path)
        if target.split(".")[0] in forbidden
    )


def test_bidding_imports_nothing_of_ours() -> None:
    assert offenders("bidding", ("auction_engine", "clients")) == []


def test_auction_engine_does_not_import_clients() -> None:
    assert offenders("auction_engine", ("clients",)) == []


def test_auction_engine_has_no_import_cycle() -> None:
    assert cycle(graph("auction_engine")) is None


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
