"""The NumPy engine: gradients against complex-step derivatives, layouts, errors."""

from __future__ import annotations

import numpy as np
import pytest

from symcheck import InvalidArgument, Network
from symcheck.measure import numeric as nm


def _random_params(net: Network, rng: np.random.Generator):
    return [(rng.normal(size=s), rng.normal(size=s[0]) if net.bias else None) for s in net.shapes]


def _complex_step(net, params, x, y, layer, index, which):
    h = 1e-30
    shifted = [(w.astype(complex), None if b is None else b.astype(complex)) for w, b in params]
    shifted[layer][which][index] += 1j * h
    return float(nm.loss(net, shifted, x, y, dtype=complex).imag / h)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy", "bce"])
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "sin", "identity"])
def test_gradients_match_complex_step_derivatives(act, loss) -> None:
    rng = np.random.default_rng(7)
    net = Network.parse("3-4-2-2", activation=act, loss=loss)
    params = _random_params(net, rng)
    x, y = rng.normal(size=(5, 3)), rng.random(size=(5, 2))
    grads = nm.gradients(net, params, x, y)
    for layer, (w, _) in enumerate(params):
        for which in (0, 1):
            arr = params[layer][which]
            for index in np.ndindex(arr.shape):
                want = _complex_step(net, params, x, y, layer, index, which)
                got = grads[layer][which][index]
                assert got == pytest.approx(want, rel=1e-10, abs=1e-13)
        assert grads[layer][0].shape == w.shape


def test_a_gradient_with_a_wrong_factor_fails_the_complex_step_check() -> None:
    rng = np.random.default_rng(8)
    net = Network.parse("2-3-1", activation="tanh")
    params = _random_params(net, rng)
    x, y = rng.normal(size=(4, 2)), rng.normal(size=(4, 1))
    wrong = 2.0 * nm.gradients(net, params, x, y)[0][0][1, 1]
    want = _complex_step(net, params, x, y, 0, (1, 1), 0)
    assert wrong != pytest.approx(want, rel=1e-10, abs=1e-13)


def test_sum_reduction_is_batch_times_mean_reduction() -> None:
    rng = np.random.default_rng(1)
    mean_net = Network.parse("2-3-1", activation="tanh")
    sum_net = Network.parse("2-3-1", activation="tanh", reduction="sum")
    params = _random_params(mean_net, rng)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 1))
    g_mean = nm.gradients(mean_net, params, x, y)
    g_sum = nm.gradients(sum_net, params, x, y)
    for (wm, bm), (ws, bs) in zip(g_mean, g_sum):
        np.testing.assert_allclose(6 * wm, ws, rtol=1e-14)
        np.testing.assert_allclose(6 * bm, bs, rtol=1e-14)


def test_network_without_bias_has_no_bias_gradients() -> None:
    rng = np.random.default_rng(2)
    net = Network.parse("2-3-1", bias=False)
    grads = nm.gradients(net, _random_params(net, rng), rng.normal(size=(3, 2)), np.ones((3, 1)))
    assert all(b is None for _, b in grads)


def test_forward_applies_the_output_map_of_the_loss() -> None:
    rng = np.random.default_rng(3)
    net = Network.parse("2-3-3", loss="cross_entropy")
    out = nm.forward(net, _random_params(net, rng), rng.normal(size=(4, 2)))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-15)
    assert np.all(out > 0)


def test_float32_is_available_on_request() -> None:
    rng = np.random.default_rng(4)
    net = Network.parse("2-3-1")
    grads = nm.gradients(
        net, _random_params(net, rng), np.ones((2, 2)), np.ones((2, 1)), dtype=np.float32
    )
    assert grads[0][0].dtype == np.float32


def test_relu_kink_uses_zero_derivative() -> None:
    net = Network.parse("2-2-1", activation="relu")
    params = [(np.zeros((2, 2)), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))]
    grads = nm.gradients(net, params, np.array([[1.0, 2.0]]), np.array([[1.0]]))
    assert np.all(grads[0][0] == 0.0) and np.all(grads[0][1] == 0.0)


@pytest.mark.parametrize(
    ("params", "x", "message"),
    [
        ([(np.zeros((2, 2)), np.zeros(2))], np.ones((1, 2)), "params has 1 layers"),
        (
            [(np.zeros((2, 3)), np.zeros(2)), (np.zeros((1, 2)), np.zeros(1))],
            np.ones((1, 2)),
            r"W1 has shape \(2, 3\)",
        ),
        (
            [(np.zeros((2, 2)), None), (np.zeros((1, 2)), np.zeros(1))],
            np.ones((1, 2)),
            "b1 is None",
        ),
        (
            [(np.zeros((2, 2)), np.zeros(3)), (np.zeros((1, 2)), np.zeros(1))],
            np.ones((1, 2)),
            r"b1 has shape \(3,\)",
        ),
        (
            [(np.zeros((2, 2)), np.zeros(2)), (np.zeros((1, 2)), np.zeros(1))],
            np.ones((1, 3)),
            r"x has shape \(1, 3\)",
        ),
        ([0.0, (np.zeros((1, 2)), np.zeros(1))], np.ones((1, 2)), "pair"),
    ],
)
def test_invalid_params_and_inputs_are_named(params, x, message) -> None:
    with pytest.raises(InvalidArgument, match=message):
        nm.forward_trace(Network.parse("2-2-1"), params, x)


def test_abstract_networks_are_refused_numerically() -> None:
    net = Network.parse("2-2-1", activation="sigma")
    params = [(np.zeros((2, 2)), np.zeros(2)), (np.zeros((1, 2)), np.zeros(1))]
    with pytest.raises(InvalidArgument, match="abstract"):
        nm.gradients(net, params, np.ones((1, 2)), np.ones((1, 1)))
