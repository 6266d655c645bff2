"""Graph kernels, family A: dense, conv, pool, elementwise, shape, loss.

Every kernel is checked the same way (one table of cases, one checker each):

* forward against ``torch`` (float64, relative 1e-12);
* backward against torch autograd (1e-12) and against the complex step
  (analytic kernels) or central differences (kinks) on the NumPy backend;
* on the SymPy backend (tiny shapes): the forward equals the NumPy forward at a
  rational point, and the backward equals ``sympy.diff`` of the forward's
  contraction with a symbolic upstream gradient.

Sibling tests feed deliberately wrong backward passes to the same checkers. A
Hypothesis property draws conv and pool geometries (kernel, stride, padding,
sizes) and compares forward and backward with torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import NUMPY, SYMPY
from symcheck.graph.kernels import conv, dense, elementwise, loss, pool, shape

torch.set_num_threads(1)

REL = 1e-12


@dataclass(frozen=True)
class Case:
    """One kernel call: its input shapes and kinds, attrs and torch reference."""

    id: str
    module: object
    op: str
    shapes: tuple[tuple[int, ...], ...]
    reference: Callable[..., torch.Tensor]
    attrs: dict = field(default_factory=dict)
    kinds: tuple[str, ...] = ()  # per input: "normal" (default), "unit", "prob"
    analytic: bool = True  # complex step; else central differences
    tiny: tuple[tuple[int, ...], ...] | None = None  # shapes for SymPy (default: shapes)
    symbolic: bool = True  # SymPy with symbols; False: branchy, rational inputs only

    def forward(self, xp, *arrays):
        return getattr(self.module, f"{self.op}_forward")(xp, *arrays, **self.attrs)

    def backward(self, xp, cache, grad_out):
        return getattr(self.module, f"{self.op}_backward")(xp, cache, grad_out)

    def kind(self, k: int) -> str:
        return self.kinds[k] if k < len(self.kinds) else "normal"


def _act(name: str, reference, *, analytic: bool = True, symbolic: bool = True) -> Case:
    return Case(
        f"activation-{name}",
        elementwise,
        "activation",
        ((3, 4),),
        reference,
        {"name": name},
        analytic=analytic,
        tiny=((1, 3),),
        symbolic=symbolic,
    )


def _loss(name: str, shp, reduction: str, reference, kind: str) -> Case:
    batch = shp[0]
    scale = 1.0 / batch if reduction == "mean" else 1.0
    return Case(
        f"{name}-{reduction}-{len(shp)}d",
        loss,
        name,
        (shp, shp),
        lambda z, y: reference(z, y) * scale,
        {"reduction": reduction},
        kinds=("normal", kind),
        tiny=((2, 2), (2, 2)) if len(shp) == 2 else ((1, 2, 2), (1, 2, 2)),
    )


def _bce(z, y):
    return F.binary_cross_entropy_with_logits(z, y, reduction="sum")


def _mse(z, y):
    return 0.5 * F.mse_loss(z, y, reduction="sum")


def _ce(z, y):
    return F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1, y.shape[-1]), reduction="sum")


CASES = [
    Case("linear", dense, "linear", ((3, 4), (5, 4), (5,)), F.linear, tiny=((2, 2), (2, 2), (2,))),
    Case(
        "linear-seq-nobias",
        dense,
        "linear",
        ((2, 3, 4), (5, 4)),
        F.linear,
        tiny=((1, 2, 2), (2, 2)),
    ),
    Case(
        "expert_linear-shared",
        dense,
        "expert_linear",
        ((3, 4), (2, 5, 4), (2, 5)),
        lambda x, w, b: torch.einsum("ni,eoi->neo", x, w) + b,
        {"shared_input": True},
        tiny=((1, 2), (2, 2, 2), (2, 2)),
    ),
    Case(
        "expert_linear-per-expert",
        dense,
        "expert_linear",
        ((2, 3, 2, 4), (2, 5, 4)),
        lambda x, w: torch.einsum("ntei,eoi->nteo", x, w),
        {"shared_input": False},
        tiny=((1, 2, 2), (2, 2, 2)),
    ),
    Case(
        "conv1d-stride-pad",
        conv,
        "conv1d",
        ((2, 3, 7), (4, 3, 3), (4,)),
        lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
        {"stride": 2, "padding": 1},
        tiny=((1, 1, 3), (2, 1, 2), (2,)),
    ),
    Case("conv1d", conv, "conv1d", ((2, 2, 5), (3, 2, 2)), F.conv1d, tiny=((1, 2, 3), (1, 2, 2))),
    Case(
        "conv2d-stride-pad",
        conv,
        "conv2d",
        ((2, 2, 5, 6), (3, 2, 3, 2), (3,)),
        lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2)),
        {"stride": (2, 1), "padding": (1, 2)},
        tiny=((1, 1, 3, 3), (1, 1, 2, 2), (1,)),
    ),
    Case(  # stride 2 leaves the last row and column out of every window
        "conv2d-stride-tail",
        conv,
        "conv2d",
        ((1, 2, 6, 5), (2, 2, 3, 2)),
        lambda x, w: F.conv2d(x, w, stride=2),
        {"stride": 2},
        tiny=((1, 1, 3, 3), (1, 1, 2, 2)),
    ),
    Case(
        "conv2d",
        conv,
        "conv2d",
        ((1, 2, 4, 4), (2, 2, 2, 3)),
        F.conv2d,
        tiny=((1, 2, 2, 3), (1, 2, 2, 2)),
    ),
    Case(
        "avg_pool2d",
        pool,
        "avg_pool2d",
        ((2, 2, 4, 5),),
        lambda x: F.avg_pool2d(x, 2),
        {"kernel": 2},
        tiny=((1, 1, 2, 4),),
    ),
    Case(
        "avg_pool2d-overlap",
        pool,
        "avg_pool2d",
        ((1, 2, 4, 5),),
        lambda x: F.avg_pool2d(x, (2, 3), stride=(1, 2)),
        {"kernel": (2, 3), "stride": (1, 2)},
        tiny=((1, 1, 3, 3),),
    ),
    Case(
        "max_pool2d",
        pool,
        "max_pool2d",
        ((2, 2, 4, 5),),
        lambda x: F.max_pool2d(x, 2),
        {"kernel": 2},
        analytic=False,
        tiny=((1, 1, 2, 4),),
        symbolic=False,
    ),
    Case(
        "max_pool2d-overlap",
        pool,
        "max_pool2d",
        ((1, 2, 4, 5),),
        lambda x: F.max_pool2d(x, (2, 3), stride=(1, 2)),
        {"kernel": (2, 3), "stride": (1, 2)},
        analytic=False,
        tiny=((1, 1, 3, 3),),
        symbolic=False,
    ),
    Case("mean-1", pool, "mean", ((2, 3, 4),), lambda x: x.mean(1), {"axis": 1}, tiny=((1, 2, 2),)),
    Case(
        "mean-last", pool, "mean", ((2, 3, 4),), lambda x: x.mean(-1), {"axis": -1}, tiny=((1, 3),)
    ),
    _act("identity", lambda x: x),
    _act("tanh", torch.tanh),
    _act("sigmoid", torch.sigmoid),
    _act("relu", F.relu, analytic=False),
    _act("leaky_relu", lambda x: F.leaky_relu(x, 0.01), analytic=False),
    _act("leaky_relu(1/5)", lambda x: F.leaky_relu(x, 0.2), analytic=False),
    _act("softplus", F.softplus),
    _act("sin", torch.sin),
    _act("square", lambda x: x * x),
    _act("gelu", F.gelu),
    _act("gelu_tanh", lambda x: F.gelu(x, approximate="tanh")),
    _act("silu", F.silu),
    _act("elu", F.elu, analytic=False, symbolic=False),
    Case("add", elementwise, "add", ((3, 4), (3, 4)), torch.add, tiny=((1, 2), (1, 2))),
    Case("mul", elementwise, "mul", ((3, 4), (3, 4)), torch.mul, tiny=((1, 2), (1, 2))),
    Case(
        "flatten", shape, "flatten", ((2, 3, 4),), lambda x: torch.flatten(x, 1), tiny=((1, 2, 2),)
    ),
    Case(
        "split_heads",
        shape,
        "split_heads",
        ((2, 3, 6),),
        lambda x: x.reshape(2, 3, 2, 3).transpose(1, 2),
        {"heads": 2},
        tiny=((1, 2, 4),),
    ),
    Case(
        "merge_heads",
        shape,
        "merge_heads",
        ((2, 2, 3, 3),),
        lambda x: x.transpose(1, 2).reshape(2, 3, 6),
        tiny=((1, 2, 1, 2),),
    ),
    Case(
        "concat",
        shape,
        "concat",
        ((2, 3), (2, 2)),
        lambda a, b: torch.cat([a, b], 1),
        {"axis": 1},
        tiny=((1, 2), (1, 1)),
    ),
    Case(
        "concat-last",
        shape,
        "concat",
        ((2, 3, 2), (2, 3, 1), (2, 3, 2)),
        lambda a, b, c: torch.cat([a, b, c], -1),
        {"axis": -1},
        tiny=((1, 1, 1), (1, 1, 2), (1, 1, 1)),
    ),
    Case(
        "stack",
        shape,
        "stack",
        ((2, 3), (2, 3)),
        lambda a, b: torch.stack([a, b], 1),
        {"axis": 1},
        tiny=((1, 2), (1, 2)),
    ),
    Case(
        "stack-last",
        shape,
        "stack",
        ((2, 3), (2, 3), (2, 3)),
        lambda a, b, c: torch.stack([a, b, c], -1),
        {"axis": -1},
        tiny=((1, 2), (1, 2), (1, 2)),
    ),
    _loss("mse", (3, 4), "mean", _mse, "normal"),
    _loss("mse", (2, 3, 4), "sum", _mse, "normal"),
    _loss("cross_entropy", (3, 4), "mean", _ce, "prob"),
    _loss("cross_entropy", (2, 3, 4), "sum", _ce, "prob"),
    _loss("bce", (3, 4), "mean", _bce, "unit"),
    _loss("bce", (2, 2, 3), "sum", _bce, "unit"),
]
IDS = [c.id for c in CASES]


def _draw(kind: str, shp: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if kind == "unit":
        return rng.uniform(0.05, 0.95, shp)
    if kind == "prob":
        e = rng.uniform(0.1, 1.0, shp)
        return e / e.sum(axis=-1, keepdims=True)
    z = rng.normal(size=shp)
    return np.where(np.abs(z) < 0.05, z + np.sign(z + 1e-300) * 0.1, z)  # away from kinks


def _inputs(case: Case, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [_draw(case.kind(k), s, rng) for k, s in enumerate(case.shapes)]


def _rel_error(got: np.ndarray, want: np.ndarray) -> float:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, (got.shape, want.shape)
    if got.size == 0:
        return 0.0
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def _torch(case: Case, arrays: list[np.ndarray], grad_out: np.ndarray | None = None):
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out = case.reference(*tensors)
    if grad_out is None:
        return out.detach().numpy(), None
    out.backward(torch.tensor(grad_out, dtype=torch.float64))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_torch(case: Case) -> None:
    arrays = _inputs(case)
    out, _ = case.forward(NUMPY, *arrays)
    want, _ = _torch(case, arrays)
    assert _rel_error(out, want) <= REL


_Z = np.zeros


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: dense.linear_forward(NUMPY, _Z((2, 3)), _Z((4, 5))), "last axis of size 5"),
        (lambda: dense.linear_forward(NUMPY, _Z((2, 3)), _Z((4, 3)), _Z(3)), "bias has shape"),
        (
            lambda: dense.expert_linear_forward(
                NUMPY, _Z((2, 3)), _Z((2, 4, 3)), shared_input=False
            ),
            "must end in (2, 3)",
        ),
        (
            lambda: dense.expert_linear_forward(NUMPY, _Z((2, 3)), _Z((2, 4, 3)), shared_input=1),
            "shared_input=1",
        ),
        (lambda: conv.conv2d_forward(NUMPY, _Z((1, 2, 4, 4)), _Z((1, 3, 2, 2))), "2 channels"),
        (
            lambda: conv.conv2d_forward(NUMPY, _Z((1, 1, 4, 4)), _Z((1, 1, 2, 2)), stride=0),
            "stride=0",
        ),
        (
            lambda: conv.conv2d_forward(NUMPY, _Z((1, 1, 4, 4)), _Z((1, 1, 2, 2)), padding=(1,)),
            "padding=(1,)",
        ),
        (lambda: conv.conv1d_forward(NUMPY, _Z((1, 1, 2)), _Z((1, 1, 3))), "does not fit"),
        (lambda: conv.conv1d_forward(NUMPY, _Z((1, 1, 4)), _Z((1, 1, 3)), stride=1.5), "stride"),
        (lambda: pool.max_pool2d_forward(NUMPY, _Z((1, 1, 4)), kernel=2), "4 axes"),
        (lambda: pool.avg_pool2d_forward(NUMPY, _Z((1, 1, 4, 4)), kernel=5), "does not fit"),
        (lambda: pool.mean_forward(NUMPY, _Z((2, 3)), axis=0), "sample axis 0"),
        (lambda: pool.mean_forward(NUMPY, _Z((2, 3)), axis=-2), "sample axis 0"),
        (lambda: pool.mean_forward(NUMPY, _Z((2, 3)), axis=2), "axis=2"),
        (lambda: elementwise.activation_forward(NUMPY, _Z(2), name="gelux"), "'gelu'"),
        (lambda: elementwise.activation_forward(NUMPY, _Z(2), name="sigma"), "'sigma'"),
        (lambda: elementwise.activation_forward(NUMPY, _Z(2), name="leaky_relu(2)"), "slope"),
        (lambda: elementwise.add_forward(NUMPY, _Z((2, 3)), _Z((3, 2))), "(2, 3) and (3, 2)"),
        (lambda: shape.split_heads_forward(NUMPY, _Z((1, 2, 6)), heads=4), "heads=4"),
        (lambda: shape.split_heads_forward(NUMPY, _Z((1, 2, 6)), heads=0), "heads=0"),
        (lambda: shape.concat_forward(NUMPY, _Z((2, 3)), _Z((3, 3)), axis=1), "except along"),
        (lambda: shape.stack_forward(NUMPY, _Z((2, 3)), _Z((2, 2)), axis=1), "all must agree"),
        (lambda: shape.stack_forward(NUMPY, _Z((2, 3)), axis=0), "sample axis 0"),
        (lambda: shape.concat_forward(NUMPY, axis=1), "no arrays"),
        (lambda: loss.mse_forward(NUMPY, _Z((2, 3)), _Z((2, 2))), "target has shape"),
        (lambda: loss.bce_forward(NUMPY, _Z(3), _Z(3)), "sample axis"),
        (
            lambda: loss.cross_entropy_forward(NUMPY, _Z((2, 3)), _Z((2, 3)), reduction="avg"),
            "'avg'",
        ),
    ],
)
def test_invalid_arguments_name_the_bad_value(call, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        call()
    assert fragment in str(info.value)


# ---------------------------------------------------------------- backward, NumPy

_CS_STEP = 1e-30
_CD_REL = 1e-7  # central differences: h^2 truncation and eps/h rounding, h = 1e-6


def _upstream(case: Case, arrays: list[np.ndarray], seed: int = 1) -> np.ndarray:
    out, _ = case.forward(NUMPY, *arrays)
    return np.random.default_rng(seed).normal(size=np.shape(out))


def _contraction(case: Case, arrays: list[np.ndarray], grad_out: np.ndarray):
    out, _ = case.forward(NUMPY, *arrays)
    return np.sum(grad_out * out)


def _numeric_gradients(case: Case, arrays: list[np.ndarray], grad_out: np.ndarray):
    """Complex-step (analytic kernels) or central-difference gradients of sum(g * out)."""
    grads = []
    for k, a in enumerate(arrays):
        grad = np.empty(a.shape)
        for index in np.ndindex(*a.shape):
            if case.analytic:
                moved = [x.astype(complex) for x in arrays]
                moved[k][index] += _CS_STEP * 1j
                grad[index] = _contraction(case, moved, grad_out).imag / _CS_STEP
            else:
                h = 1e-6 * max(1.0, abs(a[index]))
                up, down = [x.copy() for x in arrays], [x.copy() for x in arrays]
                up[k][index] += h
                down[k][index] -= h
                diff = _contraction(case, up, grad_out) - _contraction(case, down, grad_out)
                grad[index] = diff / (2 * h)
        grads.append(grad)
    return grads


def torch_backward_error(case: Case, backward: Callable) -> float:
    """Worst relative error of ``backward`` against torch autograd."""
    arrays = _inputs(case)
    grad_out = _upstream(case, arrays)
    _, cache = case.forward(NUMPY, *arrays)
    got = backward(NUMPY, cache, grad_out)
    _, want = _torch(case, arrays, grad_out)
    assert len(got) == len(want)
    return max(_rel_error(g, w) for g, w in zip(got, want))


def numeric_backward_error(case: Case, backward: Callable) -> float:
    """Worst error of ``backward`` against the complex step / central differences,
    in units of the method's tolerance."""
    arrays = _inputs(case, seed=2)
    grad_out = _upstream(case, arrays, seed=3)
    _, cache = case.forward(NUMPY, *arrays)
    got = backward(NUMPY, cache, grad_out)
    want = _numeric_gradients(case, arrays, grad_out)
    tolerance = REL if case.analytic else _CD_REL
    return max(_rel_error(g, w) for g, w in zip(got, want)) / tolerance


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_matches_torch_autograd(case: Case) -> None:
    assert torch_backward_error(case, case.backward) <= REL


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_matches_complex_step_or_central_differences(case: Case) -> None:
    assert numeric_backward_error(case, case.backward) <= 1.0


