"""Hidden neurons of each expert permute independently (a space with an ``outer_axis``)."""

from __future__ import annotations

import numpy as np

from symcheck.graph import symmetry
from symcheck.graph.confirm import RELATIVE_TOLERANCE, invariance_gap
from symcheck.graph.ir import GraphBuilder
from symcheck.graph.sample import random_inputs, random_parameters
from symcheck.graph.symmetry import apply_permutation, infer_symmetries, unit_entries
from symcheck.graph.zoo import resolve_model

MOE = "moe:d_model=3,experts=2,d_ff=4"


def _point(graph, seed=0):
    rng = np.random.default_rng(seed)
    return random_parameters(graph, rng), random_inputs(graph, rng)


def test_expert_hidden_neurons_are_independent_per_expert():
    found = infer_symmetries(resolve_model(MOE))
    hidden = found.space("up")
    assert (hidden.group, hidden.size, hidden.independent_per) == ("restricted", 8, "up.experts")
    assert hidden.blocks == ((0, 1, 2, 3), (4, 5, 6, 7))
    refs = {(r.parameter, r.axis): r.to_json() for r in hidden.axes}
    assert refs[("up.weight", 1)]["outer_axis"] == 0
    assert refs[("down.weight", 2)]["outer_axis"] == 0
    assert "outer_axis" not in found.space("down").axes[0].to_json()  # old format unchanged


def test_a_different_permutation_per_expert_leaves_the_output_unchanged():
    graph = resolve_model(MOE)
    params, inputs = _point(graph)
    hidden = infer_symmetries(graph).space("up")
    perm = [1, 2, 3, 0, 4, 6, 5, 7]  # expert 0 rotates, expert 1 swaps two neurons
    moved = apply_permutation(graph, params, hidden, perm)
    assert np.array_equal(moved["up.weight"][0], params["up.weight"][0][[1, 2, 3, 0]])
    assert np.array_equal(moved["up.weight"][1], params["up.weight"][1][[0, 2, 1, 3]])
    assert np.array_equal(moved["down.weight"][1], params["down.weight"][1][:, [0, 2, 1, 3]])
    assert np.array_equal(moved["down.bias"], params["down.bias"])
    assert invariance_gap(graph, params, inputs, hidden, perm) <= RELATIVE_TOLERANCE


def test_unit_entries_index_the_outer_axis():
    graph = resolve_model(MOE)
    params, _ = _point(graph)
    hidden = infer_symmetries(graph).space("up")
    ref = next(r for r in hidden.axes if r.parameter == "down.weight")
    assert np.array_equal(
        unit_entries(params["down.weight"], hidden, ref, 6), params["down.weight"][1, :, 2]
    )


def _experts_summed_before_the_head():
    """Expert FFNs, plus a side path that sums the hidden neurons over the experts:
    every parameter carrying the neurons carries the experts, a tensor does not."""
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    h = b.node("expert_linear", [x], ["up.weight"], shapes=[(2, 3, 3)], shared_input=True)
    h = b.node("activation", [h], name="tanh")
    down = b.node("parameter", [], ["down"], shapes=[(2, 4, 3)])
    y = b.node("einsum", [h, down], equation="beh,eoh->bo")
    side = b.node("activation", [b.node("einsum", [h], equation="beh->bh")], name="tanh")
    side = b.node("reshape", [b.node("einsum", [side], equation="bh->b")], shape=[2, 1])
    y = b.node("add", [y, b.node("expand", [side], shape=[2, 4])])
    return b.build(b.node("linear", [y], ["head.weight"], shapes=[(2, 4)]), loss="mse")


def test_no_independence_when_a_tensor_carries_the_neurons_without_the_experts(monkeypatch):
    graph = _experts_summed_before_the_head()
    params, inputs = _point(graph)
    honest = infer_symmetries(graph).space("up")
    assert honest.group == "symmetric"  # one permutation shared by both experts
    assert invariance_gap(graph, params, inputs, honest, [1, 2, 0]) <= RELATIVE_TOLERANCE
    # sibling: without the soundness conditions the false per-expert space is caught
    monkeypatch.setattr(symmetry, "_outer_is_separable", lambda uf, a, o, found: True)
    broken = infer_symmetries(graph).space("up")
    assert broken.group == "restricted"
    assert invariance_gap(graph, params, inputs, broken, [1, 0, 2, 3, 4, 5]) > 1e-6


GQA = "transformer:layers=1,heads=4,kv_heads=2,d_model=8,seq=3"


