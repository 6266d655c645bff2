"""The theorems on graphs: op-by-op certificates, structural and computational proofs, witnesses."""

from __future__ import annotations

import ast
import dataclasses
import json

import numpy as np
import pytest
import sympy as sp

from symcheck.cli import main
from symcheck.errors import InvalidArgument
from symcheck.graph import ops
from symcheck.graph.equivariance import TensorAction, certify_ops, space_atoms
from symcheck.graph.evaluate import loss_and_gradients
from symcheck.graph.evidence import Evidence, computational, optimizer_equivariant, step_equivariant
from symcheck.graph.ir import GraphBuilder
from symcheck.graph.points import init_point
from symcheck.graph.prove import (
    _combine,
    prove_identical_updates,
    prove_preserved,
    prove_symmetry_breaks,
)
from symcheck.graph.symmetry import apply_permutation, infer_symmetries
from symcheck.graph.ties import resolve_graph
from symcheck.model.optimizers import SYMBOLIC_OPTIMIZERS

TINY = "transformer:d_model=4,heads=2,seq=2,layers=1,d_ff=4,batch=1"
ROPE_GQA = "transformer:d_model=8,heads=4,kv_heads=2,seq=2,layers=1,d_ff=4,batch=1,rope=1"
# head_dim 4 > 2: the small instance keeps 2 query-key dims (fixed by rope) but 3 value dims
ROPE_WIDE = "transformer:d_model=8,heads=2,seq=2,layers=1,d_ff=4,batch=1,rope=1"
ROPE_WIDE_GQA = "transformer:d_model=16,heads=4,kv_heads=2,seq=2,layers=1,d_ff=4,batch=1,rope=1"


@pytest.mark.parametrize("model", ["2-3-1", "resmlp:d_model=3,d_ff=4,blocks=1", TINY, ROPE_GQA])
def test_every_node_is_certified_equivariant(model: str) -> None:
    graph, _ = resolve_graph(model)
    checks = certify_ops(graph, infer_symmetries(graph))
    assert checks and all(c.status == "zero" for c in checks)
    assert {c.node for c in checks} >= {n.output for n in graph.nodes if n.op == "linear"}


def test_a_wrong_symmetry_rule_is_caught_op_by_op(monkeypatch: pytest.MonkeyPatch) -> None:
    def rope_claims_free_dims(ctx) -> None:  # wrong: rotary dims are not interchangeable
        ctx.join(ctx.out(0), ctx.x(0, 0))
        ctx.join(ctx.out(1), ctx.x(0, 1))
        ctx.join(ctx.x(0, 3), ctx.out(3))
        ctx.fix(ctx.x(0, 2), ctx.out(2))

    monkeypatch.setitem(
        ops.OPS, "rope", dataclasses.replace(ops.OPS["rope"], symmetry=rope_claims_free_dims)
    )
    graph, _ = resolve_graph("transformer:d_model=4,heads=2,seq=2,layers=1,d_ff=4,batch=1,rope=1")
    bad = [c for c in certify_ops(graph, infer_symmetries(graph), {}) if c.status != "zero"]
    assert bad and all(c.op == "rope" for c in bad)
    assert any(c.status == "nonzero" for c in bad)
    proof = prove_identical_updates(graph, init="zero", kind="structural")
    assert proof.verdict == "unknown"


@pytest.mark.parametrize("init", ["zero", "constant"])
@pytest.mark.parametrize("model", [ROPE_WIDE, ROPE_WIDE_GQA])
def test_rope_with_head_dim_above_two_is_proved_structurally(model: str, init: str) -> None:
    proof = prove_identical_updates(model, init=init, kind="structural")
    assert proof.verdict == "proved", [r for r in proof.residuals if r.status != "zero"]
    checks = certify_ops(*(lambda g: (g, infer_symmetries(g)))(resolve_graph(model)[0]))
    vo = [c for c in checks if c.op == "sdpa" and c.space.endswith("vo_dim")]
    assert vo and all(c.status == "zero" and "not checked" not in c.method for c in vo)