def _case(case_id: str) -> Case:
    return CASES[IDS.index(case_id)]


def _wrong(mutate: Callable[[tuple], tuple]) -> Callable[[Case], Callable]:
    return lambda case: lambda xp, cache, g: mutate(case.backward(xp, cache, g))


# Deliberately wrong backward passes, each a classic slip.
WRONG = {
    "linear-square-transposed-weight": (
        Case("linear-sq", dense, "linear", ((3, 4), (4, 4)), F.linear),
        _wrong(lambda gs: (gs[0], gs[1].T)),
    ),
    "conv2d-flipped-kernel-gradient": (
        _case("conv2d-stride-pad"),
        _wrong(lambda gs: (gs[0], gs[1][..., ::-1, ::-1], gs[2])),
    ),
    "conv1d-padding-kept-in-input-gradient": (
        _case("conv1d-stride-pad"),
        _wrong(lambda gs: (np.roll(gs[0], 1, axis=2), *gs[1:])),
    ),
    "expert_linear-bias-gradient-of-one-expert": (
        _case("expert_linear-shared"),
        _wrong(lambda gs: (*gs[:2], np.repeat(gs[2][:1], 2, axis=0))),
    ),
    "avg_pool2d-missing-1/k": (_case("avg_pool2d-overlap"), _wrong(lambda gs: (gs[0] * 6,))),
    "mean-missing-1/n": (_case("mean-1"), _wrong(lambda gs: (gs[0] * 3,))),
    "gelu-missing-density-term": (  # Phi(z) alone, without z phi(z)
        _case("activation-gelu"),
        lambda case: (
            lambda xp, cache, g: (
                g * elementwise.ELEMENTWISE["gelu"].value(xp, cache[1]) / cache[1],
            )
        ),
    ),
    "split_heads-reshape-without-transpose": (
        _case("split_heads"),
        lambda case: lambda xp, cache, g: (g.reshape(2, 3, 6),),
    ),
    "cross_entropy-mean-missing-1/B": (
        _case("cross_entropy-mean-2d"),
        _wrong(lambda gs: (gs[0] * 3, gs[1])),
    ),
    "bce-target-gradient-sign": (_case("bce-sum-3d"), _wrong(lambda gs: (gs[0], -gs[1]))),
    "stack-pieces-swapped": (_case("stack"), _wrong(lambda gs: gs[::-1])),
}


