"""Unit tests of the gradient references (symcheck.gradcheck)."""

from __future__ import annotations

import numpy as np
import pytest

from symcheck import InvalidArgument, Network, numeric
from symcheck.gradcheck import central_difference_check, complex_step_gradients, gradient_scale

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
    """Cross-entropy over one output has zero gradient but O(1) terms."""
    net = Network.parse("2-2-1", activation="tanh", loss="cross_entropy")
    assert gradient_scale(net, _params(), X, Y) >= 1.0


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