def test_a_value_dim_mixing_attention_kernel_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from symcheck.graph import evidence
    from symcheck.graph.kernels import attention

    right = attention.sdpa_forward

    def rolls_value_dims(xp, q, k, v, **attrs):  # wrong: value dims are not equivariant
        out, cache = right(xp, q, k, v, **attrs)
        return np.roll(out, 1, axis=-1), cache

    monkeypatch.setattr(attention, "sdpa_forward", rolls_value_dims)
    monkeypatch.setattr(evidence, "_OP_CACHE", {})  # the process cache holds the right kernel
    graph, _ = resolve_graph(ROPE_WIDE)
    bad = [c for c in certify_ops(graph, infer_symmetries(graph), {}) if c.status != "zero"]
    assert bad and {c.op for c in bad} == {"sdpa"}
    assert any(c.status == "nonzero" for c in bad)
    assert prove_identical_updates(graph, init="zero", kind="structural").verdict == "unknown"


def test_the_tensor_action_on_parameters_is_apply_permutation() -> None:
    graph, _ = resolve_graph(ROPE_GQA)
    symmetries = infer_symmetries(graph)
    axes, atoms = space_atoms(graph, symmetries)
    rng = np.random.default_rng(1)
    params = {p.name: rng.standard_normal(p.shape) for p in graph.parameters}
    for space in symmetries.movable:
        atom, outer = atoms[space.name]
        block = space.blocks[0] if space.group == "restricted" else tuple(range(space.size))
        local = tuple(rng.permutation(len(block)))
        perm = list(range(space.size))
        for j, k in zip(block, local):
            perm[j] = block[k]
        expected = apply_permutation(graph, params, space, perm)
        action = TensorAction(atom, outer, local)
        for name in graph.parameter_names:
            assert np.array_equal(action.apply(params[name], axes[name]), expected[name]), name


@pytest.mark.parametrize("kind", ["structural", "computational"])
def test_zero_init_of_a_transformer_is_proved_by_each_kind(kind: str) -> None:
    proof = prove_identical_updates(TINY, init="zero", kind=kind)
    assert proof.verdict == "proved", proof.residuals
    assert proof.facts["kinds"] == {kind: "proved"}


def test_structural_proof_of_adam_preservation_and_its_json() -> None:
    proof = prove_preserved(ROPE_GQA, init="constant", optimizer="adam", kind="structural")
    assert proof.verdict == "proved"
    labels = [r.label for r in proof.residuals]
    assert "adam is equivariant" in labels
    assert json.loads(json.dumps(proof.to_dict()))["verdict"] == "proved"


def test_random_init_is_refuted_with_a_certified_witness_that_floats_confirm() -> None:
    proof = prove_identical_updates("2-2-1", init="random", kind="both")
    assert proof.verdict == "refuted"
    assert proof.facts["kinds"] == {"structural": "unknown", "computational": "refuted"}
    hit = next(r for r in proof.residuals if r.status == "nonzero")
    assert hit.method.startswith("witness")
    # re-evaluate in float64 at the witness: the two neurons' weight gradients differ by the value
    graph, _ = resolve_graph("2-2-1")
    params = {k: v.astype(float) for k, v in init_point(graph, "random").arrays().items()}
    w = {k: float(sp.Rational(v)) for k, v in proof.witness.items()}
    x = np.array([[w["x_0"], w["x_1"]], [w["x_2"], w["x_3"]]])
    y = np.array([[w["y_0"]], [w["y_1"]]])
    _, grads = loss_and_gradients(graph, params, {"x": x}, y)
    row, col = ast.literal_eval(hit.label.split("fc1.weight")[1])
    diff = grads["fc1.weight"][row, col] - grads["fc1.weight"][1 - row, col]
    assert diff == pytest.approx(float(hit.expression), rel=1e-9)