def test_gqa_head_dims_are_independent_per_kv_group():
    found = infer_symmetries(resolve_model(GQA))
    for name in ("b0.attn.qk_dim", "b0.attn.vo_dim"):
        space = found.space(name)
        assert (space.group, space.independent_per) == ("restricted", "b0.attn.kv_head")
        assert space.blocks == ((0, 1), (2, 3))
    gaps = {r.parameter: r.between for r in found.space("b0.attn.qk_dim").axes}
    assert gaps == {"b0.q.weight": 2, "b0.k.weight": 1}  # two query heads per kv head
    assert found.space("b0.attn.qk_dim").axes[0].to_json()["between"] == 2


def test_a_different_dim_permutation_per_kv_group_leaves_the_output_unchanged():
    graph = resolve_model(GQA)
    params, inputs = _point(graph)
    space = infer_symmetries(graph).space("b0.attn.qk_dim")
    moved = apply_permutation(graph, params, space, [1, 0, 2, 3])  # swap dims of group 0 only
    q, new_q = params["b0.q.weight"], moved["b0.q.weight"]
    # q rows: (kv head, member, dim); both query heads of group 0 swap their two dims
    assert np.array_equal(new_q[[0, 1, 2, 3]], q[[1, 0, 3, 2]])
    assert np.array_equal(new_q[4:], q[4:])
    assert np.array_equal(moved["b0.k.weight"][:2], params["b0.k.weight"][[1, 0]])
    assert invariance_gap(graph, params, inputs, space, [1, 0, 2, 3]) <= RELATIVE_TOLERANCE
    ref = space.axes[0]
    entries = unit_entries(q, space, ref, 3).reshape(2, -1)  # group 1, dim 1: rows 5 and 7
    assert np.array_equal(entries, q[[5, 7]])


def test_the_gap_is_needed_and_per_query_head_dims_are_not_a_symmetry(monkeypatch):
    graph = resolve_model(GQA)
    params, inputs = _point(graph)
    # permuting the dims of one query head but not its group's other head and key changes f
    q = params["b0.q.weight"].copy()
    q[[0, 1]] = q[[1, 0]]
    honest = infer_symmetries(graph).space("b0.attn.qk_dim")
    assert invariance_gap(graph, params, inputs, honest, [1, 0, 2, 3]) <= RELATIVE_TOLERANCE
    shifted = {**params, "b0.q.weight": q}
    identity = [0, 1, 2, 3]
    assert invariance_gap(graph, shifted, inputs, honest, identity) == 0.0
    from symcheck.graph.evaluate import evaluate

    before = np.asarray(evaluate(graph, params, inputs))
    assert np.max(np.abs(np.asarray(evaluate(graph, shifted, inputs)) - before)) > 1e-6
    # sibling: a layout without the gap (dims right after the kv head) is caught
    monkeypatch.setattr(symmetry, "_between", lambda uf, ahead, outer: 1)
    broken = infer_symmetries(graph).space("b0.attn.qk_dim")
    assert invariance_gap(graph, params, inputs, broken, [1, 0, 2, 3]) > 1e-6


def _nested_heads():
    """Attention whose four heads are written as 2 x 2 (two nested head axes) in q and k:
    the query-key dims sit right inside the inner head axis, which sits inside the outer."""
    b = GraphBuilder()
    x = b.input("x", (2, 3, 4))  # batch, sequence, model
    q = b.node("linear", [x], ["q.weight"], shapes=[(12, 4)])
    k = b.node("linear", [x], ["k.weight"], shapes=[(12, 4)])
    v = b.node("linear", [x], ["v.weight"], shapes=[(4, 4)])
    q = b.node("reshape", [q], shape=[2, 3, 2, 2, 3])
    k = b.node("reshape", [k], shape=[2, 3, 2, 2, 3])
    s = b.node("softmax", [b.node("einsum", [q, k], equation="bsgex,btgex->bgest")], axis=-1)
    s = b.node("einsum", [s], equation="bgest->bst")
    y = b.node("einsum", [s, v], equation="bst,btd->bsd")
    return b.build(b.node("linear", [y], ["o.weight"], shapes=[(4, 4)]), loss="mse")


def test_dims_inside_nested_heads_permute_per_inner_head():
    # One class right before the dims in every axis (the inner head axis), another
    # further out: the dims are independent per inner head, not merely shared.
    graph = _nested_heads()
    found = infer_symmetries(graph)
    inner, dims = found.space("q.weight.axis0'"), found.space("q.weight.axis0''")
    assert (inner.group, inner.size) == ("symmetric", 2)
    assert (dims.group, dims.size, dims.independent_per) == ("restricted", 6, inner.name)
    params, inputs = _point(graph)
    perm = [1, 2, 0, 3, 5, 4]  # inner head 0 rotates its dims, inner head 1 swaps two
    assert invariance_gap(graph, params, inputs, dims, perm) <= RELATIVE_TOLERANCE
