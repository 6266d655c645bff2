"""The chain graph and the existing chain engine (symcheck.measure.numeric) agree: loss and
gradients.

This is the check the later lowering of ``Network`` onto the graph relies on.
"""

from __future__ import annotations

import numpy as np
import pytest

from symcheck import Network
from symcheck.graph.evaluate import loss_and_gradients
from symcheck.graph.zoo import chain_graph
from symcheck.measure import numeric

CASES = [
    ((3, 4, 4, 2), "tanh", "mse", True, "mean"),
    ((2, 3, 2), "relu", "cross_entropy", True, "sum"),
    ((2, 3, 1), "sigmoid", "bce", False, "mean"),
]


def _both(widths, activation, loss, bias, reduction, seed=0):
    rng = np.random.default_rng(seed)
    net = Network(widths, activation, loss=loss, bias=bias, reduction=reduction)
    graph = chain_graph(
        widths, activation=activation, bias=bias, loss=loss, reduction=reduction, batch=3
    )
    params = [
        (
            rng.standard_normal((widths[k], widths[k - 1])),
            rng.standard_normal(widths[k]) if bias else None,
        )
        for k in range(1, len(widths))
    ]
    x = rng.standard_normal((3, widths[0]))
    y = rng.uniform(0.1, 1.0, size=(3, widths[-1]))
    if loss == "cross_entropy":
        y = y / y.sum(axis=1, keepdims=True)
    named = {}
    for k, (w, b) in enumerate(params, start=1):
        named[f"fc{k}.weight"] = w
        if bias:
            named[f"fc{k}.bias"] = b
    value, grads = loss_and_gradients(graph, named, {"x": x}, y)
    return net, params, x, y, float(value), grads


@pytest.mark.parametrize("case", CASES)
def test_the_chain_graph_agrees_with_the_chain_engine(case):
    net, params, x, y, value, grads = _both(*case)
    assert value == pytest.approx(float(numeric.loss(net, params, x, y)), rel=1e-12)
    reference = numeric.gradients(net, params, x, y)
    for k, (gw, gb) in enumerate(reference, start=1):
        np.testing.assert_allclose(grads[f"fc{k}.weight"], gw, rtol=1e-12, atol=1e-14)
        if gb is not None:
            np.testing.assert_allclose(grads[f"fc{k}.bias"], gb, rtol=1e-12, atol=1e-14)


def test_the_agreement_check_sees_a_transposed_weight_gradient():
    net, params, x, y, _, grads = _both(*CASES[0])
    reference = numeric.gradients(net, params, x, y)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(grads["fc2.weight"].T, reference[1][0], rtol=1e-12, atol=1e-14)
