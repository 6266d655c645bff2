"""The generic view and contraction ops (kernels ``view`` and ``contract``) and their rules.

Kernels, one table of cases: forward against torch (float64, relative
1e-12), backward against torch autograd (1e-12), and on the SymPy backend
(tiny shapes, symbols) the backward equals ``sympy.diff`` of the forward's
contraction with a symbolic upstream gradient (exact zero test).

Symmetry rules: in graphs that route hidden units through each op, every
inferred unit space leaves the output unchanged (relative 1e-12). Siblings:
a wrong backward is caught by the same kernel checkers, and a wrong rule per
op (permute ignoring its dims, reshape in Fortran order, slice freeing its
cut axis, einsum not joining a summed letter) is caught by the invariance check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symcheck.errors import InvalidArgument
from symcheck.graph import ops
from symcheck.graph.backend import NUMPY, SYMPY
from symcheck.graph.confirm import RELATIVE_TOLERANCE, invariance_gap
from symcheck.graph.ir import GraphBuilder
from symcheck.graph.kernels import contract, view
from symcheck.graph.sample import random_inputs, random_parameters
from symcheck.graph.symmetry import infer_symmetries

torch.set_num_threads(1)

REL = 1e-12


@dataclass(frozen=True)
class Case:
    id: str
    module: object
    op: str
    shapes: tuple[tuple[int, ...], ...]
    reference: Callable[..., torch.Tensor]
    attrs: dict = field(default_factory=dict)

    def forward(self, xp, *arrays):
        return getattr(self.module, f"{self.op}_forward")(xp, *arrays, **self.attrs)

    def backward(self, xp, cache, grad_out):
        return getattr(self.module, f"{self.op}_backward")(xp, cache, grad_out)


CASES = [
    Case(
        "permute", view, "permute", ((2, 3, 4),), lambda x: x.permute(2, 0, 1), {"dims": (2, 0, 1)}
    ),
    Case("reshape", view, "reshape", ((2, 3, 4),), lambda x: x.reshape(6, 4), {"shape": (6, 4)}),
    Case(
        "expand",
        view,
        "expand",
        ((2, 1, 3, 1),),
        lambda x: x.expand(2, 4, 3, 2),
        {"shape": (2, 4, 3, 2)},
    ),
    Case(
        "slice_axis",
        view,
        "slice_axis",
        ((2, 5, 3),),
        lambda x: x[:, 1:4:2],
        {"axis": 1, "start": 1, "stop": 4, "step": 2},
    ),
    Case("parameter", view, "parameter", ((3, 2),), lambda x: x * 1),
    Case(
        "einsum bd,efd->bef",
        contract,
        "einsum",
        ((2, 3), (4, 5, 3)),
        lambda x, w: torch.einsum("bd,efd->bef", x, w),
        {"equation": "bd,efd->bef"},
    ),
    Case(
        "einsum sum bij->bi",
        contract,
        "einsum",
        ((2, 3, 4),),
        lambda x: x.sum(-1),
        {"equation": "bij->bi"},
    ),
    Case(
        "einsum be,bed->bd",
        contract,
        "einsum",
        ((2, 3), (2, 3, 4)),
        lambda g, y: torch.einsum("be,bed->bd", g, y),
        {"equation": "be,bed->bd"},
    ),
    Case(
        "einsum summed-only letter",
        contract,
        "einsum",
        ((2, 3), (2, 4)),
        lambda a, b: torch.einsum("bi,bj->b", a, b).reshape(2, 1).squeeze(1),
        {"equation": "bi,bj->b"},
    ),
    Case("scale", contract, "scale", ((2, 3),), lambda x: x * -1.5, {"factor": Fraction(-3, 2)}),
]


def _arrays(case: Case, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in case.shapes]


def forward_error(case: Case) -> float:
    arrays = _arrays(case)
    ours, _ = case.forward(NUMPY, *arrays)
    ref = case.reference(*(torch.tensor(a) for a in arrays)).numpy()
    return float(np.max(np.abs(ours - ref)) / max(1.0, np.max(np.abs(ref))))


def backward_error(case: Case) -> float:
    arrays = _arrays(case)
    out, cache = case.forward(NUMPY, *arrays)
    grad_out = np.random.default_rng(1).standard_normal(np.shape(out))
    ours = case.backward(NUMPY, cache, grad_out)
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    case.reference(*tensors).backward(torch.tensor(grad_out))
    worst = 0.0
    for mine, t in zip(ours, tensors, strict=True):
        ref = t.grad.numpy()
        if np.shape(mine) != ref.shape:
            return float("inf")
        worst = max(worst, float(np.max(np.abs(mine - ref)) / max(1.0, np.max(np.abs(ref)))))
    return worst


def symbolic_residual(case: Case) -> int:
    """How many backward entries differ from sympy.diff of sum(out * g) (exactly)."""
    symbols = [
        np.array(sp.symbols(f"x{k}_0:{int(np.prod(s))}"), dtype=object).reshape(s)
        for k, s in enumerate(case.shapes)
    ]
    out, cache = case.forward(SYMPY, *symbols)
    g = np.array(sp.symbols(f"g0:{np.size(out)}"), dtype=object).reshape(np.shape(out))
    total = sp.Add(*(np.asarray(out) * g).ravel())
    grads = case.backward(SYMPY, cache, g)
    wrong = 0
    for array, grad in zip(symbols, grads, strict=True):
        if np.shape(grad) != array.shape:
            wrong += array.size
            continue
        for index, symbol in np.ndenumerate(array):
            if sp.expand(sp.diff(total, symbol) - grad[index]) != 0:
                wrong += 1
    return wrong


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_forward_matches_torch(case):
    assert forward_error(case) <= REL


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_backward_matches_autograd(case):
    assert backward_error(case) <= REL


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_sympy_backward_is_the_exact_derivative(case):
    assert symbolic_residual(case) == 0


# ---- siblings: wrong backward passes are caught by the same checkers


def _permute_backward_with_dims(xp, cache, grad_out):
    (order,) = cache
    return (np.transpose(grad_out, order),)  # forgets to invert the permutation


_EINSUM_BACKWARD = contract.einsum_backward


def _einsum_backward_without_broadcast(xp, cache, grad_out):
    operands, out = cache[:2]
    grads = _EINSUM_BACKWARD(xp, cache, grad_out)
    return tuple(g * 0 if s != out and set(s) - set(out) else g for g, s in zip(grads, operands))


def _expand_backward_first_copy(xp, cache, grad_out):
    (repeated,) = cache
    index = tuple(slice(0, 1) if a in repeated else slice(None) for a in range(grad_out.ndim))
    return (grad_out[index],)  # takes one copy instead of summing over them


BROKEN_BACKWARD = {
    "permute without the inverse": (
        CASES[0],
        view,
        "permute_backward",
        _permute_backward_with_dims,
    ),
    "einsum drops summed letters": (
        CASES[6],
        contract,
        "einsum_backward",
        _einsum_backward_without_broadcast,
    ),
    "expand takes one copy": (CASES[2], view, "expand_backward", _expand_backward_first_copy),
}


@pytest.mark.parametrize("name", sorted(BROKEN_BACKWARD))
def test_a_wrong_backward_is_caught(name, monkeypatch):
    case, module, attr, wrong = BROKEN_BACKWARD[name]
    assert backward_error(case) <= REL and symbolic_residual(case) == 0
    monkeypatch.setattr(module, attr, wrong)
    assert backward_error(case) > 1e-3
    assert symbolic_residual(case) > 0


@pytest.mark.parametrize(
    ("op", "arrays", "attrs", "fragment"),
    [
        (view.permute_forward, [np.zeros((2, 3))], {"dims": (0, 0)}, "not a permutation"),
        (view.reshape_forward, [np.zeros((2, 3))], {"shape": (4, 2)}, "does not hold"),
        (view.expand_forward, [np.zeros((2, 3))], {"shape": (2, 6)}, "cannot be expanded"),
        (
            view.slice_axis_forward,
            [np.zeros((2, 3))],
            {"axis": 1, "start": 3, "stop": 5},
            "selects nothing",
        ),
        (contract.einsum_forward, [np.zeros((2, 3))], {"equation": "bij->b"}, "letters but"),
        (contract.einsum_forward, [np.zeros((2, 3))], {"equation": "...i->i"}, "without '...'"),
        (contract.einsum_forward, [np.zeros((3, 3))], {"equation": "ii->i"}, "repeats a letter"),
    ],
)
def test_bad_view_arguments_get_one_clear_line(op, arrays, attrs, fragment):
    with pytest.raises(InvalidArgument, match=fragment) as info:
        op(NUMPY, *arrays, **attrs)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- symmetry rules


def _through_permute():
    b = GraphBuilder()
    x = b.input("x", (2, 3, 3))
    h = b.node("linear", [x], ["w1"], shapes=[(3, 3)])
    h = b.node("activation", [b.node("permute", [h], dims=(0, 2, 1))], name="tanh")
    h = b.node("linear", [h], ["w2"], shapes=[(3, 3)])
    return b.build(
        b.node("linear", [b.node("permute", [h], dims=(0, 2, 1))], ["w3"], shapes=[(2, 3)])
    )


def _through_reshape():
    """Split a hidden axis of 6 into (2, 3), act per block, merge back, then a head."""
    b = GraphBuilder()
    x = b.input("x", (2, 4))
    h = b.node("linear", [x], ["w1", "b1"], shapes=[(6, 4), (6,)])
    h = b.node("reshape", [h], shape=(2, 2, 3))
    h = b.node("linear", [b.node("activation", [h], name="tanh")], ["w2"], shapes=[(3, 3)])
    h = b.node("reshape", [h], shape=(4, 3))  # merges the batch with the blocks
    h = b.node("reshape", [b.node("activation", [h], name="tanh")], shape=(2, 6))
    return b.build(b.node("linear", [h], ["w3"], shapes=[(2, 6)]))


def _through_expand_and_slice():
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    h = b.node("linear", [x], ["w1"], shapes=[(4, 3)])
    c = b.node("reshape", [b.node("parameter", [], ["c"], shapes=[(4,)])], shape=(1, 4))
    h = b.node("add", [h, b.node("expand", [c], shape=(2, 4))])
    h = b.node("activation", [h], name="tanh")
    h = b.node("linear", [h], ["w2"], shapes=[(5, 4)])
    h = b.node("slice_axis", [b.node("activation", [h], name="tanh")], axis=1, start=0, stop=4)
    return b.build(b.node("linear", [h], ["w3"], shapes=[(2, 4)]))


def _through_einsum():
    """A batched-expert layer and a gate: einsum joins each letter."""
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    gates = b.node("softmax", [b.node("linear", [x], ["router"], shapes=[(4, 3)])])
    w = b.node("parameter", [], ["experts"], shapes=[(4, 5, 3)])
    h = b.node("activation", [b.node("einsum", [x, w], equation="bd,efd->bef")], name="tanh")
    v = b.node("parameter", [], ["out"], shapes=[(4, 3, 5)])
    y = b.node("einsum", [h, v], equation="bef,edf->bed")
    y = b.node("scale", [b.node("einsum", [gates, y], equation="be,bed->bd")], factor="1/2")
    return b.build(b.node("linear", [y], ["head"], shapes=[(2, 3)]))


GRAPHS = {
    "permute": _through_permute,
    "reshape": _through_reshape,
    "expand and slice": _through_expand_and_slice,
    "einsum": _through_einsum,
}


def _worst_gaps(graph, seeds=range(4)) -> dict[str, float]:
    rng = np.random.default_rng(0)
    params, inputs = random_parameters(graph, rng), random_inputs(graph, rng)
    gaps = {}
    for space in infer_symmetries(graph).movable:
        gaps[space.name] = max(
            invariance_gap(graph, params, inputs, space, _allowed(space, np.random.default_rng(s)))
            for s in seeds
        )
    return gaps


def _allowed(space, rng) -> np.ndarray:
    """A random permutation the space's group allows (within blocks when restricted)."""
    if space.group == "restricted":
        return np.concatenate([rng.permutation(list(block)) for block in space.blocks])
    return rng.permutation(space.size)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_every_space_through_a_view_op_leaves_the_output_unchanged(name):
    gaps = _worst_gaps(GRAPHS[name]())
    assert gaps and all(gap <= RELATIVE_TOLERANCE for gap in gaps.values()), gaps


