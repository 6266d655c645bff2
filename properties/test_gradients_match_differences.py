"""Property 4 (numeric half): back-propagated gradients agree with differences.

* complex step, analytic activations and losses only: the reference is
  accurate to rounding, so the regime is general floating point with the
  ulp-scaled :func:`symcheck.model.neurons.rounding_tolerance`;
* central differences, every concrete activation: the tolerance is the
  Richardson error estimate of :func:`symcheck.confirm.gradcheck.central_difference_check`;
  coordinates whose differences would straddle a ReLU kink are skipped,
  never differenced.

(The comparison with exact symbolic gradients belongs to the symbolic suite.)
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from symcheck import Network
from symcheck.confirm.gradcheck import (
    central_difference_check,
    complex_step_gradients,
    gradient_scale,
)
from symcheck.confirm.strategies import inputs, networks, random_params
from symcheck.measure import numeric
from symcheck.model.neurons import rounding_tolerance
from symcheck.model.tree import leaves

ANALYTIC = ("identity", "tanh", "sigmoid", "softplus", "sin", "square")
SMALL = {"hidden_layers": (1, 2), "input_widths": (1, 2), "hidden_widths": (2, 3)}


def _complex_step_gap(net, params, x, y, grads) -> float:
    reference = complex_step_gradients(net, params, x, y)
    return max(float(np.max(np.abs(g - r))) for g, r in zip(leaves(grads), leaves(reference)))


@given(st.data())
def test_gradients_equal_the_complex_step_to_rounding(data):
    # Regime: general floating point -> ulp-scaled tolerance.
    net = data.draw(networks(activations=ANALYTIC, **SMALL))
    params = data.draw(random_params(net, bias=None))
    x, y = data.draw(inputs(net, batch=(1, 3)))
    grads = numeric.gradients(net, params, x, y)
    tol = rounding_tolerance(net, scale=gradient_scale(net, params, x, y), batch=x.shape[0])
    assert _complex_step_gap(net, params, x, y, grads) <= tol


@given(st.data())
def test_gradients_agree_with_central_differences_away_from_kinks(data):
    # Regime: finite differences -> Richardson error estimate plus rounding/h.
    net = data.draw(networks(**SMALL))
    params = data.draw(random_params(net, bias=None))
    x, y = data.draw(inputs(net, batch=(1, 3)))
    grads = numeric.gradients(net, params, x, y)
    mismatches, _skipped = central_difference_check(net, params, x, y, grads)
    assert mismatches == []


def _wrong(grads: list, factor: float) -> list:
    (w, b), *rest = grads
    w = w.copy()
    w[0, 0] = w[0, 0] * factor + 1e-3
    return [(w, b), *rest]


def _fixed() -> tuple[Network, list, np.ndarray, np.ndarray]:
    net = Network.parse("2-2-1", activation="tanh")
    params = [
        (np.array([[0.5, -0.3], [0.2, 0.4]]), np.array([0.1, -0.2])),
        (np.array([[0.7, -0.6]]), np.array([0.05])),
    ]
    return net, params, np.array([[1.0, 2.0], [-0.5, 1.0]]), np.array([[1.0], [0.0]])


def test_both_checks_catch_a_deliberately_wrong_gradient():
    """Sibling: one entry off by 1e-3 is flagged by both references."""
    net, params, x, y = _fixed()
    wrong = _wrong(numeric.gradients(net, params, x, y), 1.0)
    mismatches, _ = central_difference_check(net, params, x, y, wrong)
    assert [(m.array, m.index) for m in mismatches] == [(0, (0, 0))]
    tol = rounding_tolerance(net, scale=gradient_scale(net, params, x, y), batch=2)
    assert _complex_step_gap(net, params, x, y, wrong) > tol


def test_central_differences_skip_coordinates_on_a_relu_kink():
    """Zero pre-activations sit on the kink: those coordinates are not differenced."""
    net = Network.parse("2-2-1", activation="relu")
    params = [(np.zeros((2, 2)), np.zeros(2)), (np.array([[0.5, -0.5]]), np.zeros(1))]
    x, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    mismatches, skipped = central_difference_check(
        net, params, x, y, numeric.gradients(net, params, x, y)
    )
    assert mismatches == []
    assert skipped == net.parameter_count
