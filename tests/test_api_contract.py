"""The public API refuses wrong types and hostile values with InvalidArgument, within bounds.

One table row per (entry point, bad argument): the call must raise
:class:`~symcheck.errors.InvalidArgument` whose message contains the fragment
(the bad value or the expected type, and the fix) — never AttributeError,
TypeError, IndexError, RecursionError or MemoryError — and do it before the
work the value would cost (every row here finishes in well under a second;
the guard below fails a row that takes more than 20 s).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import symcheck as S
from symcheck.cli.contract import TooSlow, time_guard
from symcheck.errors import InvalidArgument
from symcheck.measure.diagnose import diagnose_init

NET = S.Network.parse("2-2-1")
DATA = (np.ones((2, 2)), np.ones((2, 1)))
SGD = S.get_optimizer("sgd", lr=0.1)
DEEP = S.Network.parse("-".join(["2"] * 20 + ["1"]))
WIDE = S.Network.parse("2-1000000-1")


def _zeros(network: S.Network = NET):
    return S.initialize(network, "zeros")


ROWS: list[tuple[str, Callable[[], object], str]] = [
    ("prove_identical_updates str", lambda: S.prove_identical_updates("2-2-1"), "Network.parse"),
    ("prove_identical_updates batch 0", lambda: S.prove_identical_updates(NET, batch=0), "batch=0"),
    ("prove_identical_updates batch -1", lambda: S.prove_identical_updates(NET, batch=-1), "batch"),
    (
        "prove_identical_updates batch 1e8",
        lambda: S.prove_identical_updates(NET, batch=100_000_000),
        "exceeds the symbolic limit",
    ),
    (
        "prove_identical_updates deep tied",
        lambda: S.prove_identical_updates(DEEP, init="tied"),
        "estimated cost",
    ),
    ("prove_identical_updates init list", lambda: S.prove_identical_updates(NET, init=[1]), "init"),
    (
        "prove_identical_updates value nan",
        lambda: S.prove_identical_updates(NET, init="constant", value="nan"),
        "non-finite",
    ),
    (
        "prove_identical_updates value float",
        lambda: S.prove_identical_updates(NET, init="constant", value=float("nan")),
        "is a float",
    ),
    ("prove_preserved str", lambda: S.prove_preserved("2-2-1"), "must be a symcheck.Network"),
    ("prove_preserved optimizer list", lambda: S.prove_preserved(NET, optimizer=[1]), "optimizer"),
    ("prove_preserved optimizer ''", lambda: S.prove_preserved(NET, optimizer=""), "optimizer=''"),
    ("prove_symmetry_breaks None", lambda: S.prove_symmetry_breaks(None), "symcheck.Network"),
    ("prove_symmetry_breaks batch", lambda: S.prove_symmetry_breaks(NET, batch=10**9), "limit"),
    ("prove_lumping_preserved str", lambda: S.prove_lumping_preserved("1-3-3-1", [[0]]), "Network"),
    (
        "prove_lumping_preserved deep",
        lambda: S.prove_lumping_preserved(S.Network.parse("-".join(["1"] * 3002)), [[0]] * 3000),
        "beyond the lumping limit",
    ),
    (
        "prove_lumping_preserved optimizer dict",
        lambda: S.prove_lumping_preserved(NET, [[0, 0]], optimizer={}),
        "optimizer",
    ),
    ("Network.parse np.tanh", lambda: S.Network.parse("2-2-1", activation=np.tanh), "activation"),
    ("Network.parse spec int", lambda: S.Network.parse(221), "is not a width string"),
    ("Network.parse loss list", lambda: S.Network.parse("2-2-1", loss=["mse"]), "loss name"),
    ("Network.parse bias 1", lambda: S.Network.parse("2-2-1", bias=1), "True or False"),
    ("Network.parse reduction", lambda: S.Network.parse("2-2-1", reduction=[]), "reduction"),
    (
        "Network.parse leaky -1",
        lambda: S.Network.parse("2-2-1", activation="leaky_relu(-1)"),
        "0 <= slope < 1",
    ),
    ("Network widths huge", lambda: S.Network((2, 10**7, 1)), "exceeds the limit"),
    ("Network widths float", lambda: S.Network((2, 2.0, 1)), "positive int"),
    ("gradients str", lambda: S.gradients("2-2-1", _zeros(), *DATA), "Network.parse"),
    ("gradients params None", lambda: S.gradients(NET, None, *DATA), "list of (W, b) pairs"),
    ("gradients params int", lambda: S.gradients(NET, 3, *DATA), "list of (W, b) pairs"),
    ("gradients x shape", lambda: S.gradients(NET, _zeros(), np.ones((2, 5)), DATA[1]), "shape"),
    ("initialize scheme list", lambda: S.initialize(NET, [1]), "initializer"),
    ("initialize network str", lambda: S.initialize("2-2-1", "zeros"), "Network"),
    ("train str", lambda: S.train("2-2-1", _zeros(), DATA, SGD, 1), "symcheck.Network"),
    ("train params None", lambda: S.train(NET, None, DATA, SGD, 1), "list of (W, b) pairs"),
    ("train steps -1", lambda: S.train(NET, _zeros(), DATA, SGD, -1), "steps=-1"),
    ("train steps huge", lambda: S.train(NET, _zeros(), DATA, SGD, 10**6), "multiply-adds"),
    ("train optimizer str", lambda: S.train(NET, _zeros(), DATA, "sgd", 1), "not an optimiser"),
    ("train data", lambda: S.train(NET, _zeros(), None, SGD, 1), "pair (x, y)"),
    ("mean_field sigma_w2 str", lambda: S.mean_field("tanh", sigma_w2="1"), "real number"),
    ("mean_field sigma_w2 nan", lambda: S.mean_field("tanh", sigma_w2=float("nan")), "finite"),
    ("mean_field q0 None", lambda: S.mean_field("tanh", sigma_w2=1.0, q0=None), "real number"),
    ("mean_field activation", lambda: S.mean_field(np.tanh, sigma_w2=1.0), "activation"),
    ("derive str", lambda: S.derive("2-2-1"), "Network.parse"),
    ("init_point str", lambda: S.init_point("2-2-1"), "Network.parse"),
    ("init_point init dict", lambda: S.init_point(NET, {}), "init"),
    ("layered_gradients params", lambda: S.layered_gradients(NET, None), "(W, b) pairs"),
    ("layered_gradients W int", lambda: S.layered_gradients(NET, [(1, None)] * 2), "W1 must be"),
    ("plain_gradients params", lambda: S.plain_gradients(NET, 1.5), "(W, b) pairs"),
    ("get_loss list", lambda: S.get_loss([1]), "loss"),
    ("get_activation None", lambda: S.get_activation(None), "must be a name"),
    ("verify_certificate list", lambda: S.verify_certificate([1]), "JSON object"),
    (
        "diagnose_init samples",
        lambda: diagnose_init(NET, "he_normal", rng=np.random.default_rng(0), samples=10**9),
        "exceeds the limit",
    ),
    (
        "diagnose_init wide",
        lambda: diagnose_init(WIDE, "he_normal", rng=np.random.default_rng(0)),
        "floats per pass",
    ),
    ("diagnose_init rng", lambda: diagnose_init(NET, "he_normal", rng=0), "numpy.random.Generator"),
]


@pytest.mark.parametrize(("name", "call", "fragment"), ROWS, ids=[r[0] for r in ROWS])
def test_a_bad_argument_raises_invalid_argument_naming_it(
    name: str, call: Callable[[], object], fragment: str
) -> None:
    with pytest.raises(InvalidArgument) as info, time_guard(20.0):
        call()
    assert fragment in str(info.value)


def test_the_guard_reports_a_slow_call() -> None:
    import time

    with pytest.raises(TooSlow), time_guard(0.2):
        time.sleep(5)


def test_the_table_would_catch_a_raw_type_error() -> None:
    """Sibling: an entry point that lets a TypeError escape fails the table's check."""

    def unvalidated() -> None:
        len(None)  # type: ignore[arg-type]

    with pytest.raises(TypeError), pytest.raises(InvalidArgument), time_guard(5.0):
        unvalidated()