def test_reshape_factors_split_axes_and_einsum_finds_experts():
    reshape = {s.size for s in infer_symmetries(_through_reshape()).movable}
    assert {2, 3} <= reshape  # the 6 hidden units permute as 2 blocks x 3, not as 6
    experts = infer_symmetries(_through_einsum()).movable
    assert any(
        {("experts", 0), ("out", 0), ("router", 0)} <= {(r.parameter, r.axis) for r in s.axes}
        for s in experts
    )


def _permute_ignores_dims(ctx):
    for k in range(ctx.out_rank()):
        ctx.join(ctx.out(k), ctx.x(0, k))


def _reshape_fortran(ctx):
    shape = tuple(ctx.attrs["shape"])
    source = [ctx.x_size(0, a) for a in range(ctx.x_rank(0))]
    if len(source) == 2 and len(shape) == 3 and source[1] == shape[1] * shape[2]:
        ctx.join(ctx.out(0), ctx.x(0, 0))
        ctx.factor(ctx.x(0, 1), [ctx.out(2), ctx.out(1)])  # the inner block first: wrong order
    else:
        ops._reshape_rule(ctx)


def _slice_frees_cut_axis(ctx):
    axis = int(ctx.attrs["axis"]) % ctx.x_rank(0)
    for a in range(ctx.x_rank(0)):
        if a != axis:
            ctx.join(ctx.out(a), ctx.x(0, a))
    ctx.keep(ctx.out(axis), ctx.x(0, axis))


