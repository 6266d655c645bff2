"""Network lowered to the graph core: names both ways, numeric agreement, wrong lowerings caught."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from symcheck import Network
from symcheck.errors import InvalidArgument
from symcheck.graph.evaluate import evaluate, loss_and_gradients
from symcheck.graph.lower import Lowering, lower, network_graph
from symcheck.measure import numeric
from symcheck.model.activations import ACTIVATIONS

TOLERANCE = 1e-12

NETWORKS = [
    Network.parse("3-4-4-2", activation="tanh"),
    Network.parse("2-3-2", activation="relu", loss="cross_entropy", reduction="sum"),
    Network.parse("2-3-1", activation="sigmoid", loss="bce", bias=False),
    Network.parse("2-3-3-2", activation=("softplus", "sin")),
    *(
        Network.parse("2-3-2", activation=name)
        for name in sorted(ACTIVATIONS)
        if not ACTIVATIONS[name].abstract
    ),
]


def _data(network: Network, batch: int, seed: int = 0) -> tuple[list, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = [
        (rng.standard_normal((o, i)), rng.standard_normal(o) if network.bias else None)
        for o, i in network.shapes
    ]
    x = rng.standard_normal((batch, network.widths[0]))
    y = rng.uniform(0.1, 1.0, size=(batch, network.widths[-1]))
    if network.loss == "cross_entropy":
        y = y / y.sum(axis=1, keepdims=True)
    return params, x, y


def _disagreement(lowering: Lowering, params: list, x: np.ndarray, y: np.ndarray) -> float:
    """Largest relative gap of output, loss and gradients between the chain and the graph engine.

    A chain parameter whose gradient the graph does not give counts as an infinite gap.
    """
    net = lowering.network
    named = lowering.to_graph_params(params)
    gaps = []
    out = evaluate(lowering.graph, named, lowering.inputs(x))
    gaps.append((out, numeric.forward_trace(net, params, x).logits))
    value, grads = loss_and_gradients(lowering.graph, named, lowering.inputs(x), y)
    gaps.append((np.asarray(value), numeric.loss(net, params, x, y)))
    chain = numeric.gradients(net, params, x, y)
    for layer, (gw, gb) in enumerate(chain, start=1):
        for name, reference in ((f"W{layer}", gw), (f"b{layer}", gb)):
            if reference is None:
                continue
            if lowering.names.get(name) not in grads:
                return float("inf")
            gaps.append((grads[lowering.names[name]], reference))
    return max(float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b))))) for a, b in gaps)


@pytest.mark.parametrize("network", NETWORKS, ids=str)
def test_the_lowered_graph_computes_what_the_chain_engine_computes(network):
    params, x, y = _data(network, batch=3)
    lowering = lower(network, batch=3)
    assert _disagreement(lowering, params, x, y) <= TOLERANCE


def test_names_map_both_ways_and_parameters_round_trip():
    net = Network.parse("3-4-4-2")
    lowering = lower(net)
    assert dict(lowering.names) == {
        "W1": "fc1.weight",
        "b1": "fc1.bias",
        "W2": "fc2.weight",
        "b2": "fc2.bias",
        "W3": "fc3.weight",
        "b3": "fc3.bias",
    }
    assert set(lowering.chain_names) == set(lowering.graph.parameter_names)
    for chain, graph in lowering.names.items():
        assert lowering.chain_name(lowering.graph_name(chain)) == chain
        assert lowering.graph.shape(graph) == (
            net.shapes[int(chain[1:]) - 1] if chain[0] == "W" else (net.widths[int(chain[1:])],)
        )
    params, _, _ = _data(net, batch=1)
    back = lowering.from_graph_params(lowering.to_graph_params(params))
    for (w, b), (w2, b2) in zip(params, back, strict=True):
        assert w2 is w and b2 is b  # shared, not copied


def test_a_network_without_bias_has_no_bias_parameters():
    lowering = lower(Network.parse("2-3-1", bias=False))
    assert lowering.graph.parameter_names == ("fc1.weight", "fc2.weight")
    assert (
        lowering.from_graph_params(
            {"fc1.weight": np.zeros((3, 2)), "fc2.weight": np.zeros((1, 3))}
        )[0][1]
        is None
    )


def test_network_to_graph_is_the_lowering():
    net = Network.parse("3-4-2", activation="relu", loss="bce", reduction="sum")
    graph = net.to_graph(batch=5)
    assert graph == network_graph(net, batch=5) == lower(net, batch=5).graph
    assert graph.shape("x") == (5, 3)
    assert (graph.loss.name, graph.loss.reduction) == ("bce", "sum")


# ------------------------------------------------------------------ deliberately wrong lowerings


def _transposed(lowering: Lowering, layer: int) -> Lowering:
    """A wrong lowering that hands the graph W^T for one (square) layer."""
    right = lowering

    class Transposed(Lowering):
        def to_graph_params(self, params):
            named = right.to_graph_params(params)
            key = right.graph_name(f"W{layer}")
            named[key] = np.asarray(named[key]).T
            return named

    return Transposed(**{f.name: getattr(right, f.name) for f in dataclasses.fields(right)})


def test_the_agreement_check_catches_a_transposed_weight():
    net = Network.parse("3-4-4-2", activation="tanh")
    params, x, y = _data(net, batch=3)
    assert _disagreement(_transposed(lower(net, batch=3), layer=2), params, x, y) > 1e-3


def test_the_agreement_check_catches_a_dropped_bias():
    net = Network.parse("3-4-4-2", activation="tanh")
    params, x, y = _data(net, batch=3)
    right = lower(net, batch=3)
    no_bias = lower(dataclasses.replace(net, bias=False), batch=3)

    class DroppedBias(Lowering):
        def to_graph_params(self, params):
            return no_bias.to_graph_params([(w, None) for w, _ in params])

    wrong = DroppedBias(net, no_bias.graph, right.names, right.chain_names)
    assert _disagreement(wrong, params, x, y) > 1e-3
    # with every bias 0 the outputs of the wrong graph agree, but its bias gradients are missing
    zeroed = [(w, np.zeros_like(b)) for w, b in params]
    assert _disagreement(wrong, zeroed, x, y) == float("inf")
    assert _disagreement(right, zeroed, x, y) <= TOLERANCE


# ------------------------------------------------------------------ refusals


def test_the_abstract_loss_is_refused_unless_lowered_without_a_loss():
    net = Network.parse("2-3-1", activation="sigma", loss="ell")
    with pytest.raises(InvalidArgument, match=r"abstract loss 'ell'.*loss=False"):
        lower(net)
    assert lower(net, loss=False).graph.loss is None


def test_the_abstract_activation_is_refused_on_numbers_with_one_clear_message():
    net = Network.parse("2-3-1", activation="sigma")
    params, x, y = _data(net, batch=2)
    lowering = lower(net, batch=2)
    with pytest.raises(InvalidArgument, match="'sigma' is abstract and has no numeric form"):
        loss_and_gradients(lowering.graph, lowering.to_graph_params(params), {"x": x}, y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"batch": 0}, "batch=0"), ({"batch": True}, "batch=True"), ({"loss": "no"}, "loss='no'")],
)
def test_bad_lowering_options_are_refused(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        lower(Network.parse("2-2-1"), **kwargs)


def test_bad_parameter_layouts_are_refused():
    lowering = lower(Network.parse("2-2-1"))
    with pytest.raises(InvalidArgument, match="b1 is None"):
        lowering.to_graph_params([(np.zeros((2, 2)), None), (np.zeros((1, 2)), np.zeros(1))])
    with pytest.raises(InvalidArgument, match=r"lack \['fc2.bias'\]"):
        lowering.from_graph_params({"fc1.weight": 0, "fc1.bias": 0, "fc2.weight": 0, "extra": 0})
    with pytest.raises(InvalidArgument, match="'W9' is not a parameter"):
        lowering.graph_name("W9")
    with pytest.raises(InvalidArgument, match=r"'fc9\.weight' is not a parameter"):
        lowering.chain_name("fc9.weight")
