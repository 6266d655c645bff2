r"""Mutation testing for symcheck's trust base: a small AST mutation script.

Each mutant changes one node of a target module (a comparison flipped, a
constant changed, a guard removed, ...). The targeted tests of that module
run against every mutant in a temporary copy of the repository (the work
tree is never touched): a mutant whose tests fail is *killed*, one whose
tests pass *survived* (the tests do not notice the change), one that runs
past the per-mutant time limit is a *timeout* (counted as detected, reported
apart). The score of a module is

.. math::

    \text{score} = \frac{\text{killed} + \text{timeout}}{\text{mutants} - \text{equivalent}},

where a surviving mutant is *equivalent* when ``mutation/equivalent.toml``
records why it cannot change behaviour (keyed by its id
``module:line:col:operator:index``, with its mutated text, so a record goes
stale when the code moves). See ``mutation/README.md``.

Usage::

    python mutation/run.py --all                  # every module of config.toml
    python mutation/run.py --module zerotest --jobs 2
    python mutation/run.py --all --sample 80 --seed 1
    python mutation/run.py --report               # re-render summary.md only
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from queue import Queue

import tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = HERE / "config.toml"
EQUIVALENT = HERE / "equivalent.toml"
RESULTS = HERE / "results"
SUMMARY = HERE / "summary.md"

KILLED = "killed"
SURVIVED = "survived"
TIMEOUT = "timeout"
#: Copied into every temporary tree; caches and VCS data are left behind.
_IGNORE = shutil.ignore_patterns(
    ".git", "__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache", "*.egg-info", "results"
)
#: A line carrying this comment is never mutated.
PRAGMA = "pragma: no mutate"


@dataclass(frozen=True)
class Mutant:
    """One change of one node: where, which operator, the text before and after."""

    module: str
    line: int
    col: int
    operator: str
    index: int
    original: str
    mutated: str
    source: str = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.module}:{self.line}:{self.col}:{self.operator}:{self.index}"


# ---------------------------------------------------------------------------
# Operators. Each takes a node and yields replacement nodes (expressions) or
# replacement statement text; ``None`` as statement text means "pass".

_CMP_FLIP: dict[type, type] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_ARITH_SWAP: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
}


def _copy(node: ast.AST) -> ast.AST:
    return ast.parse(ast.unparse(node), mode="eval").body  # type: ignore[attr-defined]


def _op_cmp(node: ast.AST) -> Iterator[ast.AST]:
    """``==``/``!=``, ``<``/``<=``, ``>``/``>=``, ``in``/``not in``, ``is``/``is not``."""
    if not isinstance(node, ast.Compare):
        return
    for i, op in enumerate(node.ops):
        if type(op) in _CMP_FLIP:
            new = _copy(node)
            new.ops[i] = _CMP_FLIP[type(op)]()  # type: ignore[attr-defined]
            yield new


def _op_boolop(node: ast.AST) -> Iterator[ast.AST]:
    """``and`` <-> ``or``."""
    if isinstance(node, ast.BoolOp):
        new = _copy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()  # type: ignore[attr-defined]
        yield new


def _op_not(node: ast.AST) -> Iterator[ast.AST]:
    """``not x`` -> ``x``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield _copy(node.operand)


def _op_neg(node: ast.AST) -> Iterator[ast.AST]:
    """``-x`` -> ``x`` (a negative literal is left to ``const``)."""
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and not isinstance(node.operand, ast.Constant)
    ):
        yield _copy(node.operand)


def _op_const(node: ast.AST) -> Iterator[ast.AST]:
    """``True``<->``False``, ``0``<->``1``, any other number ``n`` -> ``n + 1``."""
    if not isinstance(node, ast.Constant):
        return
    value = node.value
    if isinstance(value, bool):
        yield ast.Constant(not value)
    elif isinstance(value, int | float):
        if value == 0:
            yield ast.Constant(type(value)(1))
        elif value == 1:
            yield ast.Constant(type(value)(0))
        else:
            yield ast.Constant(value + 1)


def _op_arith(node: ast.AST) -> Iterator[ast.AST]:
    """``+``<->``-``, ``*``<->``/``, ``//`` -> ``*``, ``%`` -> ``//``, ``**`` -> ``*``."""
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH_SWAP:
        new = _copy(node)
        new.op = _ARITH_SWAP[type(node.op)]()  # type: ignore[attr-defined]
        yield new


EXPRESSION_OPERATORS: dict[str, Callable[[ast.AST], Iterator[ast.AST]]] = {
    "cmp": _op_cmp,
    "boolop": _op_boolop,
    "not": _op_not,
    "neg": _op_neg,
    "const": _op_const,
    "arith": _op_arith,
}


