"""The numeric interpreter: reverse mode against central differences, SymPy against NumPy."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from symcheck.errors import InvalidArgument
from symcheck.graph import evaluate as module
from symcheck.graph.backend import NUMPY, SYMPY
from symcheck.graph.evaluate import evaluate, loss_and_gradients
from symcheck.graph.kernels import dense
from symcheck.graph.kernels.dense import linear_backward, linear_forward
from symcheck.graph.kernels.elementwise import activation_backward, activation_forward
from symcheck.graph.sample import random_inputs, random_parameters, random_target
from symcheck.graph.zoo import resolve_model
from symcheck.model.activations import ACTIVATIONS

MODELS = [
    "2-3-2",
    "cnn:channels=2,size=4,classes=2",
    "resmlp:d_model=3,d_ff=2,blocks=1",
    "transformer:d_model=4,heads=2,d_ff=3,layers=1,seq=3,kv_heads=1,rope=1",
    "moe:d_model=3,experts=2,d_ff=2",
]


def _loss(graph, params, inputs, target):
    return float(loss_and_gradients(graph, params, inputs, target)[0])


def _max_gradient_error(graph, params, inputs, target, grads, *, rng, samples=12, h=1e-6):
    worst = 0.0
    for name, value in params.items():
        for flat in rng.choice(value.size, size=min(samples, value.size), replace=False):
            index = np.unravel_index(flat, value.shape)
            up, down = dict(params), dict(params)
            up[name], down[name] = value.copy(), value.copy()
            up[name][index] += h
            down[name][index] -= h
            numeric = (_loss(graph, up, inputs, target) - _loss(graph, down, inputs, target)) / (
                2 * h
            )
            worst = max(worst, abs(numeric - grads[name][index]) / max(1.0, abs(numeric)))
    return worst


@pytest.mark.parametrize("spec", MODELS)
def test_reverse_mode_matches_central_differences(spec):
    graph = resolve_model(spec)
    rng = np.random.default_rng(3)
    params, inputs = random_parameters(graph, rng), random_inputs(graph, rng)
    target = random_target(graph, rng)
    _, grads = loss_and_gradients(graph, params, inputs, target)
    assert _max_gradient_error(graph, params, inputs, target, grads, rng=rng) < 1e-6


def test_the_difference_check_catches_a_wrong_gradient():
    graph = resolve_model("2-3-2")
    rng = np.random.default_rng(4)
    params, inputs = random_parameters(graph, rng), random_inputs(graph, rng)
    target = random_target(graph, rng)
    _, grads = loss_and_gradients(graph, params, inputs, target)
    grads = {**grads, "fc1.weight": grads["fc1.weight"].T.reshape(3, 2) * 1.01}
    assert _max_gradient_error(graph, params, inputs, target, grads, rng=rng, samples=6) > 1e-4


def _exact(values: np.ndarray) -> np.ndarray:
    """The same dyadic numbers as exact SymPy rationals."""
    return SYMPY.array(np.array([Fraction(v) for v in values.ravel()], dtype=object)).reshape(
        values.shape
    )


def test_the_sympy_backend_agrees_with_numpy_at_a_rational_point():
    graph = resolve_model("resmlp:d_model=2,d_ff=2,blocks=1,inputs=2,outputs=1")
    rng = np.random.default_rng(5)
    params = {k: np.round(v * 4) / 4 for k, v in random_parameters(graph, rng).items()}
    inputs = {k: np.round(v * 4) / 4 for k, v in random_inputs(graph, rng).items()}
    exact = evaluate(
        graph,
        {k: _exact(v) for k, v in params.items()},
        {k: _exact(v) for k, v in inputs.items()},
        xp=SYMPY,
    )
    numeric = evaluate(graph, params, inputs)
    values = np.vectorize(lambda e: float(sp.N(e, 30)))(exact)
    assert np.max(np.abs(values - numeric)) < 1e-12


def test_missing_or_misshapen_arrays_are_refused():
    graph = resolve_model("2-3-2")
    rng = np.random.default_rng(6)
    params, inputs = random_parameters(graph, rng), random_inputs(graph, rng)
    with pytest.raises(InvalidArgument, match="params lacks"):
        evaluate(graph, {}, inputs)
    with pytest.raises(InvalidArgument, match=r"inputs\['x'\] has shape \(3,\)"):
        evaluate(graph, params, {"x": np.zeros(3)})


def test_linear_backward_skips_only_the_gradients_not_wanted():
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=2)
    _, cache = linear_forward(NUMPY, x, w, b)
    g = rng.normal(size=(4, 2))
    full = linear_backward(NUMPY, cache, g)
    part = linear_backward(NUMPY, cache, g, wanted=(False, True, True))
    assert part[0] is None and full[0] is not None
    for mine, theirs in zip(part[1:], full[1:]):
        np.testing.assert_array_equal(mine, theirs, strict=True)


def test_reverse_mode_skips_the_input_gradient_and_keeps_every_parameter_gradient(monkeypatch):
    graph = resolve_model("2-3-2")
    rng = np.random.default_rng(1)
    params = random_parameters(graph, rng=rng)
    inputs, target = random_inputs(graph, rng=rng), random_target(graph, rng=rng)
    asked = []
    original = dense.linear_backward

    def spy(xp, cache, grad_out, *, wanted=None):
        asked.append(wanted)
        return original(xp, cache, grad_out, wanted=wanted)

    before = loss_and_gradients(graph, params, inputs, target)[1]
    monkeypatch.setattr(dense, "linear_backward", spy)
    module._kernels.cache_clear()
    try:
        after = loss_and_gradients(graph, params, inputs, target)[1]
    finally:
        module._kernels.cache_clear()
    # The last layer needs its input's gradient, the first does not (x is data).
    assert asked == [(True, True, True), (False, True, True)]
    assert before.keys() == after.keys() == set(graph.parameter_names)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name], strict=True)


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_the_slope_from_the_forward_value_is_the_registry_derivative_bit_for_bit(name):
    z = np.random.default_rng(2).normal(scale=4.0, size=(64, 32))
    _, cache = activation_forward(NUMPY, z, name=name)
    (grad,) = activation_backward(NUMPY, cache, np.ones_like(z))
    np.testing.assert_array_equal(grad, ACTIVATIONS[name].numpy_derivative(z), strict=True)
    # Sibling: the cached value matters; a stale one gives another slope.
    stale = (cache[0], cache[1], cache[2] * 0.5)
    assert not np.array_equal(activation_backward(NUMPY, stale, np.ones_like(z))[0], grad)
