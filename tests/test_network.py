"""The network spec: parsing, normalisation and one table of invalid input."""

from __future__ import annotations

import pytest

from symcheck import InvalidArgument, Network, SymcheckError


def test_parse_gives_widths_activations_and_defaults() -> None:
    net = Network.parse("3-4-4-2", activation="relu")
    assert net.widths == (3, 4, 4, 2)
    assert net.activations == ("relu", "relu")
    assert (net.loss, net.bias, net.reduction) == ("mse", True, "mean")
    assert net.depth == 3
    assert list(net.hidden_layers) == [1, 2]
    assert net.shapes == [(4, 3), (4, 4), (2, 4)]
    assert net.parameter_count == 12 + 4 + 16 + 4 + 8 + 2


def test_parse_accepts_one_activation_per_hidden_layer() -> None:
    net = Network.parse("2-3-3-1", activation="tanh, leaky_relu(1/5)")
    assert net.activations == ("tanh", "leaky_relu(1/5)")
    assert net.activation(2).name == "leaky_relu(1/5)"


def test_network_is_frozen_and_hashable() -> None:
    net = Network.parse("2-2-1")
    with pytest.raises(AttributeError):
        net.widths = (1, 1, 1)  # type: ignore[misc]
    assert hash(net) == hash(Network((2, 2, 1), "tanh"))


def test_abstract_networks_are_flagged() -> None:
    assert Network.parse("2-2-1", activation="sigma").is_abstract
    assert Network.parse("2-2-1", loss="ell").is_abstract
    assert not Network.parse("2-2-1").is_abstract


def test_string_form_names_the_spec() -> None:
    assert str(Network.parse("2-2-1", bias=False)) == "2-2-1 (tanh, mse, mean, no bias)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spec": "2-0-1"}, "contains 0"),
        ({"spec": "2--1"}, "'2--1' is not a width string"),
        ({"spec": "x"}, "'x' is not a width string"),
        ({"spec": ""}, "is not a width string"),
        ({"spec": "2-1"}, "no hidden layer"),
        ({"spec": "2-2000000-1"}, "exceeds the limit"),
        ({"spec": "2-2-1", "activation": "tanhh"}, "activation='tanhh' is not supported"),
        ({"spec": "2-2-1", "activation": "leaky_relu(3/2)"}, "0 <= slope < 1"),
        ({"spec": "2-2-1", "activation": "leaky_relu(1/0)"}, "zero denominator"),
        ({"spec": "2-2-2-1", "activation": "tanh,relu,relu"}, "3 activations for 2 hidden"),
        ({"spec": "2-2-1", "loss": "hinge"}, "loss='hinge' is not supported"),
        ({"spec": "2-2-1", "reduction": "max"}, "reduction='max' is not supported"),
        ({"spec": "2-2-1", "bias": "yes"}, "bias='yes' must be True or False"),
    ],
)
def test_invalid_specs_raise_invalid_argument_naming_the_value(kwargs, message) -> None:
    spec = kwargs.pop("spec")
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        Network.parse(spec, **kwargs)


def test_invalid_argument_is_both_a_symcheck_error_and_a_value_error() -> None:
    with pytest.raises(SymcheckError):
        Network.parse("2-x-1")
    with pytest.raises(ValueError):
        Network.parse("2-x-1")


def test_unknown_activation_message_lists_the_choices() -> None:
    with pytest.raises(InvalidArgument) as info:
        Network.parse("2-2-1", activation="swish")
    for name in ("identity", "relu", "sigma", "tanh"):
        assert repr(name) in str(info.value)


def test_widths_given_as_a_string_point_to_parse() -> None:
    with pytest.raises(InvalidArgument, match=r"Network\.parse"):
        Network("2-2-1")  # type: ignore[arg-type]
