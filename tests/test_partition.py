"""Unit tests of symcheck.partition: ties, equitable partitions, nearest pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from symcheck.errors import InvalidArgument
from symcheck.partition import (
    EXACT_NEAREST_LIMIT,
    Partition,
    analyse,
    coarsest_equitable_partition,
    effective_widths,
    is_equitable,
    nearest_pairs,
    tie_classes,
)

A, B = 0.3, -0.7


def _zero_net(widths: tuple[int, ...]) -> list:
    return [(np.zeros((o, i)), np.zeros(o)) for i, o in itertools.pairwise(widths)]


def _lumped_not_tied() -> list:
    """2-2-2-1: layer 1 tied on the input side only, layer 2 rows (a, b) and (b, a)."""
    return [
        (np.array([[0.2, 0.4], [0.2, 0.4]]), np.array([0.1, 0.1])),
        (np.array([[A, B], [B, A]]), np.zeros(2)),
        (np.array([[0.5, 0.5]]), np.zeros(1)),
    ]


def test_zero_init_collapses_every_hidden_layer_to_one_block() -> None:
    net = _zero_net((3, 5, 4, 2))
    assert tie_classes(net).effective_widths == (1, 1)
    assert effective_widths(net) == (1, 1)


def test_random_weights_keep_full_width() -> None:
    rng = np.random.default_rng(0)
    net = [
        (rng.standard_normal((o, i)), rng.standard_normal(o)) for i, o in [(3, 6), (6, 5), (5, 2)]
    ]
    assert tie_classes(net).effective_widths == (6, 5)
    assert effective_widths(net) == (6, 5)


def test_lumped_neurons_without_ties_have_effective_width_one() -> None:
    net = _lumped_not_tied()
    assert tie_classes(net).effective_widths == (2, 2)
    assert effective_widths(net) == (1, 1)
    assert is_equitable(net, coarsest_equitable_partition(net))


def test_different_biases_split_a_lumped_block_and_the_layer_below() -> None:
    net = _lumped_not_tied()
    net[1] = (net[1][0], np.array([0.0, 0.25]))
    # Layer 2 splits on its biases; then layer 1's columns (a, b), (b, a) differ.
    assert effective_widths(net) == (2, 2)


def test_negative_zero_and_zero_are_the_same_value() -> None:
    net = [(np.array([[-0.0, 1.0], [0.0, 1.0]]), None), (np.array([[1.0, 1.0]]), None)]
    assert tie_classes(net).layers[0].blocks == ((0, 1),)


def test_nans_in_the_same_places_are_tied_whatever_their_payload() -> None:
    other_nan = np.array([0x7FF8_0000_0000_0001], dtype=np.uint64).view(np.float64)[0]
    net = [(np.array([[np.nan, 1.0], [other_nan, 1.0]]), None), (np.array([[1.0, 1.0]]), None)]
    assert tie_classes(net).layers[0].blocks == ((0, 1),)
    net[0] = (np.array([[np.nan, 1.0], [1.0, np.nan]]), None)
    assert tie_classes(net).layers[0].blocks == ((0,), (1,))


def test_tie_needs_the_outgoing_column_too() -> None:
    net = [(np.ones((2, 2)), np.zeros(2)), (np.array([[1.0, 2.0]]), np.zeros(1))]
    assert tie_classes(net).layers[0].blocks == ((0,), (1,))


def test_block_sums_do_not_depend_on_the_order_of_neurons() -> None:
    # 0.1 + 0.2 + 0.3 differs from 0.3 + 0.2 + 0.1 in float64; sorted sums agree.
    assert (0.1 + 0.2) + 0.3 != (0.3 + 0.2) + 0.1
    first = [
        (np.ones((3, 1)), np.zeros(3)),
        (np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]), np.zeros(2)),
        (np.ones((1, 2)), np.zeros(1)),
    ]
    assert effective_widths(first) == (1, 1)


def test_tolerance_merges_near_ties_and_zero_tolerance_does_not() -> None:
    net = _lumped_not_tied()
    net[1] = (np.array([[A, B], [B, A + 1e-9]]), np.zeros(2))
    assert effective_widths(net) == (2, 2)
    assert effective_widths(net, tolerance=1e-6) == (1, 1)


def test_is_equitable_rejects_a_partition_that_breaks_a_row_sum() -> None:
    net = _lumped_not_tied()
    assert is_equitable(net, Partition.from_labels([[0, 0], [0, 0]]))
    net[1] = (np.array([[A, B], [B, A + 0.5]]), np.zeros(2))
    assert not is_equitable(net, Partition.from_labels([[0, 0], [0, 0]]))
    assert is_equitable(net, Partition.from_labels([[0, 1], [0, 1]]))


def test_is_equitable_rejects_different_biases_in_one_block() -> None:
    net = _zero_net((2, 2, 1))
    net[0] = (net[0][0], np.array([0.0, 1.0]))
    assert not is_equitable(net, Partition.from_labels([[0, 0]]))


def test_nearest_pair_of_tied_neurons_is_exactly_zero() -> None:
    pair = nearest_pairs(_zero_net((2, 3, 1)))[0]
    assert (pair.distance, pair.pair, pair.exact) == (0.0, (0, 1), True)


def _brute_force(w: np.ndarray, b: np.ndarray, w_next: np.ndarray) -> float:
    v = np.concatenate([w, b[:, None], w_next.T], axis=1)
    diff = np.linalg.norm(v[:, None, :] - v[None, :, :], axis=2)
    norm = np.linalg.norm(v, axis=1)
    d = diff / np.maximum(norm[:, None], norm[None, :])
    return float(d[np.triu_indices(len(v), k=1)].min())


@pytest.mark.parametrize("seed", range(3))
def test_projection_search_finds_a_planted_near_tie_in_a_wide_layer(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 4 * EXACT_NEAREST_LIMIT
    w, b, w_next = rng.standard_normal((n, 8)), rng.standard_normal(n), rng.standard_normal((3, n))
    i, j = rng.choice(n, size=2, replace=False)
    w[j], b[j], w_next[:, j] = w[i] * (1 + 1e-7), b[i], w_next[:, i]
    found = nearest_pairs([(w, b), (w_next, np.zeros(3))], seed=seed)[0]
    assert not found.exact
    assert set(found.pair) == {i, j}
    assert found.distance == pytest.approx(_brute_force(w, b, w_next), rel=1e-6)


def test_exact_nearest_pair_matches_brute_force_in_a_narrow_layer() -> None:
    rng = np.random.default_rng(5)
    w, b, w_next = (
        rng.standard_normal((20, 4)),
        rng.standard_normal(20),
        rng.standard_normal((2, 20)),
    )
    found = nearest_pairs([(w, b), (w_next, None)])[0]
    assert found.exact
    assert found.distance == pytest.approx(_brute_force(w, b, w_next), rel=1e-12)


def test_analyse_agrees_with_the_separate_functions() -> None:
    net = _lumped_not_tied()
    report = analyse(net)
    assert report.ties == tie_classes(net)
    assert report.equitable == coarsest_equitable_partition(net)


@pytest.mark.parametrize(
    ("params", "tolerance", "message"),
    [
        ([(np.zeros((2, 2)), None)], 0.0, "at least two"),
        ([(np.zeros((2, 2)), None), (np.zeros((1, 3)), None)], 0.0, "must chain"),
        ([(np.zeros(2), None), (np.zeros((1, 2)), None)], 0.0, "2-D real array"),
        ([(np.zeros((2, 2)), np.zeros(3)), (np.zeros((1, 2)), None)], 0.0, "b1 has shape"),
        ([(np.zeros((2, 2), dtype=object), None), (np.zeros((1, 2)), None)], 0.0, "dtype object"),
        ([(np.zeros((2, 2)), None), (np.zeros((1, 2)), None)], -1.0, "tolerance=-1.0"),
        ([(np.zeros((2, 2)), None), (np.zeros((1, 2)), None)], float("nan"), "tolerance=nan"),
        ([0, 1], 0.0, "(W, b) pair"),
        (3, 0.0, "sequence of (W, b) pairs"),
    ],
)
def test_invalid_partition_arguments_are_rejected_with_the_fix(
    params: object, tolerance: float, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        coarsest_equitable_partition(params, tolerance=tolerance)  # type: ignore[arg-type]
