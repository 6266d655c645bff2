"""The package layout (README, "Layout"): old import paths and import cycles.

Every module that moved into a pillar subpackage is importable under its old
name as the *same* module object (``symcheck/_moved.py``), no module is ever
loaded twice, no file is left at an old place, the repository's own code and
docs use the new paths, and module imports form no cycle.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest

import symcheck
from symcheck._moved import MOVED

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "symcheck"


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


# --- old import paths ------------------------------------------------------------------


def _source(dotted: str) -> Path:
    return ROOT / (dotted.replace(".", "/") + ".py")


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_new_module(old: str) -> None:
    new = importlib.import_module(MOVED[old])
    assert importlib.import_module(old) is new
    assert sys.modules[old] is new
    assert new.__name__ == MOVED[old] and new.__spec__.name == MOVED[old]
    parent, _, short = old.rpartition(".")
    exec_globals: dict[str, object] = {}
    exec(f"from {parent} import {short} as got", exec_globals)
    # ``symcheck/__init__.py`` exports functions named like two modules (train, derive).
    assert exec_globals["got"] is new or short in symcheck.__all__
    assert getattr(sys.modules[parent], short) is new or short in symcheck.__all__


@pytest.mark.parametrize("old", sorted(MOVED))
def test_nothing_is_left_at_the_old_place(old: str) -> None:
    assert not _source(old).exists(), f"{_source(old)} is back; move it to {MOVED[old]}"
    assert _source(MOVED[old]).is_file()


def test_an_unknown_old_name_is_not_invented() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("symcheck.no_such_module")


def test_monkeypatch_through_the_old_path_patches_the_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = sorted(MOVED.items())[0]
    module = importlib.import_module(new)
    sentinel = object()
    monkeypatch.setattr(f"{old}.__doc__", sentinel)
    assert module.__doc__ is sentinel


def test_exported_functions_named_like_modules_stay_functions() -> None:
    clashes = [n for n in symcheck.__all__ if f"symcheck.{n}" in MOVED]
    assert clashes, "no clash left: drop this test and the parent check of _moved.install"
    before = {n: getattr(symcheck, n) for n in clashes}
    for name in clashes:
        importlib.import_module(f"symcheck.{name}")
        assert getattr(symcheck, name) is before[name] and callable(before[name])


#: Modules that became packages of the same name, and the module whose names they offer.
BECAME_PACKAGES = {"symcheck.audit": "symcheck.audit.file", "symcheck.cli": "symcheck.cli.command"}


@pytest.mark.parametrize("package", sorted(BECAME_PACKAGES))
def test_a_module_that_became_a_package_offers_its_names(package: str) -> None:
    offered, source = (importlib.import_module(n) for n in (package, BECAME_PACKAGES[package]))
    assert offered.__all__ == source.__all__
    for name in source.__all__:
        assert getattr(offered, name) is getattr(source, name), name


def test_the_console_script_and_the_plugin_entry_point_resolve() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    with (ROOT / "pyproject.toml").open("rb") as fh:
        project = tomllib.load(fh)["project"]
    targets = [*project["scripts"].values(), *project["entry-points"]["pytest11"].values()]
    assert targets == ["symcheck.cli:main", "symcheck.confirm.pytest_plugin"]
    module, _, attr = targets[0].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    assert importlib.import_module(targets[1]) is importlib.import_module("symcheck.pytest_plugin")


def unshipped(files: list[str], package_data: dict[str, list[str]]) -> list[str]:
    """The non-Python files under ``symcheck/`` that no ``package-data`` glob ships."""
    return [
        f
        for f in files
        if not f.endswith(".py")
        and not any(
            PurePosixPath(f).match(f"{pkg.replace('.', '/')}/{glob}")
            for pkg, globs in package_data.items()
            for glob in globs
        )
    ]


def test_every_data_file_of_the_package_is_shipped() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    with (ROOT / "pyproject.toml").open("rb") as fh:
        package_data = tomllib.load(fh)["tool"]["setuptools"]["package-data"]
    files = [str(p.relative_to(ROOT).as_posix()) for p in _tracked(under="symcheck")]
    assert any(not f.endswith(".py") for f in files)
    assert unshipped(files, package_data) == []
    assert unshipped(["symcheck/model/table.csv"], package_data) == ["symcheck/model/table.csv"]


def duplicates(modules: dict[str, ModuleType]) -> dict[str, list[str]]:
    """Source files loaded as more than one module object: file -> the names."""
    by_file: dict[str, dict[int, str]] = {}
    for name, module in modules.items():
        path = getattr(module, "__file__", None)
        if path:
            by_file.setdefault(str(Path(path).resolve()), {})[id(module)] = name
    return {f: sorted(ids.values()) for f, ids in by_file.items() if len(ids) > 1}


_FRESH = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
old, new = json.loads(sys.argv[2])
for name in old + new:  # old first: the alias must not load a second copy
    importlib.import_module(name)
print(json.dumps({n: m.__file__ for n, m in sys.modules.items()
                  if n.startswith("symcheck") and getattr(m, "__file__", None)}))
print(json.dumps({n: id(m) for n, m in sys.modules.items() if n.startswith("symcheck")}))
"""


