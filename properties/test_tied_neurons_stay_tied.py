"""Property 1 (docs/theory.md T2): equivariant optimisers keep tied neurons tied.

Two regimes, named in each test:

* exact dyadic: identity/ReLU/leaky-ReLU(1/4) activations, MSE, data and
  parameters multiples of 1/4 and 1/8, batch 1, 2 or 4, dyadic learning
  rates, SGD/momentum/Nesterov: every operation is exact (or, once the
  products need more than 53 bits, rounded identically for tied neurons), so
  ties are compared **bitwise**. A run that overflows (the thorough profile
  found a linear 1-2-2-2 net with weights near 1.7 and rate 1/2 that passes
  1e308 within 3 steps) has left the regime and is rejected;
* general floating point: any activation, loss and optimiser of the
  equivariant set; ties are compared within
  :func:`symcheck.model.neurons.rounding_tolerance` (derived from Higham's bound
  on reordered sums), over at most 3 steps (rounding differences can grow,
  docs/theory.md §4).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from symcheck import Network
from symcheck.confirm.strategies import (
    EXACT_ACTIVATIONS,
    inputs,
    networks,
    optimizers,
    symmetric_params,
)
from symcheck.measure.optim import get_optimizer
from symcheck.measure.train import train
from symcheck.model.neurons import max_gap, rounding_tolerance, signatures, tied_pairs


def _tied_at_start(net: Network, params: list) -> dict[int, list[tuple[int, int]]]:
    return {layer: tied_pairs(signatures(params, layer)) for layer in net.hidden_layers}


def _trajectory_scale(traj, x: np.ndarray, y: np.ndarray) -> float:
    values = [np.max(np.abs(a)) for p in traj.params for pair in p for a in pair if a is not None]
    return max(1.0, float(np.max(np.abs(x))), float(np.max(np.abs(y))), *map(float, values))


@given(st.data())
def test_tied_neurons_stay_bitwise_tied_under_exact_dyadic_training(data):
    # Regime: exact dyadic arithmetic -> bitwise equality.
    net = data.draw(networks(activations=EXACT_ACTIVATIONS, losses=["mse"]))
    x, y = data.draw(inputs(net, exact=True))
    params = data.draw(symmetric_params(net, exact=True))
    opt = data.draw(optimizers(exact=True))
    steps = data.draw(st.integers(1, 3), label="steps")
    tied = _tied_at_start(net, params)
    assert all(tied.values())  # the strategy always ties neurons 0 and 1
    with np.errstate(over="raise", invalid="raise"):
        try:
            traj = train(net, params, (x, y), opt, steps)
        except FloatingPointError:
            reject()  # diverged past float64: outside the exact regime
    for layer, pairs in tied.items():
        assert max_gap(signatures(traj.final, layer), pairs) == 0.0


@given(st.data())
def test_tied_neurons_stay_tied_within_rounding_for_every_equivariant_optimizer(data):
    # Regime: general floating point -> ulp-scaled tolerance (rounding_tolerance).
    net = data.draw(networks())
    x, y = data.draw(inputs(net))
    params = data.draw(symmetric_params(net))
    opt = data.draw(optimizers())
    steps = data.draw(st.integers(1, 3), label="steps")
    tied = _tied_at_start(net, params)
    traj = train(net, params, (x, y), opt, steps)
    tol = rounding_tolerance(
        net, scale=_trajectory_scale(traj, x, y), batch=x.shape[0], steps=steps
    )
    for layer, pairs in tied.items():
        assert max_gap(signatures(traj.final, layer), pairs) <= tol


def test_tie_check_rejects_training_with_per_neuron_learning_rates():
    """Sibling: the same check fails when a breaker treats the tied neurons differently."""
    net = Network.parse("2-2-1", activation="tanh")
    w1 = np.array([[0.5, -0.25], [0.5, -0.25]])
    params = [(w1, np.zeros(2)), (np.array([[0.75, 0.75]]), np.zeros(1))]
    x, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    tied = _tied_at_start(net, params)
    assert tied == {1: [(0, 1)]}
    opt = get_optimizer("sgd", lr=0.5)
    traj = train(net, params, (x, y), opt, 1, lr_scale=[np.array([1.0, 0.5]), None])
    tol = rounding_tolerance(net, scale=_trajectory_scale(traj, x, y), batch=1, steps=1)
    assert max_gap(signatures(traj.final, 1), tied[1]) > tol


def test_the_exact_regime_excludes_the_diverging_run_the_thorough_profile_found():
    """Pinned: 1-2-2-2 identity, constant weights 1, 13/8, 7/4, SGD 1/2, three steps."""
    net = Network.parse("1-2-2-2", activation="identity", bias=False)
    params = [
        (np.ones((2, 1)), None),
        (np.full((2, 2), 1.625), None),
        (np.full((2, 2), 1.75), None),
    ]
    x, y = np.array([[1.5]]), np.zeros((1, 2))
    opt = get_optimizer("sgd", lr=0.5)
    with np.errstate(over="raise", invalid="raise"), pytest.raises(FloatingPointError):
        train(net, params, (x, y), opt, 3)
    two = train(net, params, (x, y), opt, 2)  # still finite after two steps: ties hold
    for layer in net.hidden_layers:
        assert max_gap(signatures(two.final, layer), [(0, 1)]) == 0.0
