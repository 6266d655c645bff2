"""Property 3 (docs/theory.md T1): permuting hidden neurons permutes the gradients.

:math:`\\nabla L(\\pi\\theta) = \\pi\\nabla L(\\theta)`. Regimes: on exact dyadic
data with identity/ReLU activations and MSE the two sides are compared
**bitwise**; otherwise within :func:`symcheck.model.neurons.rounding_tolerance`
(the permuted matrices put rows at other positions of the BLAS kernels).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from symcheck import Network
from symcheck.confirm.gradcheck import gradient_scale
from symcheck.confirm.strategies import (
    EXACT_ACTIVATIONS,
    inputs,
    networks,
    random_params,
    symmetric_params,
)
from symcheck.measure import numeric
from symcheck.model.neurons import permute_hidden, rounding_tolerance
from symcheck.model.tree import leaves


def _perms(data, net: Network) -> dict[int, list[int]]:
    return {
        layer: data.draw(st.permutations(range(net.widths[layer])), label=f"pi_{layer}")
        for layer in net.hidden_layers
    }


def _gap(a: list, b: list) -> float:
    return max(float(np.max(np.abs(u - v))) for u, v in zip(leaves(a), leaves(b)))


@given(st.data())
def test_permuting_hidden_neurons_permutes_gradients_bitwise_on_dyadic_data(data):
    # Regime: exact dyadic arithmetic -> bitwise equality.
    net = data.draw(networks(activations=EXACT_ACTIVATIONS, losses=["mse"]))
    x, y = data.draw(inputs(net, exact=True))
    params = data.draw(symmetric_params(net, kinds=["tied"], exact=True))
    perms = _perms(data, net)
    lhs = numeric.gradients(net, permute_hidden(net, params, perms), x, y)
    rhs = permute_hidden(net, numeric.gradients(net, params, x, y), perms)
    assert _gap(lhs, rhs) == 0.0


@given(st.data())
def test_permuting_hidden_neurons_permutes_gradients_within_rounding(data):
    # Regime: general floating point -> ulp-scaled tolerance.
    net = data.draw(networks())
    x, y = data.draw(inputs(net))
    params = data.draw(random_params(net, bias=None))
    perms = _perms(data, net)
    lhs = numeric.gradients(net, permute_hidden(net, params, perms), x, y)
    rhs = permute_hidden(net, numeric.gradients(net, params, x, y), perms)
    tol = rounding_tolerance(net, scale=gradient_scale(net, params, x, y), batch=x.shape[0])
    assert _gap(lhs, rhs) <= tol


def test_permutation_check_catches_a_half_applied_permutation():
    """Sibling: permuting rows of W^1 without the columns of W^2 is caught."""
    net = Network.parse("2-2-1", activation="tanh")
    params = [
        (np.array([[0.5, -0.3], [0.2, 0.4]]), np.array([0.1, -0.2])),
        (np.array([[0.7, -0.6]]), np.array([0.05])),
    ]
    x, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    swap = np.array([1, 0])
    half = [(params[0][0][swap], params[0][1][swap]), params[1]]
    lhs = numeric.gradients(net, half, x, y)
    rhs = permute_hidden(net, numeric.gradients(net, params, x, y), {1: [1, 0]})
    tol = rounding_tolerance(net, scale=gradient_scale(net, params, x, y), batch=1)
    assert _gap(lhs, rhs) > tol
