"""Space names and kinds come from the best evidence, not from whichever node came first."""

from __future__ import annotations

from symcheck.graph.ir import GraphBuilder
from symcheck.graph.symmetry import infer_symmetries
from symcheck.graph.zoo import resolve_model


def _space_with(symmetries, parameter, axis):
    (space,) = [
        s
        for s in symmetries.spaces
        if any((r.parameter, r.axis) == (parameter, axis) for r in s.axes)
    ]
    return space


def _einsum_moe(*, bias_add: bool):
    """A soft MoE as torch traces it: router linear, batched expert weights through einsum."""
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    gates = b.node("softmax", [b.node("linear", [x], ["router.weight"], shapes=[(4, 3)])])
    up = b.node("parameter", [], ["w_up"], shapes=[(4, 5, 3)])
    h = b.node("einsum", [x, up], equation="bd,efd->bef")
    if bias_add:
        bias = b.node("parameter", [], ["b_up"], shapes=[(4, 5)])
        bias = b.node("expand", [b.node("reshape", [bias], shape=[1, 4, 5])], shape=[2, 4, 5])
        h = b.node("add", [h, bias])
    h = b.node("activation", [h], name="tanh")
    down = b.node("parameter", [], ["w_down"], shapes=[(4, 3, 5)])
    y = b.node("einsum", [h, down], equation="bef,edf->bed")
    out = b.node("einsum", [gates, y], equation="be,bed->bd")
    return b.build(b.node("linear", [out], ["head.weight"], shapes=[(2, 3)]), loss="mse")


def test_batched_expert_weights_name_the_experts_over_the_router_linear():
    found = infer_symmetries(_einsum_moe(bias_add=False))
    experts = _space_with(found, "router.weight", 0)
    assert (experts.name, experts.kind, experts.size) == ("w_down.experts", "expert", 4)


def test_a_bias_add_does_not_make_expert_hidden_neurons_a_stream():
    found = infer_symmetries(_einsum_moe(bias_add=True))
    hidden = _space_with(found, "w_up", 1)
    assert (hidden.name, hidden.kind) == ("w_up", "neuron")
    assert _space_with(found, "b_up", 1) is hidden
    assert _space_with(found, "router.weight", 0).kind == "expert"


def test_a_residual_add_still_names_the_stream():
    found = infer_symmetries(resolve_model("resmlp:blocks=1"))
    stream = [s for s in found.spaces if s.kind == "stream"]
    assert [s.name for s in stream] == ["stream"]


def test_a_bias_added_to_a_linear_layer_is_not_a_residual_stream():
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    h = b.node("linear", [x], ["fc.weight"], shapes=[(4, 3)])
    bias = b.node("expand", [b.node("parameter", [], ["c"], shapes=[(1, 4)])], shape=[2, 4])
    h = b.node("activation", [b.node("add", [h, bias])], name="tanh")
    graph = b.build(b.node("linear", [h], ["out.weight"], shapes=[(2, 4)]), loss="mse")
    hidden = _space_with(infer_symmetries(graph), "fc.weight", 0)
    assert (hidden.name, hidden.kind) == ("fc", "neuron")


def test_caller_labels_replace_the_parameter_stem():
    graph = resolve_model("2-3-1")
    plain = infer_symmetries(graph)
    stem = _space_with(plain, graph.parameter_names[0], 0).name
    labelled = infer_symmetries(graph, labels={graph.parameter_names[0]: "first:Dense"})
    assert _space_with(labelled, graph.parameter_names[0], 0).name == "first:Dense"
    assert stem != "first:Dense"
