"""Property 6 (docs/theory.md §1, the degenerate zero init).

With every weight and bias zero (output layer too):

* tanh, ReLU and identity hidden layers (:math:`\\varphi(0) = 0`): every hidden
  activation and every hidden delta is 0, so no hidden weight, no hidden bias
  and no output weight ever moves; only the output bias learns (whenever its
  gradient at the start is non-zero). Regime: exact (zeros), bitwise.
* sigmoid (:math:`\\varphi(0) = 1/2`): the first step moves only the output
  layer, and moves every output column identically (bitwise-zero hidden
  layers; identical columns within the rounding tolerance, general regime).
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from symcheck import Network
from symcheck.confirm.gradcheck import gradient_scale
from symcheck.confirm.strategies import inputs, networks, optimizers
from symcheck.measure import numeric
from symcheck.measure.optim import get_optimizer
from symcheck.measure.train import train
from symcheck.model.init import initialize
from symcheck.model.neurons import pair_gaps, rounding_tolerance

_ZERO_AT_ZERO = ("tanh", "relu", "identity")


def _only_output_bias_moves(net: Network, traj) -> bool:
    final = traj.final
    hidden_still = all(np.all(w == 0) and (b is None or np.all(b == 0)) for w, b in final[:-1])
    return hidden_still and bool(np.all(final[-1][0] == 0))


@given(st.data())
def test_zero_init_with_phi_zero_moves_only_the_output_bias(data):
    # Regime: exact (every hidden quantity is exactly 0) -> bitwise.
    net = data.draw(networks(activations=_ZERO_AT_ZERO))
    x, y = data.draw(inputs(net))
    opt = data.draw(optimizers())
    steps = data.draw(st.integers(1, 5), label="steps")
    params = initialize(net, "zeros")
    traj = train(net, params, (x, y), opt, steps)
    assert _only_output_bias_moves(net, traj)
    if net.bias:
        start_grad = numeric.gradients(net, params, x, y)[-1][1]
        moved = traj.params[1][-1][1]
        assert np.array_equal(moved != 0, start_grad != 0)


@given(st.data())
def test_zero_init_with_sigmoid_moves_the_output_weights_first_and_identically(data):
    # Regime: hidden layers exact (bitwise 0); output columns within rounding.
    net = data.draw(networks(activations=["sigmoid"], bias=True))
    x, y = data.draw(inputs(net))
    opt = data.draw(optimizers())
    params = initialize(net, "zeros")
    delta_sum = numeric.gradients(net, params, x, y)[-1][1]
    assume(np.max(np.abs(delta_sum)) >= 2.0**-10)  # the output is not already fitted
    traj = train(net, params, (x, y), opt, 1)
    final = traj.final
    assert all(np.all(w == 0) and np.all(b == 0) for w, b in final[:-1])
    w_out = final[-1][0]
    assert np.any(w_out != 0)
    tol = rounding_tolerance(net, scale=gradient_scale(net, params, x, y), batch=x.shape[0])
    assert float(np.max(pair_gaps(w_out.T))) <= tol


def test_never_moves_check_rejects_sigmoid_after_two_steps():
    """Sibling: the 'only the output bias' check fails for sigmoid (phi(0) = 1/2)."""
    net = Network.parse("2-2-1", activation="sigmoid")
    x, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    traj = train(net, initialize(net, "zeros"), (x, y), get_optimizer("sgd", lr=0.5), 2)
    assert not _only_output_bias_moves(net, traj)
    assert np.any(traj.final[0][0] != 0)


def test_never_moves_check_rejects_tanh_with_a_nonzero_hidden_bias():
    """Sibling: a non-zero hidden bias makes tanh activations non-zero, so weights move."""
    net = Network.parse("2-2-1", activation="tanh")
    params = initialize(net, "zeros")
    params[0] = (params[0][0], np.full(2, 0.5))
    x, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    traj = train(net, params, (x, y), get_optimizer("sgd", lr=0.5), 2)
    assert not _only_output_bias_moves(net, traj)
