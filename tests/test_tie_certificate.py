"""Certificates of ties (a permutation fixing the weights) and of lumping (exact sums)."""

from __future__ import annotations

import numpy as np
import pytest

from symcheck.audit import audit_params
from symcheck.errors import InvalidArgument
from symcheck.prove.partition import Partition, is_equitable
from symcheck.prove.tie_certificate import check_certificate, check_lumping, cyclic_certificate


def _tied_network() -> list[tuple[np.ndarray, np.ndarray | None]]:
    """2-4-3-1 with neurons {0, 2, 3} of hidden layer 1 tied, layer 2 untied."""
    rng = np.random.default_rng(7)
    w1, b1 = rng.standard_normal((4, 2)), rng.standard_normal(4)
    w2, b2 = rng.standard_normal((3, 4)), rng.standard_normal(3)
    w3 = rng.standard_normal((1, 3))
    for i in (2, 3):
        w1[i], b1[i], w2[:, i] = w1[0], b1[0], w2[:, 0]
    return [(w1, b1), (w2, b2), (w3, None)]


def _certificate() -> tuple[tuple[int, ...], ...]:
    return cyclic_certificate([4, 3], [[(0, 2, 3)], []])


def test_cyclic_certificate_cycles_each_class() -> None:
    assert _certificate() == ((2, 1, 3, 0), (0, 1, 2))  # row 2 moves to 0, 3 to 2, 0 to 3


def test_a_true_tie_is_certified() -> None:
    assert check_certificate(_tied_network(), _certificate())


@pytest.mark.parametrize(
    "corrupt",
    [
        ((1, 0, 2, 3), (0, 1, 2)),  # moves neuron 1, which is not tied to 0
        ((3, 1, 0, 2), (1, 0, 2)),  # moves untied neurons of layer 2
        ((3, 3, 0, 2), (0, 1, 2)),  # not a permutation (3 twice)
        ((3, 1, 0), (0, 1, 2)),  # too short
        ((3.0, 1.0, 0.0, 2.0), (0, 1, 2)),  # not integers
        ((3, 1, 0, 2),),  # one layer missing
    ],
)
def test_a_corrupted_certificate_is_rejected(corrupt: tuple) -> None:
    assert check_certificate(_tied_network(), corrupt) is False


@pytest.mark.parametrize("where", ["row", "bias", "column"])
def test_a_difference_in_any_part_of_a_neuron_breaks_the_certificate(where: str) -> None:
    params = _tied_network()
    (w1, b1), (w2, _), _ = params
    if where == "row":
        w1[3, 1] += 1e-12
    elif where == "bias":
        b1[3] = np.nextafter(b1[3], np.inf)
    else:
        w2[2, 3] = -w2[2, 3]
    assert check_certificate(params, _certificate()) is False


def test_nan_parameters_are_never_certified() -> None:
    params = _tied_network()
    params[2][0][0, 1] = np.nan
    assert check_certificate(params, _certificate()) is False
    assert check_certificate(params, cyclic_certificate([4, 3], [[], []])) is False


def test_negative_zero_is_the_same_parameter() -> None:
    params = [(np.array([[0.0], [-0.0]]), None), (np.array([[1.0, 1.0]]), None)]
    assert check_certificate(params, cyclic_certificate([2], [[(0, 1)]]))


def test_certificate_needs_one_list_of_classes_per_layer() -> None:
    with pytest.raises(InvalidArgument, match="1 lists of classes for 2 hidden layers"):
        cyclic_certificate([4, 3], [[]])


