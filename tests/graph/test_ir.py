"""The graph IR: validation messages, shape inference, topological order, JSON round trip."""

from __future__ import annotations

import json

import pytest

from symcheck.errors import InvalidArgument
from symcheck.graph.ir import Graph, GraphBuilder, Input, Loss, Node, Parameter
from symcheck.graph.zoo import ZOO


def _graph(nodes, *, inputs=(("x", (2, 3)),), params=(("w", (4, 3)),), output="y", loss=None):
    return Graph(
        tuple(Input(n, s) for n, s in inputs),
        tuple(Parameter(n, s) for n, s in params),
        tuple(nodes),
        output,
        loss,
    )


BAD = {
    "unknown op": (
        lambda: _graph([Node("foo", ("x",), "y", ("w",))]),
        "op 'foo' is not in the op table; known: [",
    ),
    "shape mismatch": (
        lambda: _graph([Node("linear", ("x",), "y", ("w",))], params=(("w", (4, 2)),)),
        "node 'y' (op 'linear'): x's last axis (3) must equal weight axis 1 (2); input shapes",
    ),
    "cycle": (
        lambda: _graph(
            [
                Node("linear", ("z",), "y", ("w",)),
                Node("activation", ("y",), "z", (), {"name": "tanh"}),
            ]
        ),
        "cycle",
    ),
    "undefined input": (lambda: _graph([Node("linear", ("q",), "y", ("w",))]), "reads 'q'"),
    "undeclared parameter": (
        lambda: _graph([Node("linear", ("x",), "y", ("v",))]),
        "parameter 'v', which is not declared",
    ),
    "unused parameter": (
        lambda: _graph([Node("linear", ("x",), "y", ("w",))], params=(("w", (4, 3)), ("u", (1,)))),
        "parameter 'u' is never used",
    ),
    "unused input": (
        lambda: _graph([Node("linear", ("x",), "y", ("w",))], inputs=(("x", (2, 3)), ("z", (2,)))),
        "input 'z' is never used",
    ),
    "dead node": (
        lambda: _graph(
            [
                Node("linear", ("x",), "y", ("w",)),
                Node("activation", ("x",), "d", (), {"name": "tanh"}),
            ]
        ),
        "node output 'd' is never used",
    ),
    "name defined twice": (
        lambda: _graph([Node("linear", ("x",), "x", ("w",))], output="x"),
        "name 'x' is defined more than once",
    ),
    "too many inputs": (
        lambda: _graph([Node("linear", ("x", "x"), "y", ("w",))]),
        "takes 1 inputs, got 2",
    ),
    "missing weight": (
        lambda: _graph([Node("linear", ("x",), "y")], params=()),
        "the first 1 required",
    ),
    "unknown attribute": (
        lambda: _graph([Node("linear", ("x",), "y", ("w",), {"stride": 2})]),
        "op 'linear' has no attribute 'stride'; its attributes are []",
    ),
    "bad attribute type": (
        lambda: _graph([Node("softmax", ("x",), "y", (), {"axis": "last"})], params=()),
        "attribute axis='last' is not valid; give an int",
    ),
    "zero denominator": (
        lambda: _graph([Node("layer_norm", ("x",), "y", (), {"eps": "1/0"})], params=()),
        "attribute eps='1/0' is not valid; give a rational with a non-zero denominator",
    ),
    "bad activation": (
        lambda: _graph([Node("activation", ("x",), "y", (), {"name": "tanhh"})], params=()),
        "activation='tanhh' is not supported",
    ),
    "int ids into a float op": (
        lambda: Graph(
            (Input("x", (2, 3), "int"),),
            (Parameter("w", (4, 3)),),
            (Node("linear", ("x",), "y", ("w",)),),
            "y",
        ),
        "input 0 ('x') must be float, got int",
    ),
    "unknown output": (
        lambda: _graph([Node("linear", ("x",), "y", ("w",))], output="q"),
        "output 'q'",
    ),
    "unknown loss": (
        lambda: _graph([Node("linear", ("x",), "y", ("w",))], loss=Loss("hinge")),
        "loss 'hinge' is not a loss op",
    ),
    "bad shape": (lambda: _graph([], inputs=(("x", (2, 0)),)), "give a list of positive ints"),
    "bad dtype": (lambda: Input("x", (2,), "half"), "dtype='half' is not supported"),
    "no nodes": (lambda: _graph([], params=()), "the graph has no nodes"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_an_invalid_graph_is_refused_with_a_clear_message(case):
    build, message = BAD[case]
    with pytest.raises(InvalidArgument) as info:
        build()
    assert message in str(info.value)


def test_nodes_are_stored_in_topological_order_with_explicit_attributes():
    g = _graph(
        [Node("activation", ("h",), "y", (), {"name": "tanh"}), Node("linear", ("x",), "h", ("w",))]
    )
    assert [n.output for n in g.nodes] == ["h", "y"]
    b = GraphBuilder()
    s = b.node("softmax", [b.input("x", (2, 3))], output="s")
    assert b.build(s).nodes[0].attr_dict == {"axis": -1}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_json_round_trips_every_zoo_model(name):
    graph = ZOO[name].build(ZOO[name].defaults)
    text = json.dumps(graph.to_json())
    again = Graph.from_json(json.loads(text))
    assert again == graph
    assert again.to_json() == graph.to_json()


def test_shapes_are_inferred_per_op():
    g = ZOO["transformer"].build({**ZOO["transformer"].defaults, "kv_heads": 1})
    assert g.shape("b0.q.heads") == (2, 2, 3, 4)
    assert g.shape("b0.k.heads") == (2, 1, 3, 4)
    assert g.shape("b0.attn.merged") == (2, 3, 8)
    assert g.shape("logits") == (2, 3, 5)