def test_the_computational_checker_refutes_a_false_claim_and_proves_a_true_one() -> None:
    graph, _ = resolve_graph("2-3-1")
    space = infer_symmetries(graph).space("fc1")
    claim = [(space, ((0, 1, 2),))]
    assert (
        computational(graph, init_point(graph, "random"), claim, symbolic=False).verdict
        == "refuted"
    )
    assert computational(graph, init_point(graph, "tied"), claim).verdict == "proved"


def test_every_symbolic_optimizer_is_equivariant_and_a_per_unit_rate_is_not() -> None:
    for opt in SYMBOLIC_OPTIMIZERS.values():
        assert optimizer_equivariant(opt)[0] == "zero", opt.name
    rates = sp.symbols("eta0:3", positive=True)

    def per_unit_rate(theta, grad, state):  # a breaker: unit k has its own learning rate
        return [t - r * g for t, g, r in zip(theta, grad, rates)], state

    assert step_equivariant(per_unit_rate, 0)[0] == "unknown"


def test_symmetry_breaks_for_every_space_of_a_small_transformer() -> None:
    proof = prove_symmetry_breaks("transformer:d_model=4,heads=2,seq=2,layers=1,d_ff=2,batch=1")
    assert proof.verdict == "proved"
    assert all(r.status == "nonzero" for r in proof.residuals)


def test_two_kinds_that_disagree_give_unknown() -> None:
    def ev(verdict: str) -> Evidence:
        return Evidence("k", verdict, ())

    assert _combine([ev("proved"), ev("refuted")]) == "unknown"
    assert _combine([ev("proved"), ev("unknown")]) == "proved"
    assert _combine([ev("unknown"), ev("refuted")]) == "refuted"
    assert _combine([ev("unknown")]) == "unknown"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="kind='fast'"):
        prove_identical_updates("2-2-1", kind="fast")
    with pytest.raises(InvalidArgument, match="optimizer='lion'"):
        prove_preserved("2-2-1", optimizer="lion")
    with pytest.raises(InvalidArgument, match="at most"):
        prove_identical_updates("transformer:d_model=64,heads=2,layers=1", kind="computational")
    with pytest.raises(InvalidArgument, match="neither a Graph"):
        prove_identical_updates(3)


