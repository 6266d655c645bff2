"""Unit tests of symcheck.prove.partition: ties, equitable partitions, nearest pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from symcheck.errors import InvalidArgument
from symcheck.prove import partition
from symcheck.prove.partition import (
    EXACT_NEAREST_LIMIT,
    Partition,
    analyse,
    coarsest_equitable_partition,
    effective_widths,
    is_equitable,
    matrix_classes,
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


# --------------------------------------------------------------------------- forced collisions


def _collide_everything(m: object, *, rows: bool, cols: bool) -> tuple:
    """A hash under which every row and every column gets the same key."""
    shape = m.shape  # type: ignore[attr-defined]
    return (
        np.zeros(shape[0], dtype=np.uint64) if rows else None,
        np.zeros(shape[1], dtype=np.uint64) if cols else None,
    )


def _planted_network() -> list:
    """3-6-5-2: layer 1 ties {0, 3, 5}, {1, 4}; layer 2 ties {1, 2}; bias splits nothing else."""
    rng = np.random.default_rng(11)
    w1, b1 = rng.integers(-2, 3, (6, 3)).astype(float), rng.integers(-2, 3, 6).astype(float)
    w2, b2 = rng.integers(-2, 3, (5, 6)).astype(float), rng.integers(-2, 3, 5).astype(float)
    w3 = rng.integers(-2, 3, (2, 5)).astype(float)
    for src, dst in ((0, 3), (0, 5), (1, 4)):
        w1[dst], b1[dst], w2[:, dst] = w1[src], b1[src], w2[:, src]
    w2[2], b2[2], w3[:, 2] = w2[1], b2[1], w3[:, 1]
    return [(w1, b1), (w2, b2), (w3, None)]


def test_forced_hash_collisions_are_split_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    params = _planted_network()
    expected = tie_classes(params)
    assert [layer.nontrivial() for layer in expected.layers] == [((0, 3, 5), (1, 4)), ((1, 2),)]
    equitable = coarsest_equitable_partition(params)
    rows, cols = matrix_classes(params[1][0])
    monkeypatch.setattr(partition, "_keys", _collide_everything)
    assert tie_classes(params) == expected
    assert coarsest_equitable_partition(params) == equitable
    assert matrix_classes(params[1][0]) == (rows, cols)


def test_rows_that_are_permutations_of_each_other_collide_and_are_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With every multiplier 1 the key of a row is the sum of its mixed bits: order-blind."""
    w = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [2.0, 1.0, 3.0]])

    def _ones(n: int, salt: int, dtype: type) -> np.ndarray:
        return np.ones(n, dtype=dtype)

    monkeypatch.setattr(partition, "_multipliers", _ones)
    keys, _ = partition._keys(partition._Matrix(w), rows=True, cols=False)
    assert len(set(keys.tolist())) == 1  # the collision really happens
    rows, _ = matrix_classes(w)
    assert rows == ((0, 2), (1,), (3,))


@pytest.mark.parametrize("bias", [None, "equal", "different"])
def test_biases_take_part_in_ties(bias: str | None) -> None:
    w1 = np.array([[1.0, 2.0], [1.0, 2.0], [0.5, 0.5]])
    w2 = np.array([[3.0, 3.0, 1.0]])
    b1 = {None: None, "equal": np.array([0.1, 0.1, 0.2]), "different": np.array([0.1, 0.2, 0.2])}
    params = [(w1, b1[bias]), (w2, None)]
    tied = tie_classes(params).layers[0].nontrivial()
    assert tied == (() if bias == "different" else ((0, 1),))
    report = analyse(params)
    assert report.ties.layers[0].nontrivial() == tied
    if bias == "different":
        assert report.nearest[0].distance > 0
        assert not is_equitable(params, Partition.from_labels([[0, 0, 1]]))


