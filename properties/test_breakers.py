"""Property 5 (docs/theory.md T2): breakers make tied neurons distinct.

From a tied start, one step with a breaker separates the tied pair (0, 1)
of a hidden layer by more than the rounding tolerance (regime: general
floating point, ulp-scaled tolerance). Each breaker has its non-degeneracy
condition, drawn under with ``assume`` and stated here:

* weight noise: none; the noise has a density;
* per-neuron learning rates (distinct for every neuron): the pair's incoming
  gradient row (with bias) has an entry of magnitude >= 2**-10. Tanh with
  all-zero weights violates it: every hidden delta is 0, so any learning rate
  moves nothing;
* dropout (a batch of one sample, masks in {0, 2}, i.e. p = 1/2): the masks
  of the pair differ, the pair's activation before the mask has magnitude
  >= 2**-10 and the delta of the next layer has an entry >= 2**-10. With tanh
  and all-zero weights every activation is 0 and dropout changes nothing.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from symcheck.confirm.strategies import inputs, networks, optimizers, symmetric_params
from symcheck.measure import numeric
from symcheck.measure.train import train
from symcheck.model.neurons import gradient_rows, pair_gaps, rounding_tolerance, signatures

_FLOOR = 2.0**-10


def _scale(params, x, y) -> float:
    values = [np.max(np.abs(a)) for pair in params for a in pair if a is not None]
    return max(1.0, float(np.max(np.abs(x))), float(np.max(np.abs(y))), *map(float, values))


def _pair_gap(params, layer: int) -> float:
    return float(pair_gaps(signatures(params, layer))[0, 1])


@given(st.data())
def test_weight_noise_makes_tied_neurons_distinct(data):
    # Regime: general floating point -> ulp-scaled tolerance.
    net = data.draw(networks())
    x, y = data.draw(inputs(net))
    params = data.draw(symmetric_params(net))
    opt = data.draw(optimizers())
    sigma = data.draw(st.sampled_from([1e-3, 1e-2, 1e-1]), label="weight_noise")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    traj = train(net, params, (x, y), opt, 1, rng=np.random.default_rng(seed), weight_noise=sigma)
    tol = rounding_tolerance(net, scale=_scale(traj.final, x, y), batch=x.shape[0])
    for layer in net.hidden_layers:
        assert _pair_gap(traj.final, layer) > tol


@given(st.data())
def test_per_neuron_learning_rates_make_tied_neurons_distinct(data):
    # Regime: general floating point -> ulp-scaled tolerance.
    net = data.draw(networks())
    x, y = data.draw(inputs(net))
    params = data.draw(symmetric_params(net, kinds=["constant", "tied"]))
    opt = data.draw(optimizers(common_options=False))
    grads = numeric.gradients(net, params, x, y)
    moving = [
        layer
        for layer in net.hidden_layers
        if np.max(np.abs(gradient_rows(grads, layer)[0])) >= _FLOOR
    ]
    assume(moving)
    scales = [0.5 ** np.arange(w) for w in net.widths[1:-1]] + [None]
    traj = train(net, params, (x, y), opt, 1, lr_scale=scales)
    tol = rounding_tolerance(net, scale=_scale(traj.final, x, y), batch=x.shape[0])
    for layer in moving:
        assert _pair_gap(traj.final, layer) > tol


@given(st.data())
def test_dropout_masks_that_differ_make_tied_neurons_distinct(data):
    # Regime: general floating point -> ulp-scaled tolerance.
    net = data.draw(networks())
    x, y = data.draw(inputs(net, batch=(1, 1)))
    params = data.draw(symmetric_params(net, kinds=["constant", "tied"]))
    opt = data.draw(optimizers(common_options=False))
    # The pair's masks differ (neuron 0 kept, neuron 1 dropped); the rest are drawn.
    masks = [
        np.array([[2.0, 0.0, *(data.draw(st.sampled_from([0.0, 2.0])) for _ in range(n - 2))]])
        for n in net.widths[1:-1]
    ]
    trace = numeric.forward_trace(net, params, x, masks=masks)
    _, deltas = numeric.backward(net, params, trace, y)
    separated = [
        layer
        for layer in net.hidden_layers
        if abs(net.activation(layer).numpy(trace.pre[layer - 1])[0, 0]) >= _FLOOR
        and np.max(np.abs(deltas[layer])) >= _FLOOR
    ]
    assume(separated)
    grads = numeric.gradients(net, params, x, y, masks=masks)
    new, _ = opt.step(params, grads, opt.init(params))
    tol = rounding_tolerance(net, scale=_scale(new, x, y), batch=1)
    for layer in separated:
        assert _pair_gap(new, layer) > tol


@given(st.data())
def test_distinctness_check_rejects_a_step_without_breakers(data):
    """Sibling: with no breaker the same check finds the pair still tied."""
    net = data.draw(networks())
    x, y = data.draw(inputs(net))
    params = data.draw(symmetric_params(net))
    opt = data.draw(optimizers())
    traj = train(net, params, (x, y), opt, 1)
    tol = rounding_tolerance(net, scale=_scale(traj.final, x, y), batch=x.shape[0])
    for layer in net.hidden_layers:
        assert not _pair_gap(traj.final, layer) > tol
