"""The package layout: module imports form no cycle (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "symcheck"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imported(node: ast.AST) -> set[str]:
    """The symcheck modules an import statement loads (``from p import m`` loads p.m)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        submodules = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
        # ``from symcheck import numeric`` loads the submodule; the package is its parent.
        return submodules if len(submodules) == len(node.names) else {node.module, *submodules}
    return set()


def imports(path: Path, *, lazy: bool) -> set[str]:
    """The symcheck modules ``path`` imports: at import time, or anywhere when ``lazy``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if lazy:
        nodes = list(ast.walk(tree))
    else:
        nodes = []
        for stmt in tree.body:
            if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
                continue
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                nodes.extend(ast.walk(stmt))
    found: set[str] = set()
    for node in nodes:
        found |= _imported(node)
    return found & MODULES.keys()


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan 1972)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_import_time_graph_has_no_cycle() -> None:
    graph = {m: imports(p, lazy=False) - {m} for m, p in MODULES.items()}
    assert cycles(graph) == []


def test_cycle_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_train_depends_on_optim_one_way() -> None:
    optim, train = (n for n in sorted(MODULES) if n.rsplit(".", 1)[-1] in ("optim", "train"))
    assert optim in imports(MODULES[train], lazy=False)
    assert train not in imports(MODULES[optim], lazy=True)  # not even in a function
