"""One small graph per op: the unit spaces its symmetry rule gives, and that they hold.

Each case states, per parameter axis, the space acting on it (``None``: fixed;
a list: the factors of a blocked axis, outermost first), as a reader derives
it from the op's semantics; the numeric check then confirms each movable
space (f(g·θ, x) == f(θ, x), relative 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest

from symcheck.graph.confirm import RELATIVE_TOLERANCE, invariance_gap
from symcheck.graph.ir import GraphBuilder
from symcheck.graph.sample import random_inputs, random_parameters
from symcheck.graph.symmetry import infer_symmetries


def _head(b, h, width, out=2):
    """A hidden linear layer 'h1' of ``width`` reading ``h``, then the output layer 'out'."""
    return b.build(b.node("linear", [h], ["out.weight"], shapes=[(out, width)], output="out"))


def linear():
    b = GraphBuilder()
    h = b.node(
        "linear", [b.input("x", (2, 3))], ["h.weight", "h.bias"], shapes=[(4, 3), (4,)], output="h"
    )
    return _head(b, b.node("activation", [h], name="tanh"), 4), {
        "h.weight": ("h", None),
        "h.bias": ("h",),
        "out.weight": (None, "h"),
    }


def expert_linear():
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    gates = b.node("softmax", [b.node("linear", [x], ["r.weight"], shapes=[(2, 3)], output="r")])
    up = b.node(
        "expert_linear",
        [x],
        ["up.weight", "up.bias"],
        shapes=[(2, 4, 3), (2, 4)],
        output="up",
        shared_input=True,
    )
    down = b.node("expert_linear", [up], ["dn.weight"], shapes=[(2, 3, 4)], output="dn")
    return b.build(b.node("moe_combine", [gates, down])), {
        "r.weight": ("up.experts", None),
        "up.weight": ("up.experts", "up", None),
        "up.bias": ("up.experts", "up"),
        "dn.weight": ("up.experts", None, "up"),
    }


def _conv(op, spatial):
    def build():
        b = GraphBuilder()
        x = b.input("x", (2, 1, *([4] * spatial)))
        h = b.node(
            op,
            [x],
            ["c.weight", "c.bias"],
            shapes=[(3, 1, *([3] * spatial)), (3,)],
            output="c",
            padding=1,
        )
        h = b.node("mean", [b.node("activation", [h], name="relu")], axis=2)
        if spatial == 2:
            h = b.node("mean", [h], axis=2)
        g = b.build(b.node("linear", [h], ["out.weight"], shapes=[(2, 3)]))
        return g, {
            "c.weight": ("c", None, *([None] * spatial)),
            "c.bias": ("c",),
            "out.weight": (None, "c"),
        }

    return build


def pool(op):
    def build():
        b = GraphBuilder()
        x = b.input("x", (2, 1, 4, 4))
        h = b.node("conv2d", [x], ["c.weight"], shapes=[(3, 1, 1, 1)], output="c")
        h = b.node("flatten", [b.node(op, [h], kernel=2)])
        return b.build(b.node("linear", [h], ["out.weight"], shapes=[(2, 12)])), {
            "c.weight": ("c", None, None, None),
            "out.weight": (None, ["c", None, None]),
        }

    return build


def elementwise(op):
    def build():
        b = GraphBuilder()
        x = b.input("x", (2, 3))
        a = b.node("linear", [x], ["a.weight"], shapes=[(4, 3)], output="a")
        c = b.node("linear", [x], ["c.weight"], shapes=[(4, 3)], output="c")
        g = _head(b, b.node(op, [a, c]), 4)
        name = "stream" if op == "add" else "a"
        return g, {"a.weight": (name, None), "c.weight": (name, None), "out.weight": (None, name)}

    return build


def concat_and_stack(op):
    def build():
        b = GraphBuilder()
        x = b.input("x", (2, 3))
        a = b.node("linear", [x], ["a.weight"], shapes=[(4, 3)], output="a")
        c = b.node("linear", [x], ["c.weight"], shapes=[(4, 3)], output="c")
        if op == "concat":
            return _head(b, b.node("concat", [a, c], axis=1), 8), {
                "a.weight": (None, None),
                "c.weight": (None, None),
                "out.weight": (None, None),
            }
        h = b.node("flatten", [b.node("stack", [a, c], axis=1)])
        return _head(b, h, 8), {
            "a.weight": ("a", None),
            "c.weight": ("a", None),
            "out.weight": (None, [None, "a"]),
        }

    return build


def norm(op, affine):
    def build():
        b = GraphBuilder()
        h = b.node("linear", [b.input("x", (2, 3))], ["h.weight"], shapes=[(4, 3)], output="h")
        params = ["n.weight", "n.bias"][:affine]
        h = b.node(op, [h], params, shapes=[(4,)] * affine)
        expected = {"h.weight": ("h", None), "out.weight": (None, "h")}
        expected.update({p: ("h",) for p in params})
        return _head(b, h, 4), expected

    return build


def batch_norm():
    b = GraphBuilder()
    h = b.node("conv1d", [b.input("x", (2, 1, 3))], ["c.weight"], shapes=[(2, 1, 1)], output="c")
    roles = ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"]
    h = b.node("flatten", [b.node("batch_norm", [h], roles, shapes=[(2,)] * 4)])
    expected = {"c.weight": ("c", None, None), "out.weight": (None, ["c", None])}
    expected.update({r: ("c",) for r in roles})
    return _head(b, h, 6), expected


def embedding():
    b = GraphBuilder()
    h = b.node("embedding", [b.input("ids", (2, 3), dtype="int")], ["e.table"], shapes=[(5, 4)])
    return b.build(b.node("linear", [h], ["out.weight"], shapes=[(2, 4)])), {
        "e.table": (None, "stream"),
        "out.weight": (None, "stream"),
    }


def attention(heads, kv, *, rope=False, causal=False):
    def build():
        b = GraphBuilder()
        x = b.input("x", (2, 3, 4))
        split = []
        for name, count in (("q", heads), ("k", kv), ("v", kv)):
            h = b.node("linear", [x], [f"{name}.weight"], shapes=[(count * 2, 4)], output=name)
            h = b.node("split_heads", [h], heads=count)
            split.append(b.node("rope", [h]) if rope and name != "v" else h)
        a = b.node("merge_heads", [b.node("sdpa", split, causal=causal, output="att")])
        g = b.build(b.node("linear", [a], ["o.weight"], shapes=[(4, heads * 2)]))
        qk = None if rope else "att.qk_dim"
        if heads == kv:
            return g, {
                "q.weight": (["att.head", qk], None),
                "k.weight": (["att.head", qk], None),
                "v.weight": (["att.head", "att.vo_dim"], None),
                "o.weight": (None, ["att.head", "att.vo_dim"]),
            }
        return g, {
            "q.weight": (["att.kv_head", "att.head", qk], None),
            "k.weight": (["att.kv_head", qk], None),
            "v.weight": (["att.kv_head", "att.vo_dim"], None),
            "o.weight": (None, ["att.kv_head", "att.head", "att.vo_dim"]),
        }

    return build


CASES = {
    "linear": linear,
    "expert_linear, softmax, moe_combine": expert_linear,
    "conv1d, mean": _conv("conv1d", 1),
    "conv2d": _conv("conv2d", 2),
    "avg_pool2d, flatten": pool("avg_pool2d"),
    "max_pool2d": pool("max_pool2d"),
    "add": elementwise("add"),
    "mul": elementwise("mul"),
    "concat": concat_and_stack("concat"),
    "stack": concat_and_stack("stack"),
    "layer_norm": norm("layer_norm", 2),
    "layer_norm without affine": norm("layer_norm", 0),
    "rms_norm": norm("rms_norm", 1),
    "batch_norm": batch_norm,
    "embedding": embedding,
    "sdpa, split and merge heads": attention(2, 2),
    "sdpa causal": attention(2, 2, causal=True),
    "sdpa GQA": attention(4, 2),
    "rope": attention(2, 2, rope=True),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_rule_gives_the_expected_spaces_and_they_hold(case):
    graph, expected = CASES[case]()
    symmetries = infer_symmetries(graph)
    got = {p: tuple(v) for p, v in symmetries.parameters.items()}
    assert got == expected
    rng = np.random.default_rng(0)
    params, inputs = random_parameters(graph, rng), random_inputs(graph, rng)
    for space in symmetries.movable:
        perm = np.arange(space.size)[::-1]
        if space.group == "restricted":
            perm = np.concatenate([list(reversed(b)) for b in space.blocks])
        assert invariance_gap(graph, params, inputs, space, perm) <= RELATIVE_TOLERANCE


def test_gqa_query_heads_move_only_within_their_kv_group():
    graph, _ = attention(4, 2)()
    heads = infer_symmetries(graph).space("att.head")
    assert heads.group == "restricted"
    assert heads.blocks == ((0, 1), (2, 3))
    assert heads.independent_per == "att.kv_head"


def test_head_dims_permute_independently_per_head():
    graph, _ = attention(2, 2)()
    qk = infer_symmetries(graph).space("att.qk_dim")
    assert (qk.group, qk.size, qk.blocks, qk.independent_per) == (
        "restricted", 4, ((0, 1), (2, 3)), "att.head",
    )  # fmt: skip


def test_an_op_without_a_rule_fixes_every_axis_it_touches(monkeypatch):
    from dataclasses import replace

    from symcheck.graph import ops

    monkeypatch.setitem(ops.OPS, "activation", replace(ops.OPS["activation"], symmetry=None))
    graph, _ = linear()
    assert infer_symmetries(graph).movable == ()


def test_a_rule_that_forgets_an_axis_fixes_it(monkeypatch):
    from dataclasses import replace

    from symcheck.graph import ops

    def silent(ctx):  # mentions nothing
        return None

    monkeypatch.setitem(ops.OPS, "mul", replace(ops.OPS["mul"], symmetry=silent))
    graph, _ = elementwise("mul")()
    assert infer_symmetries(graph).movable == ()


def _softmax_over_heads():
    b = GraphBuilder()
    x = b.input("x", (2, 3, 4))
    h = b.node("split_heads", [b.node("linear", [x], ["q.weight"], shapes=[(6, 4)])], heads=2)
    h = b.node("merge_heads", [b.node("softmax", [h], axis=1)])
    return b.build(b.node("linear", [h], ["o.weight"], shapes=[(2, 6)]))


def test_a_softmax_over_the_heads_keeps_the_head_dims_one_shared_permutation():
    graph = _softmax_over_heads()
    dims = infer_symmetries(graph).space("q.weight.axis0'")
    assert (dims.group, dims.size, dims.independent_per) == ("symmetric", 3, None)
    rng = np.random.default_rng(0)
    params, inputs = random_parameters(graph, rng), random_inputs(graph, rng)
    assert invariance_gap(graph, params, inputs, dims, [1, 2, 0]) <= RELATIVE_TOLERANCE


def test_independent_head_dim_permutations_would_be_wrong_there():
    # Sibling: the restricted space the inference refuses to claim changes the output.
    from dataclasses import replace

    graph = _softmax_over_heads()
    shared = infer_symmetries(graph).space("q.weight.axis0'")
    per_head = replace(
        shared, size=6, group="restricted", blocks=((0, 1, 2), (3, 4, 5)), independent_per="heads"
    )
    rng = np.random.default_rng(0)
    params, inputs = random_parameters(graph, rng), random_inputs(graph, rng)
    assert invariance_gap(graph, params, inputs, per_head, [1, 2, 0, 3, 4, 5]) > 1e-6


def test_inferred_symmetries_are_immutable_values():
    import dataclasses

    from symcheck.graph.symmetry import infer_symmetries
    from symcheck.graph.zoo import resolve_model

    sym = infer_symmetries(resolve_model("2-3-1"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        sym.spaces = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sym.spaces[0].size = 7  # type: ignore[misc]
