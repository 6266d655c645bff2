"""Unit tests of the gradient references (symcheck.confirm.gradcheck)."""

from __future__ import annotations

import numpy as np
import pytest

from symcheck import InvalidArgument, Network
from symcheck.confirm.gradcheck import (
    central_difference_check,
    complex_step_gradients,
    gradient_scale,
    tied_gradient_rows,
)
from symcheck.measure import numeric
from symcheck.model.init import initialize
from symcheck.model.neurons import rounding_tolerance
from symcheck.model.tree import leaves

X, Y = np.array([[1.0, 2.0]]), np.array([[1.0]])


def _params():
    return [
        (np.array([[0.5, -0.3], [0.2, 0.4]]), np.array([0.1, -0.2])),
        (np.array([[0.7, -0.6]]), np.array([0.05])),
    ]


def test_complex_step_matches_backprop_on_the_slide_network():
    net = Network.parse("2-2-1", activation="tanh")
    reference = complex_step_gradients(net, _params(), X, Y)
    grads = numeric.gradients(net, _params(), X, Y)
    for (g, gb), (r, rb) in zip(grads, reference):
        np.testing.assert_allclose(g, r, rtol=0, atol=16 * np.finfo(float).eps)
        np.testing.assert_allclose(gb, rb, rtol=0, atol=16 * np.finfo(float).eps)


def test_relu_network_away_from_kinks_is_checked_not_skipped():
    net = Network.parse("2-2-1", activation="relu")
    params = _params()
    params[0] = (params[0][0], np.array([0.5, -0.2]))
    mismatches, skipped = central_difference_check(
        net, params, X, Y, numeric.gradients(net, params, X, Y)
    )
    assert mismatches == [] and skipped == 0


def test_a_pre_activation_at_the_kink_up_to_rounding_is_skipped():
    """z_1 = 0.5 - 0.6 + 0.1 is 2.8e-17 in float64: a difference would straddle the kink."""
    net = Network.parse("2-2-1", activation="relu")
    mismatches, skipped = central_difference_check(
        net, _params(), X, Y, numeric.gradients(net, _params(), X, Y)
    )
    assert mismatches == []
    assert skipped == 3  # W^1_11, W^1_12 and b^1_1


def test_gradient_scale_counts_cancelled_terms():
    """Softmax (1/2, 1/2) against target (1/2, 1/2): zero gradient but O(1) terms."""
    net = Network.parse("2-2-2", activation="tanh", loss="cross_entropy")
    (w1, b1), _ = _params()
    params = [(w1, b1), (np.array([[0.7, -0.6], [0.7, -0.6]]), np.array([0.05, 0.05]))]
    y = np.array([[0.5, 0.5]])
    assert max(float(np.max(np.abs(g))) for g in leaves(numeric.gradients(net, params, X, y))) == 0
    assert gradient_scale(net, params, X, y) >= 1.0


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (
            lambda: complex_step_gradients(
                Network.parse("2-2-1", activation="relu"), _params(), X, Y
            ),
            "not analytic",
        ),
        (
            lambda: central_difference_check(
                Network.parse("2-2-1"), _params()[:1], X, Y, _params()
            ),
            "params has 1 layers",
        ),
    ],
)
def test_invalid_gradcheck_arguments_are_rejected_with_a_message(call, fragment):
    with pytest.raises(InvalidArgument) as info:
        call()
    assert fragment in str(info.value)


def test_regression_cancelling_output_does_not_fake_a_finite_difference_mismatch():
    """Found by Hypothesis: z^L - y cancels (0.5038 - 0.5), so L's rounding is
    relative to the cancelled terms, not to L; the tolerance must count them."""
    net = Network.parse("1-2-1", activation="identity")
    params = initialize(net, "classic_normal", rng=np.random.default_rng(0), bias=0.5)
    x, y = np.array([[0.0]]), np.array([[0.5]])
    mismatches, skipped = central_difference_check(
        net, params, x, y, numeric.gradients(net, params, x, y)
    )
    assert mismatches == [] and skipped == 0


def test_regression_tiny_gradients_of_a_square_network_are_not_called_tied():
    """Found by Hypothesis: std-0.01 weights through two square layers give
    gradient rows of 1e-15; a scale floored at 1 called them tied."""
    net = Network((1, 2, 2, 1), ("square", "square"), "bce", False)
    params = initialize(net, "classic_normal", rng=np.random.default_rng(0))
    x, y = np.array([[1.0]]), np.array([[0.0]])
    assert tied_gradient_rows(net, params, x, y) == {1: [], 2: []}


def test_regression_output_bias_gradient_is_compared_at_the_scale_of_its_delta():
    """Found by Hypothesis: tiny activations but a bias gradient of 0.5 (delta times 1);
    the complex step differs from backprop by one ulp of 0.5."""
    net = Network.parse("1-2-1", activation="identity", loss="bce")
    params = initialize(net, "classic_normal", rng=np.random.default_rng(0))
    x, y = np.array([[1.0]]), np.array([[0.0]])
    grads = numeric.gradients(net, params, x, y)
    reference = complex_step_gradients(net, params, x, y)
    gap = max(float(np.max(np.abs(g - r))) for g, r in zip(leaves(grads), leaves(reference)))
    assert gap <= rounding_tolerance(net, scale=gradient_scale(net, params, x, y), batch=1)


def test_resolvable_deltas_refuses_degenerate_points_and_accepts_a_generic_one():
    from symcheck import Network, initialize
    from symcheck.confirm.gradcheck import resolvable_deltas

    rng = np.random.default_rng(0)
    x, y = np.array([[1.0, -2.0]]), np.array([[0.5]])
    generic = Network.parse("2-3-1", activation="tanh")
    params = initialize(generic, "xavier_normal", rng=rng)
    assert resolvable_deltas(generic, params, x, y)
    assert not resolvable_deltas(generic, params, x / 100, y)  # inputs too small
    saturated = Network.parse("2-3-2", activation="tanh", loss="cross_entropy")
    (w1, b1), _ = params
    logits = [(w1, b1), (np.zeros((2, 3)), np.array([60.0, -60.0]))]  # softmax ~ (1, e^-120)
    assert not resolvable_deltas(saturated, logits, x, np.array([[1.0, 0.0]]))
    assert resolvable_deltas(saturated, logits, x, np.array([[0.0, 1.0]]))