def test_a_fresh_interpreter_loads_every_module_once() -> None:
    names = json.dumps([sorted(MOVED), sorted(MOVED.values())])
    run = subprocess.run(
        [sys.executable, "-c", _FRESH, str(ROOT), names],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    files_line, ids_line = run.stdout.splitlines()[-2:]
    files, ids = json.loads(files_line), json.loads(ids_line)
    for old, new in MOVED.items():
        assert ids[old] == ids[new], old
    seen: dict[str, int] = {}
    for name, path in files.items():
        assert seen.setdefault(str(Path(path).resolve()), ids[name]) == ids[name], name


def test_duplicates_sees_a_module_loaded_twice(tmp_path: Path) -> None:
    path = tmp_path / "twice.py"
    path.write_text("X = 1\n", encoding="utf-8")
    copies = {}
    for name in ("twice_a", "twice_b"):
        spec = importlib.util.spec_from_file_location(name, path)
        copies[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(copies[name])
    assert duplicates(copies) == {str(path.resolve()): ["twice_a", "twice_b"]}
    ours = {n: m for n, m in sys.modules.items() if n.split(".")[0] == "symcheck"}
    assert duplicates(ours) == {}


def test_python_dash_m_runs_an_old_path() -> None:
    old = next(o for o, n in sorted(MOVED.items()) if "__main__" in _source(n).read_text())
    run = subprocess.run(
        [sys.executable, "-m", old, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage:")


# --- the repository uses the new paths --------------------------------------------------

_OLD = "|".join(re.escape(o.split(".", 1)[1]) for o in sorted(MOVED, key=len, reverse=True))
#: An old dotted name or source path. ``symcheck.pytest_plugin`` is also the pytest
#: plugin's registered name (the entry point's), which stays.
OLD_PATH = re.compile(rf"(?<![\w./-])symcheck(?:\.(?:{_OLD})\b(?!-)|/(?:{_OLD})\.py\b)")
_PLUGIN_NAME = re.compile(r"symcheck\.pytest_plugin\b")
_IMPORT = re.compile(r"^\s*(from|import)\s")


def old_paths(text: str) -> list[str]:
    """The lines of ``text`` that name a module by its old path."""
    return [
        line.strip()
        for line in text.splitlines()
        if any(
            _IMPORT.match(line) or not _PLUGIN_NAME.match(m.group())
            for m in OLD_PATH.finditer(line)
        )
    ]


def _tracked(under: str = ".") -> list[Path]:
    """The text files git tracks below ``under``, except the table of old names."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", under], capture_output=True, cwd=ROOT, check=True
    ).stdout.decode()
    skip = {"symcheck/_moved.py"}
    keep = (".py", ".md", ".toml", ".json", ".txt", ".cfg", ".ini")
    return [ROOT / p for p in listed.split("\0") if p.endswith(keep) and p not in skip]


def test_the_repository_names_modules_by_their_new_paths() -> None:
    stale = {}
    for path in _tracked():
        if path.is_file() and (lines := old_paths(path.read_text(encoding="utf-8"))):
            stale[str(path.relative_to(ROOT))] = lines[:3]
    fixes = {
        m.group(): MOVED.get(m.group()) or m.group()
        for lines in stale.values()
        for line in lines
        for m in OLD_PATH.finditer(line)
    }
    assert stale == {}, f"old module paths {stale}; write instead (symcheck/_moved.py): {fixes}"


def test_old_paths_finds_old_names_only() -> None:
    old = next(iter(sorted(MOVED)))
    short = old.split(".", 1)[1]
    assert old_paths(f"import {old}\nx = 1") == [f"import {old}"]
    assert old_paths(f"see symcheck/{short}.py") == [f"see symcheck/{short}.py"]
    assert old_paths(f"import {MOVED[old]}") == []
    assert old_paths(f"symcheck.{short}_else and my_symcheck.{short}") == []
    assert old_paths("pytest -p symcheck.pytest_plugin") == []
    assert old_paths("from symcheck.pytest_plugin import PROFILES") != []
