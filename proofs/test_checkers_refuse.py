"""Every checker refuses a deliberately broken case (an untied pair, a wrong factor)."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from symcheck.model.network import Network
from symcheck.prove.piecewise import piecewise_equal
from symcheck.prove.symbolic import init_point, layered_gradients, plain_gradients, symbolic_forward
from symcheck.prove.theorems import prove_identical_updates, prove_preserved
from symcheck.prove.ties import gradient_mismatches
from symcheck.prove.zerotest import NONZERO

NETWORKS = [
    Network.parse("3-4-2", activation="sigma", loss="ell"),
    Network.parse("2-3-3-3-1", activation="sigmoid", loss="bce"),
    Network.parse("3-4-4-2", activation="relu", loss="mse"),
]


def _untie_bias(network, layer):
    """The tied point with the bias of the last neuron of ``layer`` replaced by a fresh symbol."""
    point = init_point(network, "tied")
    w, b = point.params[layer - 1]
    params = list(point.params)
    params[layer - 1] = (w, (*b[:-1], sp.Symbol("b_broken")))
    return dataclasses.replace(point, params=tuple(params))


@pytest.mark.parametrize("network", NETWORKS, ids=str)
def test_identical_updates_refuses_an_untied_pair_in_the_last_hidden_layer(network):
    layer = network.depth - 1
    proof = prove_identical_updates(network, init=_untie_bias(network, layer))
    assert proof.refuted
    refuted = {r.label.split(":")[0] for r in proof.residuals if r.status == "nonzero"}
    assert f"layer {layer}" in refuted


@pytest.mark.parametrize("network", NETWORKS[:2], ids=str)
def test_preserved_refuses_an_untied_pair(network):
    assert prove_preserved(network, init=_untie_bias(network, 1), optimizer="momentum").refuted


def test_gradient_check_refuses_a_wrong_factor_on_an_output_weight():
    net = Network.parse("2-2-1", activation="sigma", loss="ell")
    params = init_point(net, "tied").params
    grads, _ = layered_gradients(net, params)
    w2, b2 = grads[1]
    broken = (grads[0], (((3 * w2[0][0], w2[0][1]),), b2))
    mismatches = gradient_mismatches(broken, plain_gradients(net, params))
    assert [pos for pos, _, _ in mismatches] == [(1, "w", 0, 0)]


def test_piecewise_comparison_refuses_relu_prime_one_at_the_kink_in_one_path():
    # relu'(0) = 1 instead of 0 in the layered path only: the two differ only on z = 0.
    net = Network.parse("2-2-1", activation="relu", loss="mse")
    params = init_point(net, "tied").params
    grads, _ = layered_gradients(net, params)
    z = symbolic_forward(net, params, [sp.symbols("x0_0 x0_1")]).pre[0][0][0]
    kink = {sp.Piecewise((1, z > 0), (0, True)): sp.Piecewise((1, z >= 0), (0, True))}

    def fix(v):
        return v.xreplace(kink)

    broken = tuple((tuple(tuple(map(fix, row)) for row in w), tuple(map(fix, b))) for w, b in grads)
    result = piecewise_equal(broken, plain_gradients(net, params))
    assert result.status == NONZERO
    assert z.xreplace(result.witness) == 0