def test_cli_exit_codes_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove-graph", "2-2-1", "--init", "zero", "--optimizer", "adam"]) == 0
    assert "identical_updates: PROVED" in capsys.readouterr().out
    assert main(["prove-graph", "2-2-1", "--init", "random", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["proofs"][0]["verdict"] == "refuted"
    assert main(["prove-graph", "2-2-1", "--init", "random", "--kind", "structural"]) == 2
    capsys.readouterr()
    assert main(["prove-graph", "nosuch:x=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not known" in err
    assert main(["ties", "2-3-1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["spaces"][0]["classes"] == [[0, 1, 2]]


def test_sign_branching_ops_leave_the_structural_proof_unknown_but_witnesses_still_work() -> None:
    b = GraphBuilder()
    x = b.input("x", (1, 1, 4, 4))
    h = b.node("conv2d", [x], ["c.weight", "c.bias"], shapes=[(2, 1, 3, 3), (2,)], padding=1)
    h = b.node("max_pool2d", [b.node("activation", [h], name="elu")], kernel=2)
    y = b.node("linear", [b.node("flatten", [h])], ["fc.weight"], shapes=[(1, 8)])
    graph = b.build(y, loss="mse")
    unknown = {c.op for c in certify_ops(graph, infer_symmetries(graph)) if c.status != "zero"}
    assert unknown == {"activation", "max_pool2d"}
    assert prove_identical_updates(graph, init="zero", kind="structural").verdict == "unknown"
    assert prove_identical_updates(graph, init="zero", kind="computational").verdict == "proved"
    random = prove_identical_updates(graph, init="random", kind="computational")
    assert random.verdict == "refuted"


@pytest.mark.parametrize("optimizer", sorted(SYMBOLIC_OPTIMIZERS))
def test_every_optimizer_keeps_the_ties_structurally(optimizer: str) -> None:
    proof = prove_preserved(ROPE_GQA, init="zero", optimizer=optimizer, kind="structural")
    assert proof.verdict == "proved"


@pytest.mark.parametrize(
    ("a", "b"),
    [(0.5, 0.5), (-3.0, -2.9), (0.0, 1.0), (6.0, 6.5), (-1e-3, 2e-3), (9.0, 9.5), (-40.0, -9.0)],
)
def test_the_erf_enclosure_contains_erf_and_is_tight(a: float, b: float) -> None:
    import mpmath

    from symcheck.graph.enclose import erf_enclosure

    with mpmath.workprec(300):
        enclosure = erf_enclosure(mpmath.iv.mpf([a, b]))
        low, high = mpmath.erf(mpmath.mpf(a)), mpmath.erf(mpmath.mpf(b))
        assert enclosure.a <= low and high <= enclosure.b
        assert enclosure.b - enclosure.a <= high - low + mpmath.mpf(2) ** -100
        # sibling: a value just outside erf's range over [a, b] is not enclosed
        assert not enclosure.a <= high + mpmath.mpf(2) ** -90 <= enclosure.b


def test_gelu_random_init_is_refuted_with_an_erf_enclosure() -> None:
    model = "mlp:inputs=2,hidden=2,layers=1,outputs=1,activation=gelu"
    proof = prove_identical_updates(model, init="random", kind="computational")
    assert proof.verdict == "refuted"


SIGMA_MLP = "mlp:inputs=2,hidden=2,layers=1,outputs=1,activation=sigma,batch=1"


def test_random_init_with_the_abstract_sigma_is_refuted_with_the_stand_in_stated() -> None:
    proof = prove_identical_updates(SIGMA_MLP, init="random", kind="computational")
    assert proof.verdict == "refuted", proof.residuals
    hit = next(r for r in proof.residuals if r.status == "nonzero")
    assert hit.method.startswith("witness") and "sigma stand-in" in hit.method
    assert any("stand-in" in a and "for every sigma" in a for a in proof.assumptions)
    breaks = prove_symmetry_breaks(SIGMA_MLP)
    assert breaks.verdict == "proved" and any("stand-in" in a for a in breaks.assumptions)


@pytest.mark.parametrize("init", ["zero", "constant"])
def test_the_sigma_stand_in_never_refutes_a_true_tie(init: str) -> None:
    proof = prove_identical_updates(SIGMA_MLP, init=init, kind="computational")
    assert proof.verdict == "proved"
    step = prove_preserved(SIGMA_MLP, init=init, optimizer="adam", kind="computational")
    assert step.verdict == "proved"


def test_without_the_stand_in_sigma_has_no_value_at_a_witness() -> None:
    from symcheck.graph.enclose import Enclosures
    from symcheck.prove.zerotest import Uncertified

    graph, _ = resolve_graph(SIGMA_MLP)
    params = {p.name: np.full(p.shape, sp.Rational(1, 3), dtype=object) for p in graph.parameters}
    x = {"x": np.array([[sp.Rational(1, 2), sp.Rational(-1, 5)]], dtype=object)}
    y = np.array([[sp.Rational(1, 7)]], dtype=object)
    with pytest.raises(Uncertified, match="sigma has no interval form"):
        Enclosures().loss_and_gradients(graph, params, x, y)
    grads = Enclosures(stand_in=True).loss_and_gradients(graph, params, x, y)
    assert all(not sp.sympify(v).has(sp.Function("sigma")) for g in grads.values() for v in g.flat)
    with pytest.raises(InvalidArgument, match="stand_in='yes' must be True or False"):
        Enclosures(stand_in="yes")  # type: ignore[arg-type]