@pytest.mark.parametrize("checker", [torch_backward_error, numeric_backward_error])
@pytest.mark.parametrize("slip", sorted(WRONG))
def test_a_wrong_backward_is_caught(slip: str, checker: Callable) -> None:
    case, make = WRONG[slip]
    limit = REL if checker is torch_backward_error else 1.0
    assert checker(case, case.backward) <= limit
    assert checker(case, make(case)) > 100 * limit


def _max_pool_ties() -> np.ndarray:
    x = np.array([[1.0, 1.0, 0.0, 2.0], [1.0, 0.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0]])
    return np.stack([x, -x])[None]  # (1, 2, 3, 4): repeated maxima in every window


def _last_maximum_pool(xp, cache, grad_out):
    """The slip: ties broken towards the last maximum (pool the reversed input)."""
    reversed_input = _max_pool_ties()[..., ::-1, ::-1].copy()
    _, reversed_cache = pool.max_pool2d_forward(xp, reversed_input, kernel=2, stride=1)
    (grad,) = pool.max_pool2d_backward(xp, reversed_cache, grad_out[..., ::-1, ::-1])
    return (grad[..., ::-1, ::-1],)


@pytest.mark.parametrize(
    ("backward", "agrees"),
    [(pool.max_pool2d_backward, True), (_last_maximum_pool, False)],
    ids=["first-maximum", "last-maximum-slip"],
)
def test_max_pool_ties_send_the_gradient_to_the_first_maximum(backward, agrees: bool) -> None:
    x = _max_pool_ties()
    out, cache = pool.max_pool2d_forward(NUMPY, x, kernel=2, stride=1)
    grad_out = np.arange(1.0, out.size + 1).reshape(out.shape)
    t = torch.tensor(x, requires_grad=True)
    F.max_pool2d(t, 2, stride=1).backward(torch.tensor(grad_out))
    (grad,) = backward(NUMPY, cache, grad_out)
    assert np.array_equal(grad, t.grad.numpy()) is agrees