def _einsum_forgets_summed_letters(ctx):
    left, out = str(ctx.attrs["equation"]).split("->")
    for i, subscripts in enumerate(left.split(",")):
        for a, letter in enumerate(subscripts):
            if letter in out:
                ctx.join(ctx.x(i, a), ctx.out(out.index(letter)))
            else:
                ctx.keep(ctx.x(i, a))


BROKEN_RULES = {
    "permute ignores dims": ("permute", _permute_ignores_dims, _through_permute),
    "reshape in Fortran order": ("reshape", _reshape_fortran, _through_reshape),
    "slice frees its cut axis": ("slice_axis", _slice_frees_cut_axis, _through_expand_and_slice),
    "einsum forgets summed letters": ("einsum", _einsum_forgets_summed_letters, _through_einsum),
}


@pytest.mark.parametrize("case", sorted(BROKEN_RULES))
def test_a_wrong_view_rule_is_caught_by_the_invariance_check(case, monkeypatch):
    op_name, rule, build = BROKEN_RULES[case]
    monkeypatch.setitem(ops.OPS, op_name, replace(ops.OPS[op_name], symmetry=rule))
    gaps = _worst_gaps(build())
    assert any(gap > 1e-6 for gap in gaps.values()), gaps


# ---- random view chains: split, scale per entry, permute, regroup, merge