def _rounding_lumped() -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Block sums equal in float64 (2**53 + 1 rounds to 2**53), different in real arithmetic."""
    big = 2.0**53
    return [
        (np.array([[1.0], [1.0]]), np.zeros(2)),
        (np.array([[big, 1.0], [0.0, big]]), np.zeros(2)),
        (np.array([[1.0, 1.0]]), None),
    ]


def test_lumping_is_checked_in_exact_arithmetic() -> None:
    params = _rounding_lumped()
    one_block = Partition.from_labels([[0, 0], [0, 0]])
    assert is_equitable(params, one_block)  # the float check is fooled by rounding
    assert check_lumping(params, [[0, 0], [0, 0]]) is False
    assert check_lumping(params, [[0, 1], [0, 1]]) is True  # singletons are always equitable


def test_rounding_lumped_layers_are_not_claimed_collapsed() -> None:
    report = audit_params(_rounding_lumped())
    assert [layer.verdict for layer in report.layers] == ["lumped", "lumped"]
    assert not report.collapsed and report.exit_code == 1
    assert not any(layer.certified for layer in report.layers)


def test_an_exactly_lumped_network_is_certified() -> None:
    half = 0.5
    params = [
        (np.full((3, 1), half), np.zeros(3)),
        (np.array([[1.0, 0.0, 0.0], [0.0, half, half], [0.0, half, half]]), np.zeros(3)),
        (np.full((1, 3), 0.25), None),
    ]
    assert check_lumping(params, [[0, 0, 0], [0, 0, 0]])
    report = audit_params(params)
    assert [layer.verdict for layer in report.layers] == ["collapsed", "collapsed"]
    assert all(layer.certified for layer in report.layers)


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        ([[0, 0, 0]], "one layer of labels missing"),
        ([[0, 0], [0, 0, 0]], "wrong number of neurons"),
    ],
)
def test_lumping_check_rejects_malformed_labels(labels: list, why: str) -> None:
    params = [
        (np.ones((3, 1)), None),
        (np.ones((3, 3)), None),
        (np.ones((1, 3)), None),
    ]
    assert check_lumping(params, [[0, 0, 0], [0, 0, 0]])
    assert check_lumping(params, labels) is False, why


@pytest.mark.parametrize("where", ["bias", "row", "column", "nonfinite"])
def test_lumping_check_rejects_each_broken_condition(where: str) -> None:
    w2 = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]])
    params = [(np.full((3, 1), 0.5), np.zeros(3)), (w2, np.zeros(3)), (np.full((1, 3), 0.25), None)]
    labels = [[0, 0, 0], [0, 0, 0]]
    assert check_lumping(params, labels)
    if where == "bias":
        params[1][1][2] = 0.1
    elif where == "row":
        w2[0, 0] = 1.5  # row 0 sums to 1.5, rows 1 and 2 to 1
    elif where == "column":
        w2[:] = [[1.0, 0.0, 0.0]] * 3  # every row sums to 1, the columns to 3, 0, 0
    else:  # infinite weights, equal in every row: only the finiteness check refuses them
        params[0][0][:] = np.inf
    assert check_lumping(params, labels) is False


def test_lumping_check_reads_blocks_of_unequal_sizes() -> None:
    """Blocks {0} and {1, 2} are equitable; {0, 1} and {2} are not (their column sums differ)."""
    params = [
        (np.full((3, 1), 0.5), np.zeros(3)),
        (np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]]), np.zeros(3)),
        (np.full((1, 3), 0.25), None),
    ]
    assert check_lumping(params, [[0, 1, 1], [0, 1, 1]]) is True
    assert check_lumping(params, [[1, 0, 0], [0, 1, 1]]) is True
    assert check_lumping(params, [[0, 0, 1], [0, 1, 1]]) is False


def test_lumping_checks_single_columns_too() -> None:
    """One block {0, 1} whose rows differ on the (always single) input column: not equitable."""
    params = [(np.array([[1.0], [2.0]]), None), (np.array([[1.0, 1.0]]), None)]
    assert check_lumping(params, [[0, 0]]) is False
    assert check_lumping(params, [[0, 1]]) is True
    params[0] = (np.array([[2.0], [2.0]]), None)
    assert check_lumping(params, [[0, 0]]) is True
