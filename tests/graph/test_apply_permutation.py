"""apply_permutation: moves every axis of a space, refuses permutations the group forbids."""

from __future__ import annotations

import numpy as np
import pytest

from symcheck.errors import InvalidArgument
from symcheck.graph.sample import random_parameters
from symcheck.graph.symmetry import apply_permutation, infer_symmetries
from symcheck.graph.zoo import resolve_model


def test_a_neuron_permutation_moves_rows_bias_and_next_columns():
    graph = resolve_model("2-3-1")
    params = random_parameters(graph, np.random.default_rng(0))
    space = infer_symmetries(graph).space("fc1")
    moved = apply_permutation(graph, params, space, [2, 0, 1])
    assert np.array_equal(moved["fc1.weight"], params["fc1.weight"][[2, 0, 1]])
    assert np.array_equal(moved["fc1.bias"], params["fc1.bias"][[2, 0, 1]])
    assert np.array_equal(moved["fc2.weight"], params["fc2.weight"][:, [2, 0, 1]])
    assert np.array_equal(moved["fc2.bias"], params["fc2.bias"])


def test_a_head_permutation_moves_blocks_of_rows():
    graph = resolve_model("transformer:layers=1,d_model=4,heads=2")
    params = random_parameters(graph, np.random.default_rng(1))
    space = infer_symmetries(graph).space("b0.attn.head")
    moved = apply_permutation(graph, params, space, [1, 0])
    assert np.array_equal(moved["b0.q.weight"], params["b0.q.weight"][[2, 3, 0, 1]])
    assert np.array_equal(moved["b0.o.weight"], params["b0.o.weight"][:, [2, 3, 0, 1]])


def test_a_per_head_dim_permutation_moves_dims_within_each_head():
    graph = resolve_model("transformer:layers=1,d_model=4,heads=2")
    params = random_parameters(graph, np.random.default_rng(2))
    space = infer_symmetries(graph).space("b0.attn.qk_dim")
    moved = apply_permutation(graph, params, space, [0, 1, 3, 2])
    assert np.array_equal(moved["b0.k.weight"], params["b0.k.weight"][[0, 1, 3, 2]])


REFUSED = {
    "not a permutation": ("fc1", [0, 0, 1], "is not a permutation of range(3)"),
    "wrong length": ("fc1", [0, 1], "is not a permutation of range(3)"),
    "fixed space": ("fc1.weight.axis1", [1, 0], "is fixed; only the identity"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_permutation_the_group_forbids_is_refused(case):
    graph = resolve_model("2-3-1")
    params = random_parameters(graph, np.random.default_rng(3))
    name, perm, message = REFUSED[case]
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply_permutation(graph, params, infer_symmetries(graph).space(name), perm)


def test_a_restricted_space_refuses_moving_a_unit_across_blocks():
    graph = resolve_model("transformer:layers=1,d_model=4,heads=2")
    params = random_parameters(graph, np.random.default_rng(4))
    space = infer_symmetries(graph).space("b0.attn.qk_dim")
    with pytest.raises(InvalidArgument, match="out of its block"):
        apply_permutation(graph, params, space, [2, 1, 0, 3])


def test_missing_parameters_are_refused():
    graph = resolve_model("2-3-1")
    space = infer_symmetries(graph).space("fc1")
    with pytest.raises(InvalidArgument, match="params lacks"):
        apply_permutation(graph, {}, space, [0, 1, 2])