@pytest.mark.parametrize(
    ("name", "reference", "slope"),
    [
        ("relu", F.relu, 0.0),
        ("leaky_relu", lambda x: F.leaky_relu(x, 0.01), 0.01),
        ("leaky_relu(1/5)", lambda x: F.leaky_relu(x, 0.2), 0.2),
        ("elu", F.elu, 1.0),
    ],
)
@pytest.mark.parametrize("xp", [NUMPY, SYMPY], ids=["numpy", "sympy"])
def test_derivative_at_the_kink_follows_the_registry_and_torch(xp, name, reference, slope) -> None:
    zero = xp.array(np.zeros((1, 1)))
    _, cache = elementwise.activation_forward(xp, zero, name=name)
    (grad,) = elementwise.activation_backward(xp, cache, xp.array(np.ones((1, 1))))
    t = torch.zeros((1, 1), dtype=torch.float64, requires_grad=True)
    reference(t).sum().backward()
    assert float(grad[0, 0]) == slope == t.grad.item()


# ---------------------------------------------------------------- SymPy backend


def _rational(kind: str, shp: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A rational point of one input (object array of sympy.Rational)."""
    if kind == "normal":
        nums = rng.choice([n for n in range(-15, 16) if n], size=shp)
        return np.vectorize(lambda n: sp.Rational(int(n), 7), otypes=[object])(nums)
    nums = rng.integers(1, 10, size=shp)
    point = np.vectorize(lambda n: sp.Rational(int(n), 10), otypes=[object])(nums)
    return point / point.sum(axis=-1, keepdims=True) if kind == "prob" else point


def _symbols(prefix: str, shp: tuple[int, ...]) -> np.ndarray:
    flat = [sp.Symbol(f"{prefix}{i}", real=True) for i in range(int(np.prod(shp)))]
    return np.array(flat, dtype=object).reshape(shp)


def _floats(a: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: float(sp.sympify(v).evalf(30)), otypes=[float])(a)


def _at(a: np.ndarray, point: dict) -> np.ndarray:
    return np.vectorize(lambda v: sp.sympify(v).xreplace(point), otypes=[object])(a)


@dataclass(frozen=True)
class SymbolicRun:
    """A SymPy forward pass on a tiny shape, and the rational point to judge it at."""

    inputs: list[np.ndarray]  # symbols (or the rational point for branchy kernels)
    point: dict  # symbol -> rational (empty for branchy kernels)
    rationals: list[np.ndarray]
    out: np.ndarray
    cache: tuple


def _symbolic_run(case: Case) -> SymbolicRun:
    rng = np.random.default_rng(5)
    shapes = case.tiny or case.shapes
    rationals = [_rational(case.kind(k), s, rng) for k, s in enumerate(shapes)]
    if case.symbolic:
        inputs = [_symbols(f"v{k}_", s) for k, s in enumerate(shapes)]
        point = {v: r for a, q in zip(inputs, rationals) for v, r in zip(a.flat, q.flat)}
    else:
        inputs, point = rationals, {}
    out, cache = case.forward(SYMPY, *inputs)
    return SymbolicRun(inputs, point, rationals, np.asarray(out, dtype=object), cache)


def _vanishes(expr: sp.Expr, point: dict) -> bool:
    """Exactly zero after expansion, or (transcendental) zero at a rational point."""
    if sp.expand(expr) == 0:
        return True
    return abs(complex(expr.xreplace(point).evalf(40))) < 1e-25


def sympy_backward_failures(case: Case, backward: Callable) -> int:
    """Entries where ``backward`` on SymPy differs from sympy.diff of sum(g * out)
    (branchy kernels: from the NumPy backward at the same rational point)."""
    run = _symbolic_run(case)
    grad_symbols = _symbols("g", run.out.shape)
    grads = backward(SYMPY, run.cache, grad_symbols)
    if not case.symbolic:
        g_point = _rational("normal", run.out.shape, np.random.default_rng(6))
        at_point = backward(SYMPY, run.cache, g_point)
        _, cache = case.forward(NUMPY, *[_floats(a) for a in run.rationals])
        want = case.backward(NUMPY, cache, _floats(g_point))
        return sum(_rel_error(_floats(g), w) > REL for g, w in zip(at_point, want))
    g_values = _rational("normal", run.out.shape, np.random.default_rng(6))
    point = run.point | dict(zip(grad_symbols.flat, g_values.flat))
    contraction = sp.Add(*[g * o for g, o in zip(grad_symbols.flat, run.out.flat)])
    failures = 0
    for symbols, grad in zip(run.inputs, grads):
        assert np.shape(grad) == symbols.shape
        for v, got in zip(symbols.flat, np.asarray(grad, dtype=object).flat):
            failures += not _vanishes(sp.diff(contraction, v) - got, point)
    return failures


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sympy_forward_equals_numpy_forward_at_a_rational_point(case: Case) -> None:
    run = _symbolic_run(case)
    got = _floats(_at(run.out, run.point))
    want, _ = case.forward(NUMPY, *[_floats(a) for a in run.rationals])
    assert _rel_error(got, want) <= REL


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sympy_backward_equals_sympy_diff(case: Case) -> None:
    assert sympy_backward_failures(case, case.backward) == 0


@pytest.mark.parametrize(
    "slip", ["linear-square-transposed-weight", "mean-missing-1/n", "gelu-missing-density-term"]
)
def test_a_wrong_backward_is_caught_on_sympy(slip: str) -> None:
    case, make = WRONG[slip]
    assert sympy_backward_failures(case, case.backward) == 0
    assert sympy_backward_failures(case, make(case)) > 0


@pytest.mark.parametrize(
    "call",
    [
        lambda x: pool.max_pool2d_forward(SYMPY, x, kernel=2),
        lambda x: elementwise.activation_forward(SYMPY, x, name="elu"),
    ],
    ids=["max_pool2d", "elu"],
)
def test_sympy_refuses_to_branch_on_an_undecided_sign(call) -> None:
    with pytest.raises(ValueError, match="not decided exactly"):
        call(_symbols("x", (1, 1, 2, 2)))


def test_sympy_branches_where_the_sign_is_decided() -> None:
    t = sp.Symbol("t", positive=True)
    x = np.array([t, -t, 1 + t, sp.Integer(0)], dtype=object).reshape(1, 1, 2, 2)
    out, cache = pool.max_pool2d_forward(SYMPY, x, kernel=2)
    (grad,) = pool.max_pool2d_backward(SYMPY, cache, np.array([[[[sp.Integer(5)]]]], dtype=object))
    assert out[0, 0, 0, 0] == 1 + t
    assert grad.ravel().tolist() == [0, 0, 5, 0]


# ---------------------------------------------------------------- window geometry, drawn


def _geometry_case(draw, *, conv_layer: bool) -> tuple[Case, list[np.ndarray]]:
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2))) if conv_layer else (0, 0)
    height = draw(st.integers(max(1, kernel[0] - 2 * pad[0]), 6))
    width = draw(st.integers(max(1, kernel[1] - 2 * pad[1]), 6))
    batch, channels = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    x_shape = (batch, channels, height, width)
    if conv_layer:
        w_shape = (draw(st.integers(1, 3)), channels, *kernel)
        shapes = (x_shape, w_shape, w_shape[:1]) if draw(st.booleans()) else (x_shape, w_shape)
        case = Case(
            "conv2d-drawn",
            conv,
            "conv2d",
            shapes,
            lambda *a: F.conv2d(*a, stride=stride, padding=pad),
            {"stride": stride, "padding": pad},
        )
    else:
        op = draw(st.sampled_from(["avg_pool2d", "max_pool2d"]))
        reference = getattr(F, op)
        case = Case(
            op,
            pool,
            op,
            (x_shape,),
            lambda x: reference(x, kernel, stride=stride),
            {"kernel": kernel, "stride": stride},
        )
    return case, _inputs(case, seed=draw(st.integers(0, 2**16)))


@given(data=st.data(), conv_layer=st.booleans())
def test_drawn_window_geometry_matches_torch(data, conv_layer: bool) -> None:
    case, arrays = _geometry_case(data.draw, conv_layer=conv_layer)
    out, cache = case.forward(NUMPY, *arrays)
    grad_out = np.random.default_rng(0).normal(size=out.shape)
    want, want_grads = _torch(case, arrays, grad_out)
    assert _rel_error(out, want) <= REL
    got = case.backward(NUMPY, cache, grad_out)
    assert len(got) == len(want_grads)
    assert all(_rel_error(g, w) <= REL for g, w in zip(got, want_grads))
