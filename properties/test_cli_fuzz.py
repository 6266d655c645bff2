"""Any argument list the real parser could be given keeps the bad-input contract.

The argument lists are generated from the parser itself: every subcommand,
its positionals and a random subset of its options, with plausible values
(small networks, the declared choices) mixed with hostile ones (huge and
negative numbers, empty strings, nan/inf, long strings, unicode, a FIFO, a
directory, a device, a missing file). Each list runs in-process under the
guards of :func:`symcheck.cli.contract.run_guarded` (20 s watchdog, 2 GiB of
extra address space) with ``--timeout 5``, and must keep every rule of
:func:`symcheck.cli.contract.violations`. The sibling test shows that the
same generator finds a deliberately broken subcommand.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, example, find, given, note, settings

from symcheck import Network, cli, prove_identical_updates
from symcheck.cli.contract import option_names, run_guarded, violations
from symcheck.prove.render import render

_ROOT = Path(tempfile.mkdtemp(prefix="symcheck-fuzz-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
os.mkfifo(_ROOT / "fifo")
(_ROOT / "empty.json").write_text('{"schema": 1, "proofs": []}')
(_ROOT / "cert.json").write_text(
    render([prove_identical_updates(Network.parse("2-2-1"), init="tied")], "json")
)

_PATHS = [
    str(_ROOT / "fifo"),
    str(_ROOT),
    str(_ROOT / "missing.json"),
    str(_ROOT / "cert.json"),
    str(_ROOT / "empty.json"),
    "/dev/full",
    "/dev/zero",
    "out.png",
    "out",
]
_WORDS = ["", "-1", "0", "1", "nan", "inf", "-inf", "1e309", "9" * 400, "x" * 5000, "1/0"]
_WORDS += ["2-2-1", "tanh", "relu", "leaky_relu(-1)", "sigma", "ünïcødé-∞", "zero", "random"]

_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
HOSTILE = st.one_of(
    st.sampled_from(_WORDS + _PATHS),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    _text,
)
NETWORKS = st.one_of(
    st.lists(st.integers(1, 3), min_size=3, max_size=4).map(lambda ws: "-".join(map(str, ws))),
    st.lists(st.integers(0, 10**7), min_size=1, max_size=6).map(lambda ws: "-".join(map(str, ws))),
    HOSTILE,
)
#: Plausible values by option destination, so that many runs reach the command itself.
PLAUSIBLE: dict[str, list[str]] = {
    "network": ["2-2-1", "1-2-1", "2-3-2", "1-2-2-1", "3-2-2"],
    "activation": ["tanh", "relu", "sigmoid", "sigma", "identity", "leaky_relu(1/5)", "sin"],
    "loss": ["mse", "bce", "cross_entropy", "ell"],
    "reduction": ["mean", "sum"],
    "init": ["zero", "constant", "tied", "random", "he_normal", "xavier_normal", "zeros"],
    "value": ["1/10", "c", "2"],
    "batch": ["1", "2"],
    "optimizer": ["sgd", "adam", "momentum"],
    "samples": ["8", "32"],
    "seed": ["0", "1"],
    "steps": ["1", "3"],
    "lr": ["0.1", "1"],
    "out": ["out.png", "out.svg"],
    "plot": ["scale.png"],
    "write": ["catalogue.md"],
    "certificate": [str(_ROOT / "cert.json")],
    "file": [str(_ROOT / "cert.json")],
    "std": ["0.5", "1"],
    "bias": ["0", "0.1"],
    "epsilon": ["0.01"],
    "fan_in": ["3"],
    "fan_out": ["2"],
    "width": ["4", "256"],
    "partition": ["0,0;0,0", "0,1;0,0"],
    "layer": ["1", "2"],
    "tolerance": ["0", "1e-9"],
    "layers": ["a,b"],
    "max_bytes": ["1M"],
    "model": ["2-2-1", "mlp:width=4", "transformer:layers=1", str(_ROOT / "cert.json")],
}
PLAUSIBLE["arch"] = PLAUSIBLE["network"]


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list:
    """``(words, parser)`` for every parser that runs a command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(path, parser)]
    return [
        leaf
        for action in subs
        for name, child in action.choices.items()
        for leaf in leaves(child, (*path, name))
    ]


