"""Every inferred unit space is an architecture symmetry: f(g·θ, x) == f(θ, x) (T1).

Graphs are zoo models with small options and random compositions of ops
(:mod:`symcheck.graph.strategies`); parameters and inputs are random float64;
every movable space gets a random permutation its group allows (within blocks
for restricted spaces). The output may change only by rounding (relative
1e-12). The sibling tests break one op's symmetry rule at a time and show
that the same check catches the false space.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from symcheck.graph import ops
from symcheck.graph.confirm import (
    RELATIVE_TOLERANCE,
    gradient_equivariance_gap,
    invariance_gap,
)
from symcheck.graph.ir import GraphBuilder
from symcheck.graph.sample import random_inputs, random_parameters, random_target
from symcheck.graph.strategies import graphs, permutation_of
from symcheck.graph.symmetry import infer_symmetries
from symcheck.graph.zoo import resolve_model


def _point(graph, seed):
    rng = np.random.default_rng(seed)
    return random_parameters(graph, rng), random_inputs(graph, rng)


@given(st.data())
def test_every_inferred_space_leaves_the_output_unchanged(data):
    graph = data.draw(graphs(), label="graph")
    params, inputs = _point(graph, data.draw(st.integers(0, 2**32 - 1), label="seed"))
    for space in infer_symmetries(graph).movable:
        perm = data.draw(permutation_of(space), label=space.name)
        gap = invariance_gap(graph, params, inputs, space, perm)
        assert gap <= RELATIVE_TOLERANCE, (space.name, perm, gap)


@given(st.data())
def test_permuting_a_space_permutes_the_gradient(data):
    # T1: L(g·θ) = L(θ) for an architecture symmetry, so ∇L(g·θ) = g·∇L(θ).
    graph = data.draw(graphs(), label="graph")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    params, inputs = _point(graph, seed)
    target = random_target(graph, np.random.default_rng(seed + 1))
    for space in infer_symmetries(graph).movable:
        perm = data.draw(permutation_of(space), label=space.name)
        gap = gradient_equivariance_gap(graph, params, inputs, target, space, perm)
        assert gap <= RELATIVE_TOLERANCE, (space.name, perm, gap)


# ---- siblings: a deliberately wrong rule is caught by the same check


def _conv_keeps_spatial(ctx):
    ops._conv_rule(ctx)
    ctx.keep(*(ctx.out(a) for a in range(2, ctx.out_rank())))  # claims positions may move


def _rope_free_dims(ctx):
    ctx.join(ctx.out(0), ctx.x(0, 0))
    ctx.join(ctx.out(1), ctx.x(0, 1))
    ctx.join(ctx.x(0, 3), ctx.out(3))  # forgets that each pair has its own frequency
    ctx.fix(ctx.x(0, 2), ctx.out(2))


def _linear_forgets_bias(ctx):
    ctx.join(ctx.x(0, -1), ctx.p(0, 1))
    for a in range(ctx.x_rank(0) - 1):
        ctx.join(ctx.out(a), ctx.x(0, a))
    ctx.join(ctx.out(-1), ctx.p(0, 0))
    ctx.keep(*([ctx.p(1, 0)] if ctx.n_params > 1 else []))  # bias left out of the space


def _sdpa_forgets_kv(ctx):
    ctx.join(ctx.out(0), ctx.x(0, 0), ctx.x(1, 0), ctx.x(2, 0))
    ctx.join(ctx.out(1), ctx.x(0, 1))  # query heads move without their keys and values
    ctx.keep(ctx.x(1, 1), ctx.x(2, 1))
    ctx.join(ctx.out(2), ctx.x(0, 2))
    ctx.join(ctx.x(1, 2), ctx.x(2, 2))
    ctx.join(ctx.x(0, 3), ctx.x(1, 3))
    ctx.join(ctx.x(2, 3), ctx.out(3))


def _layer_norm_forgets_gamma(ctx):
    for a in range(ctx.out_rank()):
        ctx.join(ctx.out(a), ctx.x(0, a))
    ctx.keep(*(ctx.p(j, 0) for j in range(ctx.n_params)))


def _conv_without_pool():
    b = GraphBuilder()
    x = b.input("x", (2, 1, 4, 4))
    h = b.node("conv2d", [x], ["c.weight"], shapes=[(2, 1, 3, 3)], padding=1)
    h = b.node("activation", [b.node("flatten", [h])], name="tanh")
    return b.build(b.node("linear", [h], ["fc.weight"], shapes=[(2, 32)]), loss="mse")


BROKEN = {
    "conv spatial axes not fixed": ("conv2d", _conv_keeps_spatial, _conv_without_pool),
    "rope does not fix the qk dims": (
        "rope",
        _rope_free_dims,
        lambda: resolve_model("transformer:layers=1,rope=1"),
    ),
    "linear forgets the bias": ("linear", _linear_forgets_bias, lambda: resolve_model("2-3-1")),
    "sdpa moves query heads alone": (
        "sdpa",
        _sdpa_forgets_kv,
        lambda: resolve_model("transformer:layers=1"),
    ),
    "layer norm forgets gamma": (
        "layer_norm",
        _layer_norm_forgets_gamma,
        lambda: resolve_model("resmlp:blocks=1"),
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_wrong_symmetry_rule_is_caught_by_the_invariance_check(case, monkeypatch):
    op_name, rule, build = BROKEN[case]
    graph = build()
    honest = {s.name for s in infer_symmetries(graph).movable}
    monkeypatch.setitem(ops.OPS, op_name, replace(ops.OPS[op_name], symmetry=rule))
    params, inputs = _point(graph, 0)
    rng = np.random.default_rng(1)
    gaps = {}
    for space in infer_symmetries(graph).movable:
        worst = 0.0
        for _ in range(5):
            perm = rng.permutation(space.size)
            if space.group == "restricted":
                perm = np.concatenate([rng.permutation(list(b)) for b in space.blocks])
            worst = max(worst, invariance_gap(graph, params, inputs, space, perm))
        gaps[space.name] = worst
    caught = {name for name, gap in gaps.items() if gap > 1e-6}
    assert caught, gaps
    target = random_target(graph, rng)
    space = infer_symmetries(graph).space(sorted(caught)[0])
    blocks = space.blocks if space.group == "restricted" else [range(space.size)]
    perm = np.concatenate([np.roll(list(b), 1) for b in blocks])  # moves every unit
    assert gradient_equivariance_gap(graph, params, inputs, target, space, perm) > 1e-6
    assert all(gaps[name] <= RELATIVE_TOLERANCE for name in honest & set(gaps) - caught)
