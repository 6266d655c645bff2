"""Unit tests of neuron signatures, ties, permutations and parameter maps."""

from __future__ import annotations

import numpy as np
import pytest

from symcheck import InvalidArgument, Network
from symcheck.model.neurons import (
    gradient_rows,
    max_gap,
    permute_hidden,
    rounding_tolerance,
    signatures,
    tied_pairs,
)
from symcheck.model.tree import leaves, map_params, unflatten

NET = Network.parse("2-3-1")
PARAMS = [
    (np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 4.0]]), np.array([0.5, 0.5, 0.5])),
    (np.array([[7.0, 7.0, 8.0]]), np.array([0.0])),
]


def test_signature_is_row_bias_and_outgoing_column():
    np.testing.assert_array_equal(signatures(PARAMS, 1)[2], [3.0, 4.0, 0.5, 8.0])


def test_tied_pairs_finds_neurons_with_equal_signatures_only():
    assert tied_pairs(signatures(PARAMS, 1)) == [(0, 1)]


def test_a_different_outgoing_weight_unties_equal_rows():
    changed = [PARAMS[0], (np.array([[7.0, 6.0, 8.0]]), np.array([0.0]))]
    assert tied_pairs(signatures(changed, 1)) == []
    assert tied_pairs(signatures(changed, 1), tol=1.0) == [(0, 1)]


def test_max_gap_of_listed_pairs():
    assert max_gap(signatures(PARAMS, 1), [(0, 1)]) == 0.0
    assert max_gap(signatures(PARAMS, 1), [(0, 2)]) == 2.0
    assert max_gap(signatures(PARAMS, 1), []) == 0.0


def test_gradient_rows_append_the_bias_gradient():
    np.testing.assert_array_equal(gradient_rows(PARAMS, 1)[0], [1.0, 2.0, 0.5])


def test_permute_hidden_moves_rows_biases_and_columns_together():
    moved = permute_hidden(NET, PARAMS, {1: [2, 0, 1]})
    np.testing.assert_array_equal(moved[0][0][0], [3.0, 4.0])
    np.testing.assert_array_equal(moved[1][0], [[8.0, 7.0, 7.0]])
    np.testing.assert_array_equal(PARAMS[1][0], [[7.0, 7.0, 8.0]])  # not mutated


def test_rounding_tolerance_grows_with_steps_scale_and_batch():
    base = rounding_tolerance(NET, scale=1.0, batch=1)
    assert base > 0
    assert rounding_tolerance(NET, scale=2.0, batch=1) == 2 * base
    assert rounding_tolerance(NET, scale=1.0, batch=1, steps=3) == 3 * base
    assert rounding_tolerance(NET, scale=1.0, batch=5) > base


def test_tree_helpers_round_trip_and_map():
    assert len(leaves(PARAMS)) == 4
    rebuilt = unflatten(PARAMS, leaves(PARAMS))
    assert rebuilt[0][0] is PARAMS[0][0]
    doubled = map_params(lambda a, b: a + b, PARAMS, PARAMS)
    np.testing.assert_array_equal(doubled[1][0], [[14.0, 14.0, 16.0]])
    no_bias = [(np.ones((2, 2)), None)]
    assert map_params(lambda a: -a, no_bias)[0][1] is None


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: signatures(PARAMS, 2), "layer=2 is not a hidden layer"),
        (lambda: signatures(PARAMS, True), "layer=True"),
        (lambda: gradient_rows(PARAMS, 0), "layer=0"),
        (lambda: permute_hidden(NET, PARAMS, {2: [0]}), "only hidden layers"),
        (lambda: permute_hidden(NET, PARAMS, {1: [0, 0, 1]}), "not a permutation"),
        (lambda: rounding_tolerance(NET, scale=-1.0, batch=1), "scale=-1.0"),
        (lambda: map_params(lambda a, b: a, PARAMS, PARAMS[:1]), "same (W, b) layout"),
    ],
)
def test_invalid_neuron_arguments_are_rejected_with_a_message(call, fragment):
    with pytest.raises(InvalidArgument) as info:
        call()
    assert fragment in str(info.value)