def _value(action: argparse.Action) -> st.SearchStrategy[str]:
    """Three parts plausible (declared choices or :data:`PLAUSIBLE`), one part hostile."""
    hostile = NETWORKS if action.dest in ("network", "arch") else HOSTILE
    plausible = sorted(map(str, action.choices or PLAUSIBLE.get(action.dest, [])))
    if not plausible:
        return hostile
    good = st.sampled_from(plausible)
    return st.one_of(good, good, good, hostile)


@st.composite
def argument_lists(draw: st.DrawFn, parser: argparse.ArgumentParser) -> list[str]:
    """An argument list for one subcommand of ``parser``, with hostile values."""
    words, leaf = draw(st.sampled_from(leaves(parser)))
    argv = list(words)
    for action in leaf._actions:
        if action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        if action.nargs in (None, 1) or draw(st.booleans()):
            argv.append(draw(_value(action)))
    optional = [
        a
        for a in leaf._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction) and a.dest != "timeout"
    ]
    chosen = draw(st.lists(st.sampled_from(optional), unique=True, max_size=4)) if optional else []
    for action in chosen:
        name = action.option_strings[-1]
        if action.nargs == 0:
            argv.append(name)
        else:
            argv.append(f"{name}={draw(_value(action))}")
    return [*argv, "--timeout", "5"]


def _guarded(argv: Sequence[str]) -> list[str]:
    cwd = os.getcwd()
    os.chdir(_ROOT)
    try:
        run = run_guarded(argv, seconds=20.0)
    finally:
        os.chdir(cwd)
    note(f"exit {run.code}, {run.seconds:.2f} s, stderr {run.stderr[:400]!r}")
    return violations(run, options=option_names(_PARSER, argv))


_PARSER = cli.build_parser()


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(argv=argument_lists(_PARSER))
@example(argv=["audit", "0", "--tolerance=--epsilon", "--timeout", "5"])  # an echoed value
@example(argv=["symmetries", "x" * 5000, "--timeout", "5"])  # was OSError: name too long
def test_every_argument_list_keeps_the_contract(argv: list[str]) -> None:
    assert _guarded(argv) == []


def _broken_parser() -> argparse.ArgumentParser:
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    fake = sub.add_parser("fake")
    fake.add_argument("count")
    fake.add_argument("--timeout", type=float, default=0.0)

    def crash(args: argparse.Namespace) -> int:
        return int(args.count) // 0 if args.count.isdigit() else [][0]

    fake.set_defaults(func=crash)
    return parser


def test_the_generator_finds_a_broken_subcommand() -> None:
    parser = _broken_parser()

    def broken_main(argv: Sequence[str]) -> int:
        return cli._run(parser, argv)

    def breaks(argv: list[str]) -> bool:
        run = run_guarded(argv, main=broken_main, seconds=20.0)
        return bool(violations(run))

    found = find(
        argument_lists(parser).filter(lambda argv: argv[0] == "fake"),
        breaks,
        settings=settings(max_examples=200, database=None, deadline=None),
    )
    assert found[0] == "fake"
    assert violations(run_guarded(found, main=broken_main))[0].startswith("raised ")


@pytest.mark.parametrize("words", [w for w, _ in leaves(cli.build_parser())])
def test_the_generator_reaches_every_subcommand(words: tuple[str, ...]) -> None:
    found = find(
        argument_lists(cli.build_parser()),
        lambda argv: tuple(argv[: len(words)]) == words,
        settings=settings(max_examples=500, database=None, deadline=None),
    )
    assert tuple(found[: len(words)]) == words
