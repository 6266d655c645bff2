"""``symcheck derive MODEL`` on graphs: formulas for every op, reverse mode, the symmetry step."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings

from symcheck.cli import main
from symcheck.errors import InvalidArgument
from symcheck.graph import derive as derive_module
from symcheck.graph import ops
from symcheck.graph.derive import derive_graph
from symcheck.graph.evaluate import loss_and_gradients
from symcheck.graph.formulas import FORMULAS, adjoint_slots, render_node, tex_name
from symcheck.graph.ir import GraphBuilder, Node
from symcheck.graph.strategies import graphs
from symcheck.graph.symmetry import infer_symmetries, unit_entries
from symcheck.graph.ties import resolve_graph
from symcheck.limits import Limits
from symcheck.prove.render import render

TINY = "transformer:d_model=4,heads=2,seq=2,layers=1,d_ff=4,batch=1,vocab=3"
MODELS = ["mlp", "cnn:channels=2,size=4,classes=2", "resmlp", TINY, "moe"]


def _step(proof, prefix: str):
    return next(s for s in proof.steps if s.title.startswith(prefix))


def test_every_op_has_formulas_and_an_adjoint_for_every_argument() -> None:
    assert set(FORMULAS) == set(ops.OPS)
    for name, op in ops.OPS.items():
        slots = set(FORMULAS[name].adjoints)
        high = op.arity[1]
        inputs = (
            {"x*"}
            if high is None
            else {f"x{i}" for i in range(high)} - {f"x{i}" for i in op.int_inputs}
        )
        assert inputs | set(op.params) == slots, name


def test_a_node_whose_op_has_no_formula_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    graph, _ = resolve_graph("mlp")
    monkeypatch.delitem(FORMULAS, "linear")
    with pytest.raises(InvalidArgument, match="op 'linear' has no derivation formula"):
        render_node(graph.nodes[0])


def test_names_are_escaped_and_an_absent_bias_drops_out() -> None:
    b = GraphBuilder()
    x = b.input("x_in", (2, 3))
    y = b.node("linear", [x], ["w#1"], shapes=[(2, 3)], output="out")
    graph = b.build(y, loss="mse")
    rendered = render_node(graph.nodes[0])
    assert rendered.forward == r"\mathtt{out} = \mathtt{x\_in}\,\mathtt{w\#1}^{\top}"
    assert [name for name, _ in rendered.adjoints] == ["x_in", "w#1"]
    assert tex_name("a_b{c}") == r"\mathtt{a\_b\{c\}}"


def test_einsum_adjoints_swap_the_output_into_each_operand() -> None:
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    w = b.node("parameter", [], ["w"], shapes=[(4, 3)], output="wv")
    y = b.node("einsum", [x, w], output="y", equation="bi,oi->bo")
    graph = b.build(y, loss="mse")
    rendered = render_node(graph.nodes[1])
    assert dict(rendered.adjoints)["wv"].startswith(r"\operatorname{einsum}(\text{bo,bi->oi}")
    assert [n for _, n in adjoint_slots(graph.nodes[1])] == ["x", "wv"]


@pytest.mark.parametrize("model", MODELS)
def test_every_node_and_every_parameter_is_derived(model: str) -> None:
    graph, _ = resolve_graph(model)
    proof = derive_graph(model, init="zero")
    titles = [s.title for s in proof.steps]
    for k, node in enumerate(graph.nodes, 1):
        assert any(t.startswith(f"Node {k}: {node.output} = {node.op}(") for t in titles)
    gradients = _step(proof, "Parameter gradients").math
    assert len(gradients) == len(graph.parameters)
    for line, p in zip(gradients, graph.parameter_names):
        assert line.startswith(rf"\frac{{\partial L}}{{\partial {tex_name(p)}}} = ")
        assert not line.endswith("= 0")  # every parameter has a reader
    assert proof.facts["symmetry"] == "proved"
    assert proof.facts["nodes"] == len(graph.nodes)


def test_activation_and_loss_derivatives_come_from_sympy() -> None:
    proof = derive_graph("mlp:layers=1,outputs=2", init="zero")
    z = sp.Symbol("z")
    node = _step(proof, "Node 2")
    assert rf"\varphi'(z) = {sp.latex(sp.diff(sp.tanh(z), z))}" in node.math
    loss = _step(proof, "Loss mse").math
    assert r"\frac{\partial \ell}{\partial z_0} = - y_{0} + z_{0}" in loss
    assert loss[0].startswith(r"L = \tfrac{1}{2}\sum_{n}")  # the batch of 2, mean reduction


def test_a_branching_activation_is_written_by_cases() -> None:
    proof = derive_graph("mlp:activation=elu,layers=1", init="zero")
    slope = [m for m in _step(proof, "Node 2").math if m.startswith(r"\varphi'")]
    assert slope == [
        r"\varphi'(z) = \begin{cases} 1 & z > 0 \\ 1 & z = 0 \\ e^{z} & z < 0 \end{cases}"
    ]


def test_reverse_mode_sums_over_every_reader() -> None:
    proof = derive_graph(TINY, init="zero")
    values = _step(proof, "Reverse mode").math
    ln1 = next(m for m in values if m.startswith(r"\bar{\mathtt{b0.ln1}} = "))
    assert ln1.count(r"\bar{\mathtt{b0.") == 4  # q, k and v read it: three terms
    residual = next(m for m in values if m.startswith(r"\bar{\mathtt{s0}} = "))
    assert r"\bar{\mathtt{b0.res1}}" in residual and "r\\," in residual  # add and layer norm


def _numeric_gradients(model: str, init: str) -> tuple:
    graph, _ = resolve_graph(model)
    point = derive_module.init_point(graph, init, value="3/10" if init == "constant" else None)
    params = {k: np.asarray(v, dtype=float) for k, v in point.arrays().items()}
    rng = np.random.default_rng(5)
    inputs = {i.name: rng.normal(size=i.shape) for i in graph.inputs}
    target = rng.normal(size=graph.shape(graph.output))
    _, grads = loss_and_gradients(graph, params, inputs, target)
    return graph, grads


@pytest.mark.parametrize(
    ("model", "init"), [("mlp", "constant"), ("resmlp", "constant"), ("moe", "constant")]
)
def test_the_classes_it_names_do_receive_identical_gradients(model: str, init: str) -> None:
    proof = derive_graph(model, init=init, value="3/10")
    assert proof.facts["symmetry"] == "proved"
    graph, grads = _numeric_gradients(model, init)
    spaces = {s.name: s for s in infer_symmetries(graph).movable}
    checked = 0
    for entry in proof.facts["ties"]["spaces"]:
        space = spaces[entry["space"]]
        for units in entry["classes"]:
            for ref in space.axes:
                if any(r.parameter == ref.parameter and r is not ref for r in space.axes):
                    continue  # two axes in one space: equal up to the permutation only
                first = unit_entries(grads[ref.parameter], space, ref, units[0])
                for u in units[1:]:
                    np.testing.assert_allclose(
                        unit_entries(grads[ref.parameter], space, ref, u), first, atol=1e-12
                    )
                    checked += 1
    assert checked


def test_random_init_claims_nothing_and_its_gradients_differ() -> None:
    proof = derive_graph("mlp", init="random", seed=1)
    assert proof.facts["symmetry"] == "none"
    assert "no identical gradients" in _step(proof, "Symmetry argument").text
    _, grads = _numeric_gradients("mlp", "random")
    assert not np.allclose(grads["fc1.weight"][0], grads["fc1.weight"][1])


def test_a_wrong_symmetry_rule_is_not_claimed(monkeypatch: pytest.MonkeyPatch) -> None:
    def rope_claims_free_dims(ctx) -> None:  # wrong: rotary dims are not interchangeable
        ctx.join(ctx.out(0), ctx.x(0, 0))
        ctx.join(ctx.out(1), ctx.x(0, 1))
        ctx.join(ctx.x(0, 3), ctx.out(3))
        ctx.fix(ctx.x(0, 2), ctx.out(2))

    monkeypatch.setitem(
        ops.OPS, "rope", dataclasses.replace(ops.OPS["rope"], symmetry=rope_claims_free_dims)
    )
    proof = derive_graph(TINY + ",rope=1", init="zero")
    assert proof.facts["symmetry"] == "unknown"
    text = _step(proof, "Symmetry argument").text
    assert text.startswith("Not certified: op rope") and "No identical-gradient claim" in text


def test_the_node_limit_is_checked_before_the_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derive_module, "LIMITS", Limits(derive_nodes=4))
    with pytest.raises(InvalidArgument, match="has 5 nodes, beyond the derive limit of 4"):
        derive_graph("mlp")
    assert derive_graph("mlp:layers=1").facts["nodes"] == 3


@pytest.mark.parametrize("fmt", ["text", "md", "latex", "json"])
def test_every_format_renders(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["derive", "cnn:channels=2,size=4,classes=2", "--init", "zero", "--format", fmt]) == 0
    )
    out = capsys.readouterr().out
    assert out == render(derive_graph("cnn:channels=2,size=4,classes=2", init="zero"), fmt)
    if fmt == "json":
        (proof,) = json.loads(out)["proofs"]
        assert proof["theorem"] == "derivation" and proof["facts"]["symmetry"] == "proved"


def test_graph_file_and_seed(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    graph, _ = resolve_graph("mlp:layers=1")
    path = tmp_path / "net.json"
    path.write_text(json.dumps(graph.to_json()))
    assert main(["derive", str(path), "--init", "tied"]) == 0
    assert "symmetry argument: proved" in capsys.readouterr().out
    assert main(["derive", "mlp", "--seed", "3"]) == 0
    assert "(seed 3)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["derive", "mlp", "--activation", "relu"], "--activation describe a chain spec"),
        (["derive", "moe", "--no-bias"], "--no-bias describe a chain spec"),
        (["derive", "2-2-1", "--seed", "1"], "--seed=1 applies to zoo models"),
        (["derive", "mlp", "--init", "orthogonal"], "init='orthogonal' is not supported"),
        (["derive", "mlp", "--init", "zero", "--value", "2"], "only init='constant' takes"),
        (["derive", "nosuch:a=1"], "nosuch"),
    ],
)
def test_bad_input_is_one_line(argv, fragment, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def _balanced(tex: str) -> bool:
    depth = 0
    for c in tex.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0 and tex.count(r"\left") == tex.count(r"\right")


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(graph=graphs())
def test_every_drawn_graph_derives_to_well_formed_math(graph) -> None:
    proof = derive_graph(graph, init="zero")
    assert len(_step(proof, "Parameter gradients").math) == len(graph.parameters)
    for step in proof.steps:
        for line in step.math:
            assert _balanced(line), line
            assert re.search(r"<@?[a-z_*0-9]+>", line) is None, line  # every placeholder filled
    assert proof.facts["symmetry"] in ("proved", "unknown", "none")


def test_the_math_check_catches_a_broken_template(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = dataclasses.replace(FORMULAS["add"], forward=r"<y> = \frac{<x0> + <x1>")
    monkeypatch.setitem(FORMULAS, "add", broken)
    proof = derive_graph("resmlp", init="zero")
    assert not all(_balanced(m) for s in proof.steps for m in s.math)


_REQUIRED = {
    "name": "tanh",
    "heads": 2,
    "kernel": 2,
    "axis": 1,
    "dims": (1, 0),
    "shape": (2, 3),
    "start": 0,
    "stop": 1,
    "equation": "ab,bc->ac",
    "factor": "1/2",
}


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_every_op_renders_to_well_formed_math(name: str) -> None:
    op = ops.OPS[name]
    attrs = {
        k: (_REQUIRED[k] if a.default is ops.REQUIRED else a.default) for k, a in op.attrs.items()
    }
    count = op.arity[1] if op.arity[1] is not None else 2  # the equation has two operands
    node = Node(
        name,
        tuple(f"in_{i}" for i in range(count)),
        "out",
        tuple(f"p_{r}" for r in op.params),
        attrs,
    )
    rendered = render_node(node)
    lines = [rendered.forward, *rendered.local, *(t for _, t in rendered.adjoints)]
    for line in lines:
        assert _balanced(line), line
        assert re.search(r"<@?[a-z_*0-9]+>", line) is None, line
    assert len(rendered.adjoints) == len(adjoint_slots(node))