@st.composite
def _factorisation(draw, total: int) -> tuple[int, ...]:
    parts, rest = [], total
    while rest > 1 and len(parts) < 3:
        divisors = [d for d in range(2, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divisors))
        parts.append(d)
        rest //= d
    if rest > 1:
        parts.append(rest)
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), 1)  # a size-1 axis (unsqueeze)
    return tuple(parts) or (1,)


def _scaled(b, h, shape, name):
    """h * P entrywise, P a parameter of ``shape`` broadcast over the batch."""
    p = b.node("reshape", [b.node("parameter", [], [name], shapes=[shape])], shape=(1, *shape))
    return b.node("mul", [h, b.node("expand", [p], shape=(2, *shape))])


@st.composite
def _view_chains(draw):
    first = draw(_factorisation(draw(st.sampled_from([4, 6, 8, 12]))))
    total = int(np.prod(first))
    b = GraphBuilder()
    h = b.node("linear", [b.input("x", (2, 3))], ["w1"], shapes=[(total, 3)])
    h = b.node("reshape", [h], shape=(2, *first))
    h = b.node("activation", [_scaled(b, h, first, "p1")], name="tanh")
    order = draw(st.permutations(range(1, len(first) + 1)))
    h = b.node("permute", [h], dims=(0, *order))
    second = draw(_factorisation(total))
    h = b.node("reshape", [h], shape=(2, *second))
    h = b.node("activation", [_scaled(b, h, second, "p2")], name="tanh")
    h = b.node("reshape", [h], shape=(2, total))
    return b.build(b.node("linear", [h], ["w2"], shapes=[(3, total)]))


@settings(max_examples=40, deadline=None)
@given(graph=_view_chains(), seed=st.integers(0, 2**16))
def test_random_view_chains_claim_only_true_symmetries(graph, seed):
    rng = np.random.default_rng(seed)
    params, inputs = random_parameters(graph, rng), random_inputs(graph, rng)
    for space in infer_symmetries(graph).movable:
        if space.group == "restricted":
            perm = np.concatenate([rng.permutation(list(block)) for block in space.blocks])
        else:
            perm = rng.permutation(space.size)
        gap = invariance_gap(graph, params, inputs, space, perm)
        assert gap <= RELATIVE_TOLERANCE, (space.name, gap)
