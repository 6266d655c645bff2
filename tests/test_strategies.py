"""Unit tests of the public Hypothesis strategies (symcheck.confirm.strategies)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symcheck import InvalidArgument, Network
from symcheck.confirm.strategies import (
    EXACT_OPTIMIZERS,
    inputs,
    networks,
    optimizers,
    random_params,
    symmetric_params,
)
from symcheck.measure.optim import Optimizer
from symcheck.model.neurons import signatures, tied_pairs

_FEW = settings(max_examples=25)


@_FEW
@given(
    networks(
        hidden_layers=(2, 2),
        input_widths=(3, 3),
        hidden_widths=(4, 4),
        activations=["sin"],
        losses=["bce"],
        bias=False,
    )
)
def test_networks_respect_their_bounds(net):
    assert net.widths == (3, 4, 4, net.widths[-1])
    assert 1 <= net.widths[-1] <= 2
    assert net.activations == ("sin", "sin")
    assert net.loss == "bce" and net.bias is False


@_FEW
@given(networks(losses=["cross_entropy", "mse"], output_widths=(1, 2)))
def test_networks_give_a_softmax_loss_two_outputs_or_more(net):
    assert net.loss == "mse" or net.widths[-1] >= 2


@_FEW
@given(networks(losses=["cross_entropy", "mse"], output_widths=(1, 1)))
def test_networks_leave_out_a_softmax_loss_when_only_one_output_is_allowed(net):
    assert net.loss == "mse"


def test_networks_refuse_bounds_that_leave_no_loss():
    with pytest.raises(InvalidArgument, match=r"output_widths=\(1, 1\) allows at most 1"):
        networks(losses=["cross_entropy"], output_widths=(1, 1))


@_FEW
@given(st.data())
def test_networks_default_to_concrete_activations_and_losses(data):
    net = data.draw(networks())
    assert not net.is_abstract


@_FEW
@given(st.data())
def test_inputs_fit_the_network_and_the_loss(data):
    net = data.draw(networks())
    x, y = data.draw(inputs(net, batch=(2, 3)))
    assert x.shape[1] == net.widths[0] and y.shape == (x.shape[0], net.widths[-1])
    assert 2 <= x.shape[0] <= 3
    if net.loss == "cross_entropy":
        assert np.all(y.sum(axis=1) == 1.0)
    if net.loss == "bce":
        assert np.all((0 <= y) & (y <= 1))


@_FEW
@given(st.data())
def test_exact_inputs_are_quarter_multiples_with_power_of_two_batches(data):
    net = data.draw(networks(losses=["mse"]))
    x, y = data.draw(inputs(net, exact=True))
    assert x.shape[0] in (1, 2, 4)
    assert np.all(x * 4 == np.round(x * 4)) and np.all(y * 4 == np.round(y * 4))


@_FEW
@given(st.data())
def test_symmetric_params_tie_neurons_zero_and_one_of_every_hidden_layer(data):
    net = data.draw(networks())
    params = data.draw(symmetric_params(net))
    for layer in net.hidden_layers:
        assert (0, 1) in tied_pairs(signatures(params, layer))


@_FEW
@given(st.data())
def test_exact_symmetric_params_are_eighth_multiples(data):
    net = data.draw(networks())
    params = data.draw(symmetric_params(net, kinds=["tied"], exact=True))
    for w, _ in params:
        assert np.all(w * 8 == np.round(w * 8))


@_FEW
@given(st.data())
def test_zero_kind_gives_all_zeros(data):
    net = data.draw(networks())
    params = data.draw(symmetric_params(net, kinds=["zero"]))
    assert all(np.all(w == 0) and (b is None or np.all(b == 0)) for w, b in params)


@_FEW
@given(st.data())
def test_random_params_have_no_tied_neurons(data):
    net = data.draw(networks())
    params = data.draw(random_params(net, initializers=["he_normal", "classic_uniform"]))
    for layer in net.hidden_layers:
        assert tied_pairs(signatures(params, layer)) == []


@_FEW
@given(optimizers(exact=True))
def test_exact_optimizers_use_dyadic_rates_and_no_square_roots(opt):
    assert isinstance(opt, Optimizer)
    assert opt.name in EXACT_OPTIMIZERS
    assert opt.lr * 16 == int(opt.lr * 16)
    assert opt.clip_norm is None


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: symmetric_params(Network.parse("2-2-1"), kinds=["diagonal"]), "kind='diagonal'"),
        (
            lambda: random_params(Network.parse("2-2-1"), initializers=["gauss"]),
            "initializer='gauss'",
        ),
        (lambda: optimizers(names=["lbfgs"]), "optimizer='lbfgs'"),
    ],
)
def test_invalid_strategy_arguments_are_rejected_when_the_strategy_is_built(make, fragment):
    with pytest.raises(InvalidArgument) as info:
        make()
    assert fragment in str(info.value)
