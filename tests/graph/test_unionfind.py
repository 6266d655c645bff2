"""Union-find over factored axes: joins, factorisations, conflicts fixed, fixed marks."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from symcheck.graph.confirm import RELATIVE_TOLERANCE, invariance_gap
from symcheck.graph.ir import GraphBuilder
from symcheck.graph.sample import random_inputs, random_parameters
from symcheck.graph.symmetry import infer_symmetries
from symcheck.graph.unionfind import AxisUnionFind


def test_joining_two_products_joins_their_factors():
    uf = AxisUnionFind()
    a, b = uf.new(6), uf.new(6)
    a1, a2, b1, b2 = uf.new(2), uf.new(3), uf.new(2), uf.new(3)
    uf.factor(a, [a1, a2])
    uf.factor(b, [b1, b2])
    uf.union(a, b)
    assert uf.find(a1) == uf.find(b1) and uf.find(a2) == uf.find(b2)
    assert uf.atoms(b) == [uf.find(a1), uf.find(a2)]


def test_two_different_factorisations_fix_the_axis_and_every_factor():
    uf = AxisUnionFind()
    a = uf.new(6)
    parts = [uf.new(2), uf.new(3), uf.new(3), uf.new(2)]
    uf.factor(a, parts[:2])
    uf.factor(a, parts[2:])
    uf.close()
    assert uf.is_fixed(a) and all(uf.is_fixed(p) for p in parts)


def test_fixing_a_product_fixes_its_factors_but_not_the_reverse():
    uf = AxisUnionFind()
    a, b = uf.new(4), uf.new(4)
    fa, fb = [uf.new(2), uf.new(2)], [uf.new(2), uf.new(2)]
    uf.factor(a, fa)
    uf.factor(b, fb)
    uf.fix(a)
    uf.fix(fb[1])
    uf.close()
    assert all(uf.is_fixed(p) for p in fa)
    assert not uf.is_fixed(b) and not uf.is_fixed(fb[0])


def test_size_one_factors_are_dropped():
    uf = AxisUnionFind()
    a, one, rest = uf.new(4), uf.new(1), uf.new(4)
    uf.factor(a, [one, rest])
    assert uf.find(a) == uf.find(rest) and uf.atoms(a) == [uf.find(a)]


def _stacked_flat(*, conflicting: bool):
    """u's neurons reach the flat axis as 2 x 6; with ``conflicting`` a 3 x 4 branch is added."""
    b = GraphBuilder()
    x = b.input("x", (2, 4))
    u = b.node("linear", [x], ["u.weight"], shapes=[(6, 4)], output="u")
    h = b.node("flatten", [b.node("stack", [u, u], axis=1)])
    if conflicting:
        a = b.node("linear", [x], ["a.weight"], shapes=[(4, 4)], output="a")
        h = b.node("add", [h, b.node("flatten", [b.node("stack", [a, a, a], axis=1)])])
    return b.build(b.node("linear", [h], ["o.weight"], shapes=[(2, 12)]))


def test_flattening_one_axis_two_ways_fixes_it_in_a_graph():
    symmetries = infer_symmetries(_stacked_flat(conflicting=True))
    assert symmetries.parameters["u.weight"][0] is None
    assert symmetries.parameters["a.weight"][0] is None
    assert symmetries.movable == ()


def test_one_factorisation_leaves_the_neurons_movable():
    graph = _stacked_flat(conflicting=False)
    symmetries = infer_symmetries(graph)
    assert symmetries.parameters["u.weight"][0] == "u"
    assert symmetries.parameters["o.weight"][1] == [None, "u"]
    rng = np.random.default_rng(0)
    params, inputs = random_parameters(graph, rng), random_inputs(graph, rng)
    perm = np.roll(np.arange(6), 1)
    gap = invariance_gap(graph, params, inputs, symmetries.space("u"), perm)
    assert gap <= RELATIVE_TOLERANCE


def test_deeply_nested_products_need_no_recursion():
    # More stack-and-flatten levels than the recursion limit allows frames: each
    # flat axis is 2 x the previous one, nested 400 deep.
    b = GraphBuilder()
    h = b.node("linear", [b.input("x", (1, 2))], ["u.weight"], shapes=[(3, 2)], output="u")
    for _ in range(400):
        h = b.node("flatten", [b.node("stack", [h, h], axis=1)])
    graph = b.build(b.node("mean", [b.node("activation", [h], name="tanh")], axis=1))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        parameters = infer_symmetries(graph).parameters
    finally:
        sys.setrecursionlimit(limit)
    assert parameters["u.weight"] == ("u", None)


def test_an_already_joined_pair_does_not_stop_the_joins_after_it():
    # Joining two products walks a work list of factor pairs; a pair that is
    # already one class must be skipped, not end the walk (a missed join would
    # let two axes that must move together move apart: a false symmetry).
    uf = AxisUnionFind()
    a, b = uf.new(6), uf.new(6)
    q, r, shared = uf.new(3), uf.new(3), uf.new(2)
    uf.factor(a, [q, shared])
    uf.factor(b, [r, shared])
    uf.union(a, b)
    assert uf.find(q) == uf.find(r)


def test_a_rule_that_joins_axes_of_different_sizes_is_a_loud_error():
    uf = AxisUnionFind()
    with pytest.raises(AssertionError, match="joined axes of sizes 2 and 3"):
        uf.union(uf.new(2), uf.new(3))
    with pytest.raises(AssertionError, match="do not multiply to 6"):
        uf.factor(uf.new(6), [uf.new(2), uf.new(2)])


def test_fixed_marks_reach_factors_of_factors():
    uf = AxisUnionFind()
    top, middle, leaf_a, leaf_b, other = uf.new(12), uf.new(4), uf.new(2), uf.new(2), uf.new(3)
    uf.factor(middle, [leaf_a, leaf_b])
    uf.factor(top, [middle, other])
    uf.fix(top)
    uf.close()
    assert all(uf.is_fixed(p) for p in (middle, other, leaf_a, leaf_b))


def test_a_class_of_size_one_is_no_atom():
    uf = AxisUnionFind()
    assert uf.atoms(uf.new(1)) == []
    assert uf.atoms(uf.new(2)) != []