def test_partition_reports_widths_and_effective_widths() -> None:
    params = _planted_network()
    ties = tie_classes(params)
    assert (ties.widths, ties.effective_widths) == ((6, 5), (3, 4))
    assert [layer.collapsed for layer in ties.layers] == [True, True]
    assert ties.layers[0].labels().tolist() == [0, 1, 2, 0, 1, 0]


@pytest.mark.parametrize("where", ["incoming", "outgoing"])
def test_wide_layer_with_nan_has_no_nearest_pair(where: str) -> None:
    """Above the exact limit NaN must not read as distance 0 (a false tie)."""
    rng = np.random.default_rng(0)
    n = EXACT_NEAREST_LIMIT + 6
    w1, w2 = rng.standard_normal((n, 3)), rng.standard_normal((2, n))
    if where == "incoming":
        w1[5, 1] = np.nan
    else:
        w2[0] = np.nan  # every neuron's outgoing column holds a NaN
    (pair,) = nearest_pairs([(w1, None), (w2, None)])
    assert (pair.distance, pair.pair, pair.exact) == (None, None, False)


def test_an_empty_hidden_layer_has_no_blocks() -> None:
    params = [(np.zeros((0, 2)), None), (np.zeros((1, 0)), None)]
    report = analyse(params)
    assert report.ties.widths == report.equitable.effective_widths == (0,)
    assert report.ties.layers[0].blocks == ()
    assert report.nearest[0].distance is None


def test_is_equitable_reads_the_output_layer_as_singletons() -> None:
    """2-2-2-1: the one output row must be indexed as one singleton, not as two."""
    params = _lumped_not_tied()
    assert is_equitable(params, Partition.from_labels([[0, 0], [0, 0]])) is True
    assert is_equitable(params, Partition.from_labels([[0, 1], [0, 1]])) is True


def test_is_equitable_refuses_a_partition_of_the_wrong_width() -> None:
    with pytest.raises(InvalidArgument, match="partition layer 1 has 3 neurons, W1 has 2"):
        is_equitable(_lumped_not_tied(), Partition.from_labels([[0, 0, 0], [0, 0]]))


def test_a_nan_block_sum_never_equals_a_number() -> None:
    params = _lumped_not_tied()
    w1 = params[0][0].copy()
    w1[0, 0] = np.nan
    params[0] = (w1, params[0][1])
    one_block = Partition.from_labels([[0, 0], [0, 1]])
    assert is_equitable(params, one_block) is False


@pytest.mark.parametrize("tolerance", [1e-9, 1e-3])
def test_tolerant_is_equitable_still_refuses_far_apart_sums(tolerance: float) -> None:
    params = _lumped_not_tied()
    w2 = params[1][0].copy()
    w2[0, 0] += 0.5  # row sums 0.3 - 0.7 + 0.5 vs -0.7 + 0.3: far beyond any tolerance here
    params[1] = (w2, params[1][1])
    assert (
        is_equitable(params, Partition.from_labels([[0, 0], [0, 0]]), tolerance=tolerance) is False
    )
    assert (
        is_equitable(params, Partition.from_labels([[0, 1], [0, 1]]), tolerance=tolerance) is True
    )


def test_is_equitable_checks_the_last_layer() -> None:
    """2-2-1: rows of W1 agree, but the output row reads the two neurons differently."""
    params = [(np.ones((2, 1)), None), (np.array([[1.0, 2.0]]), None)]
    assert is_equitable(params, Partition.from_labels([[0, 0]])) is False
    params[1] = (np.array([[2.0, 2.0]]), None)
    assert is_equitable(params, Partition.from_labels([[0, 0]])) is True


def test_exact_is_equitable_tells_nan_from_a_number() -> None:
    params = [(np.array([[np.nan], [1.0]]), None), (np.ones((1, 2)), None)]
    assert is_equitable(params, Partition.from_labels([[0, 0]])) is False
    params[0] = (np.array([[np.nan], [np.nan]]), None)
    assert is_equitable(params, Partition.from_labels([[0, 0]])) is True  # NaN is one value
