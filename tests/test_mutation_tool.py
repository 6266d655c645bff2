"""The mutation tool (mutation/run.py): deterministic generation, each operator, the verdicts."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "mutation" / "run.py"
_SPEC = importlib.util.spec_from_file_location("symcheck_mutation_run", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
run = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = run
_SPEC.loader.exec_module(run)

TOY = textwrap.dedent(
    '''
    """Docstring: 1 == 2 is not mutated."""

    __all__ = ["f"]


    def f(a: int = 3, flag: bool = True) -> int:
        """Nor is this one."""
        if a < 0:
            raise ValueError(f"a={a + 1} is negative")
        total = 0
        for i in range(a):
            if i == 2 and not flag:
                break
            if i in (5, 6):
                continue
            total += i * 2 - -a
        return total
    '''
)


def _by_op(mutants: list) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for m in mutants:
        out.setdefault(m.operator, []).append((m.original, m.mutated))
    return out


def test_generation_is_deterministic_and_ids_are_unique() -> None:
    first = run.generate("toy", TOY)
    second = run.generate("toy", TOY)
    assert [m.id for m in first] == [m.id for m in second]
    assert [m.source for m in first] == [m.source for m in second]
    assert len({m.id for m in first}) == len(first)
    for m in first:
        compile(m.source, "toy", "exec")
        assert m.source != TOY


def test_each_operator_produces_what_it_says() -> None:
    ops = _by_op(run.generate("toy", TOY))
    assert set(ops["cmp"]) == {
        ("a < 0", "(a <= 0)"),
        ("i == 2", "(i != 2)"),
        ("i in (5, 6)", "(i not in (5, 6))"),
    }
    assert ops["boolop"] == [("i == 2 and not flag", "(i == 2 or not flag)")]
    assert ops["not"] == [("not flag", "(flag)")]
    assert ops["neg"] == [("-a", "(a)")]
    assert set(ops["const"]) == {
        ("3", "(4)"),
        ("True", "(False)"),
        ("0", "(1)"),
        ("2", "(3)"),
        ("5", "(6)"),
        ("6", "(7)"),
    }
    assert set(ops["arith"]) == {
        ("total += i * 2 - -a", "total -= i * 2 - -a"),
        ("i * 2 - -a", "(i * 2 + -a)"),
        ("i * 2", "(i / 2)"),
    }
    assert ops["return"] == [("return total", "return None")]
    assert ops["guard"][0][1] == "pass" and ops["guard"][0][0].startswith("if a < 0:")
    assert "raise" not in ops  # the raise of a guard is the guard mutant, not a second one
    assert set(ops["loop"]) == {("break", "continue"), ("continue", "break")}


def test_docstrings_annotations_fstrings_all_and_pragma_are_not_mutated() -> None:
    originals = {m.original for m in run.generate("toy", TOY) if m.operator != "guard"}
    assert not any("1 == 2" in o or "is negative" in o or '"f"' in o for o in originals)
    assert "a + 1" not in originals  # inside an f-string
    pragma = "x = 1 == 2  # pragma: no mutate\ny = 0\n"
    assert [m.original for m in run.generate("p", pragma)] == ["0"]


def test_a_raise_outside_a_guard_and_guard_calls() -> None:
    src = "def g(x):\n    _require(x > 0, 'x')\n    try:\n        pass\n"
    src += "    except KeyError:\n        raise\n"
    ops = _by_op(run.generate("g", src, guard_calls=frozenset({"_require"})))
    assert ops["guard"] == [("_require(x > 0, 'x')", "pass")]
    assert ops["raise"] == [("raise", "pass")]
    assert "guard" not in _by_op(run.generate("g", src))


def test_sampling_is_seeded_and_keeps_source_order() -> None:
    every = run.generate("toy", TOY)
    a = run.sample(every, 5, 7)
    assert [m.id for m in a] == [m.id for m in run.sample(every, 5, 7)]
    assert len(a) == 5 and [every.index(m) for m in a] == sorted(every.index(m) for m in a)
    assert run.sample(every, None, 0) == every
    assert {m.id for m in run.sample(every, 5, 8)} != {m.id for m in a}


def _toy_tree(tmp_path: Path, test_body: str) -> Path:
    tree = tmp_path / "repo"
    (tree / "tests").mkdir(parents=True)
    (tree / "toymod.py").write_text(
        "def add(a, b):\n    return a + b\n\n\ndef spin(n):\n    i = 0\n"
        "    while i < n:\n        i += 1\n    return i\n"
    )
    (tree / "tests" / "test_toy.py").write_text("from toymod import add, spin\n\n\n" + test_body)
    return tree


def _outcomes(tree: Path, ids: set[str], timeout: float = 60) -> dict[str, str]:
    source = (tree / "toymod.py").read_text()
    mutants = [m for m in run.generate("toymod", source) if m.id in ids]
    assert {m.id for m in mutants} == ids
    outcomes = run.run_mutants(
        mutants, target="toymod.py", tests=["tests"], timeout=timeout, trees=[tree]
    )
    assert (tree / "toymod.py").read_text() == source  # restored after every mutant
    return {o.id: o.status for o in outcomes}


def test_failing_tests_kill_a_mutant_and_passing_tests_let_it_survive(tmp_path: Path) -> None:
    tree = _toy_tree(tmp_path, "def test_add():\n    assert add(0, 0) == 0\n")
    got = _outcomes(tree, {"toymod:2:11:arith:0", "toymod:2:4:return:0"})
    # a - b still gives 0 at (0, 0): the weak test lets it survive; None != 0 kills.
    assert got == {"toymod:2:11:arith:0": run.SURVIVED, "toymod:2:4:return:0": run.KILLED}


def test_a_mutant_past_the_time_limit_is_a_timeout(tmp_path: Path) -> None:
    tree = _toy_tree(tmp_path, "def test_spin():\n    assert spin(3) == 3\n")
    assert _outcomes(tree, {"toymod:8:8:arith:0"}, timeout=8) == {"toymod:8:8:arith:0": run.TIMEOUT}


def test_summary_counts_equivalent_and_flags_stale_records() -> None:
    outcome = {"id": "m:1:0:cmp:0", "line": 1, "operator": "cmp", "original": "a < b"}
    alive = {**outcome, "mutated": "(a <= b)", "status": run.SURVIVED}
    record = {"m:1:0:cmp:0": {"mutated": "(a <= b)", "reason": "a == b never occurs"}}
    assert run.classify(alive, {}) == (run.SURVIVED, "SURVIVED — needs a test")
    assert run.classify(alive, record) == ("equivalent", "a == b never occurs")
    stale = {"m:1:0:cmp:0": {"mutated": "(a < c)", "reason": "old"}}
    assert run.classify(alive, stale)[0] == run.SURVIVED
    killed = {**alive, "status": run.KILLED}
    assert run.classify(killed, record)[0] == run.KILLED
    result = {
        "target": "m.py",
        "tests": ["t.py"],
        "total": 3,
        "sample": None,
        "seed": 0,
        "date": "d",
        "seconds": 1.0,
        "outcomes": [alive, killed | {"id": "m:2:0:cmp:0"}, killed | {"id": "m:3:0:cmp:0"}],
    }
    text = run.render({"m": result}, record)
    # 2 killed of 3 - 1 equivalent = 100%
    assert "| m | 3 | 3 | all | 2 | 0 | 0 | 1 | 100% |" in text
    assert "a == b never occurs" in text
    assert "| m | 3 | 3 | all | 2 | 0 | 1 | 0 | 67% |" in run.render({"m": result}, {})


@pytest.mark.parametrize(
    ("argv", "named"), [(["--module", "nope"], "'nope'"), (["--all", "--jobs", "0"], "--jobs=0")]
)
def test_bad_options_exit_2(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        run.main(argv)
    assert exc.value.code == 2
    assert named in capsys.readouterr().err
