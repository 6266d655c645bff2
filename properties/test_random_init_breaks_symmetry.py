"""Property 2 (DESIGN.md T4): initialisers with a density break symmetry.

Every catalogue scheme with a density (the classic presets included) gives
pairwise-distinct neurons at t = 0 (compared bitwise: a tie has probability
0), and for analytic activations pairwise-different gradient rows, by more
than the rounding tolerance of the gradient (regime: general floating point).

Non-degeneracy conditions the data are drawn under (each excludes a
measure-zero or structurally degenerate case, not a counterexample):
some input has magnitude >= 1/8 (x = 0 gives zero rows without bias), and
no softmax over a single output (its gradient is identically 0).
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from symcheck import numeric
from symcheck.gradcheck import gradient_scale
from symcheck.neurons import gradient_rows, rounding_tolerance, signatures, tied_pairs
from symcheck.strategies import inputs, networks, random_params, symmetric_params

ANALYTIC = ("identity", "tanh", "sigmoid", "softplus", "sin", "square")


def _nondegenerate(net, x) -> bool:
    single_softmax = net.loss_fn.output == "softmax" and net.widths[-1] == 1
    return not single_softmax and float(np.max(np.abs(x))) >= 0.125


def _tied_gradient_rows(net, params, x, y) -> dict[int, list[tuple[int, int]]]:
    grads = numeric.gradients(net, params, x, y)
    tol = rounding_tolerance(net, scale=gradient_scale(net, params, x, y), batch=x.shape[0])
    return {layer: tied_pairs(gradient_rows(grads, layer), tol=tol) for layer in net.hidden_layers}


@given(st.data())
def test_every_initializer_with_a_density_gives_distinct_neurons_and_gradient_rows(data):
    # Regime: general floating point; distinctness beyond the rounding tolerance.
    net = data.draw(networks(activations=ANALYTIC))
    params = data.draw(random_params(net))
    x, y = data.draw(inputs(net))
    assume(_nondegenerate(net, x))
    for layer in net.hidden_layers:
        assert tied_pairs(signatures(params, layer)) == []
    assert _tied_gradient_rows(net, params, x, y) == {layer: [] for layer in net.hidden_layers}


@given(st.data())
def test_distinctness_check_rejects_symmetric_starts(data):
    """Sibling: from a tied start the same check finds tied neurons and tied gradient rows."""
    net = data.draw(networks(activations=ANALYTIC))
    params = data.draw(symmetric_params(net))
    x, y = data.draw(inputs(net))
    tied_rows = _tied_gradient_rows(net, params, x, y)
    for layer in net.hidden_layers:
        assert (0, 1) in tied_pairs(signatures(params, layer))
        assert (0, 1) in tied_rows[layer]
