"""Random and given float points stay float64 (exact binary values), converted to SymPy lazily."""

from __future__ import annotations

import numpy as np
import sympy as sp

from symcheck.graph.evidence import structural
from symcheck.graph.points import given_point, init_point
from symcheck.graph.symmetry import infer_symmetries
from symcheck.graph.ties import classes_at, resolve_graph

MODEL = "transformer:d_model=16,heads=2,seq=2,layers=2,d_ff=8,batch=1"


def test_the_tie_search_and_the_structural_proof_read_a_random_point_without_sympy() -> None:
    graph, name = resolve_graph(MODEL)
    point = init_point(graph, "random", seed=3)
    assert point.numeric and len(point) == graph.parameter_count()  # every draw distinct
    symmetries = infer_symmetries(graph)
    ties = classes_at(graph, point, symmetries, model=name)
    assert all(not s.classes for s in ties.spaces)
    evidence = structural(graph, symmetries, point, ties, [])
    assert evidence.verdict == "proved"  # no claim: nothing to certify
    assert "values" not in vars(point)  # no entry was converted to SymPy
    assert point.symbols == ()


def test_the_lazy_exact_values_are_the_floats_binary_values() -> None:
    graph, _ = resolve_graph("2-3-1")
    point = init_point(graph, "random", seed=1)
    floats = {name: point.table[code] for name, code in point.codes.items()}
    for name, exact in point.arrays().items():
        for index, v in np.ndenumerate(exact):
            assert v == sp.Rational(float(floats[name][index]))  # exact, no rounding
            assert point.value(int(point.codes[name][index])) == v


def _two_neurons(first: np.ndarray, second: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "fc1.weight": np.stack([first, second]),
        "fc1.bias": np.zeros(2, dtype=first.dtype),
        "fc2.weight": np.ones((1, 2)),
        "fc2.bias": np.zeros(1),
    }


def test_a_given_float_point_ties_exactly_equal_units_only() -> None:
    graph, name = resolve_graph("2-2-1")
    symmetries = infer_symmetries(graph)
    row = np.array([0.1, -0.0])
    equal = given_point(graph, _two_neurons(row, np.array([0.1, 0.0])))  # -0.0 == 0.0 exactly
    assert equal.numeric
    assert [s.classes for s in classes_at(graph, equal, symmetries, model=name).spaces] == [
        ((0, 1),)
    ]
    # one unit in the last place apart: distinct exact values, so no tie
    apart = given_point(graph, _two_neurons(row, np.array([np.nextafter(0.1, 1.0), 0.0])))
    assert [s.classes for s in classes_at(graph, apart, symmetries, model=name).spaces] == [()]


def test_object_arrays_make_an_exact_point() -> None:
    graph, _ = resolve_graph("2-2-1")
    c = sp.Symbol("c")
    params = _two_neurons(np.array([c, c], dtype=object), np.array([c, c], dtype=object))
    point = given_point(graph, {**params, "fc2.weight": np.array([[0.5, 0.5]])})
    assert not point.numeric and point.symbols == (c,)
    assert set(point.values) == {0, c, sp.Rational(1, 2)}  # biases 0, floats as rationals