def _is_guard(node: ast.AST, guard_calls: frozenset[str]) -> bool:
    """``if ...: raise ...`` (no else), or a call statement of a configured guard function."""
    if isinstance(node, ast.If):
        return not node.orelse and len(node.body) == 1 and isinstance(node.body[0], ast.Raise)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        return name in guard_calls
    return False


def _statement_mutants(
    node: ast.stmt, parent_guard: bool, guard_calls: frozenset[str]
) -> Iterator[tuple[str, str]]:
    """``(operator, replacement text)`` for a statement."""
    if _is_guard(node, guard_calls):
        yield "guard", "pass"
    elif isinstance(node, ast.Raise) and not parent_guard:
        yield "raise", "pass"
    if isinstance(node, ast.Return) and node.value is not None:
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield "return", "return None"
    if isinstance(node, ast.Break):
        yield "loop", "continue"
    if isinstance(node, ast.Continue):
        yield "loop", "break"
    if isinstance(node, ast.AugAssign) and type(node.op) in _ARITH_SWAP:
        new = ast.AugAssign(node.target, _ARITH_SWAP[type(node.op)](), node.value)
        yield "arith", ast.unparse(new)


# ---------------------------------------------------------------------------
# Generation.


def _skipped_nodes(tree: ast.Module) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, ``__all__``, f-string parts."""
    skip: set[int] = set()

    def drop(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            drop(body[0])
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            drop(node.returns)
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                drop(arg.annotation)
            for arg in (node.args.vararg, node.args.kwarg):
                drop(arg.annotation if arg else None)
        if isinstance(node, ast.AnnAssign):
            drop(node.annotation)
        if isinstance(node, ast.JoinedStr):
            drop(node)
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            drop(node)
    return skip


def _offsets(source: str) -> list[int]:
    """Character offset of the start of every line (1-based line -> index ``line - 1``)."""
    out, total = [], 0
    for line in source.splitlines(keepends=True):
        out.append(total)
        total += len(line)
    out.append(total)
    return out


def _span(node: ast.AST, lines: list[str], starts: list[int]) -> tuple[int, int]:
    """Character span of ``node``; AST columns count UTF-8 bytes, converted here."""

    def at(line: int, col_bytes: int) -> int:
        text = lines[line - 1].encode("utf-8")[:col_bytes].decode("utf-8")
        return starts[line - 1] + len(text)

    return at(node.lineno, node.col_offset), at(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined, arg-type]


def generate(
    module: str, source: str, *, guard_calls: frozenset[str] = frozenset()
) -> list[Mutant]:
    """Every mutant of ``source`` in source order (deterministic); unparsable ones dropped."""
    tree = ast.parse(source)
    skip = _skipped_nodes(tree)
    lines = source.splitlines(keepends=True)
    starts = _offsets(source)
    found: list[tuple[ast.AST, str, str]] = []
    guard_raises: set[int] = set()
    for node in ast.walk(tree):
        if id(node) in skip or not hasattr(node, "lineno"):
            continue
        if PRAGMA in lines[node.lineno - 1]:
            continue
        if isinstance(node, ast.stmt):
            if _is_guard(node, guard_calls) and isinstance(node, ast.If):
                guard_raises.add(id(node.body[0]))
            for op, text in _statement_mutants(node, id(node) in guard_raises, guard_calls):
                found.append((node, op, text))
        elif isinstance(node, ast.expr) and not isinstance(getattr(node, "ctx", None), ast.Store):
            for op, make in EXPRESSION_OPERATORS.items():
                for new in make(node):
                    found.append((node, op, f"({ast.unparse(new)})"))
    found.sort(key=lambda f: (f[0].lineno, f[0].col_offset, f[1]))  # type: ignore[attr-defined]
    mutants: list[Mutant] = []
    counter: dict[tuple[int, int, str], int] = {}
    for node, op, text in found:
        begin, end = _span(node, lines, starts)
        mutated_source = source[:begin] + text + source[end:]
        try:
            ast.parse(mutated_source)
        except SyntaxError:
            continue
        key = (node.lineno, node.col_offset, op)  # type: ignore[attr-defined]
        index = counter.get(key, 0)
        counter[key] = index + 1
        original = " ".join(source[begin:end].split())
        mutants.append(Mutant(module, key[0], key[1], op, index, original, text, mutated_source))
    return mutants


def sample(mutants: list[Mutant], n: int | None, seed: int) -> list[Mutant]:
    """``n`` mutants drawn with ``random.Random(seed)``, in source order; all when ``n`` is None."""
    if n is None or n >= len(mutants):
        return mutants
    chosen = set(random.Random(seed).sample(range(len(mutants)), n))
    return [m for i, m in enumerate(mutants) if i in chosen]


# ---------------------------------------------------------------------------
# Running.


@dataclass
class Outcome:
    id: str
    line: int
    operator: str
    original: str
    mutated: str
    status: str
    seconds: float


#: pytest processes running now, killed (by their process group) when the run is interrupted.
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _pytest(tree: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    """Run the targeted tests in ``tree``: killed (non-zero exit), survived (exit 0) or timeout."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider", *tests]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    with _LIVE_LOCK:
        _LIVE.add(proc)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        return TIMEOUT, time.monotonic() - start
    except BaseException:
        _stop(proc)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    return (SURVIVED if code == 0 else KILLED), time.monotonic() - start


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def make_tree(root: Path, parent: Path) -> Path:
    """A copy of the repository under ``parent`` (no VCS data, no caches)."""
    tree = Path(tempfile.mkdtemp(dir=parent))
    shutil.copytree(root, tree / "repo", ignore=_IGNORE)
    return tree / "repo"


def check_import(tree: Path) -> None:
    """Refuse to run when ``symcheck`` would be imported from elsewhere than the copy."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run(
        [sys.executable, "-c", "import symcheck; print(symcheck.__file__)"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(out).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"symcheck is imported from {out}, not from the copy {tree}")


def run_mutants(
    mutants: list[Mutant],
    *,
    target: str,
    tests: list[str],
    timeout: float,
    trees: list[Path],
    progress: Callable[[Outcome], None] = lambda o: None,
) -> list[Outcome]:
    """Run each mutant in one of ``trees`` (one job per tree); the target is restored after each."""
    pool: Queue[Path] = Queue()
    for tree in trees:
        pool.put(tree)

    def one(m: Mutant) -> Outcome:
        tree = pool.get()
        path = tree / target
        original = path.read_text(encoding="utf-8")
        try:
            path.write_text(m.source, encoding="utf-8")
            status, seconds = _pytest(tree, tests, timeout)
        finally:
            path.write_text(original, encoding="utf-8")
            pool.put(tree)
        outcome = Outcome(
            m.id, m.line, m.operator, m.original, m.mutated, status, round(seconds, 2)
        )
        progress(outcome)
        return outcome

    ex = ThreadPoolExecutor(max_workers=len(trees))
    futures = [ex.submit(one, m) for m in mutants]
    try:
        return [f.result() for f in futures]
    except BaseException:
        ex.shutdown(wait=False, cancel_futures=True)
        with _LIVE_LOCK:
            for proc in list(_LIVE):
                _stop(proc)
        raise
    finally:
        ex.shutdown(wait=True)


# ---------------------------------------------------------------------------
# Summary.


def load_equivalent(path: Path = EQUIVALENT) -> dict[str, dict[str, str]]:
    """``{mutant id: {"mutated": text, "reason": why}}`` from ``equivalent.toml``."""
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return {key: dict(value) for key, value in data.items()}


def classify(outcome: dict, equivalent: dict[str, dict[str, str]]) -> tuple[str, str]:
    """Final status and note of an outcome: a survivor recorded with its text is equivalent."""
    record = equivalent.get(outcome["id"])
    if outcome["status"] != SURVIVED:
        if record is not None:
            return outcome["status"], "recorded as equivalent but detected: remove the record"
        return outcome["status"], ""
    if record is None:
        return SURVIVED, "SURVIVED — needs a test"
    if record.get("mutated") != outcome["mutated"]:
        return SURVIVED, "SURVIVED — stale equivalence record (the mutated text differs)"
    return "equivalent", record["reason"]


def render(results: dict[str, dict], equivalent: dict[str, dict[str, str]]) -> str:
    """The Markdown summary of every module's last run."""
    out = [
        "# Mutation testing: last run",
        "",
        "Generated by `python mutation/run.py` (see `mutation/README.md`); do not edit by hand.",
        "Score = (killed + timeout) / (mutants - equivalent).",
        "",
        "| module | run | of | sample, seed | killed | timeout | survived | equivalent | score |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    for name in sorted(results):
        r = results[name]
        counts = {KILLED: 0, TIMEOUT: 0, SURVIVED: 0, "equivalent": 0}
        rows = []
        for o in r["outcomes"]:
            status, note = classify(o, equivalent)
            counts[status] += 1
            if status in (SURVIVED, "equivalent") or note:
                rows.append(
                    f"- `{o['id']}` line {o['line']} ({o['operator']}): "
                    f"`{o['original'][:90]}` -> `{o['mutated'][:90]}` — {note}"
                )
        considered = len(r["outcomes"]) - counts["equivalent"]
        detected = counts[KILLED] + counts[TIMEOUT]
        score = f"{100 * detected / considered:.0f}%" if considered else "n/a"
        drawn = f"{r['sample']}, {r['seed']}" if r["sample"] is not None else "all"
        out.append(
            f"| {name} | {len(r['outcomes'])} | {r['total']} | {drawn} | {counts[KILLED]} | "
            f"{counts[TIMEOUT]} | {counts[SURVIVED]} | {counts['equivalent']} | {score} |"
        )
        details += [
            "",
            f"## {name} (`{r['target']}`)",
            "",
            f"Tests: {', '.join(f'`{t}`' for t in r['tests'])}; run {r['date']}, "
            f"{r['seconds']:.0f} s.",
            "",
            *(rows or ["No survivors."]),
        ]
    return "\n".join([*out, *details, ""])


def write_summary() -> str:
    results = {}
    for path in sorted(RESULTS.glob("*.json")):
        results[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    text = render(results, load_equivalent())
    SUMMARY.write_text(text, encoding="utf-8")
    return text


# ---------------------------------------------------------------------------
# Command line.


def load_config(path: Path = CONFIG) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def module_mutants(name: str, config: dict) -> list[Mutant]:
    """Every mutant of the target of module ``name`` of ``config``."""
    spec = config["modules"][name]
    guards = spec.get("guard_calls", config.get("defaults", {}).get("guard_calls", []))
    source = (ROOT / spec["target"]).read_text(encoding="utf-8")
    return generate(name, source, guard_calls=frozenset(guards))


def run_module(name: str, config: dict, args: argparse.Namespace, parent: Path) -> dict:
    spec = config["modules"][name]
    defaults = config.get("defaults", {})
    target, tests = spec["target"], list(spec["tests"])
    every = module_mutants(name, config)
    n = args.sample if args.sample is not None else spec.get("sample", defaults.get("sample"))
    chosen = sample(every, n, args.seed)
    trees = [make_tree(ROOT, parent) for _ in range(args.jobs)]
    check_import(trees[0])
    status, base = _pytest(trees[0], tests, timeout=float(defaults.get("baseline_timeout", 600)))
    if status != SURVIVED:
        raise SystemExit(f"{name}: the targeted tests fail ({status}) without any mutation")
    timeout = max(float(defaults.get("timeout", 30)), 3 * base + 5)
    print(
        f"{name}: {len(chosen)} of {len(every)} mutants, baseline {base:.1f} s, "
        f"timeout {timeout:.0f} s, {args.jobs} job(s)",
        flush=True,
    )
    start = time.monotonic()

    done: list[Outcome] = []

    def progress(o: Outcome) -> None:
        done.append(o)
        if o.status != KILLED or args.verbose or len(done) % 10 == 0:
            print(
                f"  [{len(done)}/{len(chosen)}] {o.status:8} {o.id}: "
                f"{o.original[:60]!r} -> {o.mutated[:60]!r}",
                flush=True,
            )

    outcomes = run_mutants(
        chosen, target=target, tests=tests, timeout=timeout, trees=trees, progress=progress
    )
    return {
        "target": target,
        "tests": tests,
        "total": len(every),
        "sample": n if n is not None and n < len(every) else None,
        "seed": args.seed,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": time.monotonic() - start,
        "outcomes": [asdict(o) for o in outcomes],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every module of config.toml")
    which.add_argument("--module", action="append", help="a module name of config.toml")
    which.add_argument("--report", action="store_true", help="only re-render summary.md")
    which.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--sample", type=int, help="run N mutants per module (seeded; default: config.toml)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run in parallel")
    parser.add_argument("--verbose", action="store_true", help="print killed mutants too")
    args = parser.parse_args(argv)
    config = load_config()
    if args.report:
        print(write_summary())
        return 0
    if args.jobs < 1:
        parser.error(f"--jobs={args.jobs} must be at least 1")
    if args.sample is not None and args.sample < 1:
        parser.error(f"--sample={args.sample} must be at least 1")
    names = sorted(config["modules"]) if args.all or args.list else args.module
    unknown = [n for n in names if n not in config["modules"]]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; use one of {sorted(config['modules'])}")
    if args.list:
        for name in names:
            for m in module_mutants(name, config):
                print(f"{m.id}: {m.original[:70]!r} -> {m.mutated[:70]!r}")
        return 0
    RESULTS.mkdir(exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupted)
    with tempfile.TemporaryDirectory(prefix="symcheck-mutation-") as parent:
        for name in names:
            result = run_module(name, config, args, Path(parent))
            (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n", "utf-8")
            write_summary()
    print(write_summary())
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("mutation run interrupted; results of finished modules are kept", file=sys.stderr)
        raise SystemExit(130) from None
