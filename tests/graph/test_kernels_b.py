"""Graph kernels, family B: norm, embedding, attention, moe.

Every kernel is checked three ways, and each checker has a sibling showing it
rejects a deliberately wrong backward pass:

* NumPy backend against torch (forward, and backward against autograd), float64;
* NumPy backward against the complex step, Im f(x + ih e_j)/h;
* SymPy backend on a tiny shape with symbols: the forward equals NumPy's at a
  rational point, and the backward equals ``sympy.diff`` of the scalar
  contraction ``sum(out * G)`` with a symbolic ``G``, exactly (``expand`` or
  ``cancel``) for algebraic kernels and to 50 digits at a rational point for
  the transcendental ones (softmax, sdpa, rope).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from types import ModuleType

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import NUMPY, SYMPY
from symcheck.graph.kernels import attention, embedding, moe, norm

EPS = Fraction(1, 100000)
RTOL = 1e-12
STEP = 1e-30


@dataclass(frozen=True)
class Case:
    """One kernel configuration with its torch reference."""

    name: str
    module: ModuleType  # the kernel family
    op: str
    make: Callable[[np.random.Generator, bool], list]  # (rng, tiny) -> arrays
    torch_fn: Callable  # tensors -> tensor, same arrays in the same order
    attrs: dict = field(default_factory=dict)
    grad_reference: Callable | None = None  # differentiable torch form when torch_fn is not

    @property
    def forward(self) -> Callable:
        return getattr(self.module, f"{self.op}_forward")

    @property
    def backward(self) -> Callable:
        return getattr(self.module, f"{self.op}_backward")

    @property
    def transcendental(self) -> bool:
        """exp/cos/sin in the SymPy form: compared at a rational point, not expanded."""
        return self.module is attention


def _normal(rng: np.random.Generator, *shapes: tuple[int, ...]) -> list:
    return [rng.standard_normal(shape) for shape in shapes]


def _norm_make(arity: int) -> Callable:
    def make(rng: np.random.Generator, tiny: bool) -> list:
        shape = (2, 3) if tiny else (2, 3, 5)
        return _normal(rng, shape, *[shape[-1:]] * arity)

    return make


def _batch_norm_make(rng: np.random.Generator, tiny: bool) -> list:
    x, w, b, m = _normal(rng, (2, 2) if tiny else (2, 3, 2, 2), *[(2 if tiny else 3,)] * 3)
    return [x, w, b, m, rng.uniform(0.5, 2.0, w.shape)]


def _batch_norm_explicit(x, w, b, m, v):
    column = (-1,) + (1,) * (x.dim() - 2)
    eps = float(EPS)
    return (x - m.reshape(column)) / torch.sqrt(v.reshape(column) + eps) * w.reshape(
        column
    ) + b.reshape(column)


def _embedding_make(rng: np.random.Generator, tiny: bool) -> list:
    vocab, dim = (3, 2) if tiny else (5, 3)
    ids = np.array([[0, 2, 0]]) if tiny else np.array([[1, 4, 1, 0], [4, 4, 2, 1]])
    return [ids, rng.standard_normal((vocab, dim))]


def _sdpa_make(heads: int, kv_heads: int, extra_value_dims: int = 0) -> Callable:
    """q, k, v; ``extra_value_dims`` makes v's last dim E exceed the query-key dim D."""

    def make(rng: np.random.Generator, tiny: bool) -> list:
        steps, keys, dim = (2, 2, 2) if tiny else (3, 4, 3)
        batch = 1 if tiny else 2
        h, h_kv = (
            (1, 1) if tiny and heads == kv_heads else (heads, kv_heads)
        )  # SymPy: keep it small
        k_shape = (batch, h_kv, keys, dim)
        v_shape = (batch, h_kv, keys, dim + extra_value_dims)
        return _normal(rng, (batch, h, steps, dim), k_shape, v_shape)

    return make


def _rope_reference(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate-half RoPE written from the formulas (Su et al. 2021, Llama layout)."""
    steps, dim = x.shape[-2:]
    inv_freq = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.arange(steps, dtype=torch.float64)[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    rotated = torch.cat([-x[..., dim // 2 :], x[..., : dim // 2]], dim=-1)
    return x * angles.cos() + rotated * angles.sin()


def _sdpa_torch(causal: bool, scale: object = None) -> Callable:
    def fn(q, k, v):
        return F.scaled_dot_product_attention(
            q,
            k,
            v,
            is_causal=causal,
            enable_gqa=True,
            scale=None if scale is None else float(scale),
        )

    return fn


CASES = [
    Case(
        "layer_norm",
        norm,
        "layer_norm",
        _norm_make(0),
        lambda x: F.layer_norm(x, x.shape[-1:], eps=float(EPS)),
    ),
    Case(
        "layer_norm_weight",
        norm,
        "layer_norm",
        _norm_make(1),
        lambda x, w: F.layer_norm(x, x.shape[-1:], w, None, eps=float(EPS)),
    ),
    Case(
        "layer_norm_affine",
        norm,
        "layer_norm",
        _norm_make(2),
        lambda x, w, b: F.layer_norm(x, x.shape[-1:], w, b, eps=1e-3),
        attrs={"eps": Fraction(1, 1000)},
    ),
    Case(
        "rms_norm",
        norm,
        "rms_norm",
        _norm_make(0),
        lambda x: F.rms_norm(x, x.shape[-1:], eps=float(EPS)),
    ),
    Case(
        "rms_norm_weight",
        norm,
        "rms_norm",
        _norm_make(1),
        lambda x, w: F.rms_norm(x, x.shape[-1:], w, eps=float(EPS)),
    ),
    Case(
        "batch_norm",
        norm,
        "batch_norm",
        _batch_norm_make,
        lambda x, w, b, m, v: F.batch_norm(x, m, v, w, b, training=False, eps=float(EPS)),
        grad_reference=_batch_norm_explicit,
    ),
    Case(
        "embedding",
        embedding,
        "embedding",
        _embedding_make,
        F.embedding,
    ),
    Case(
        "softmax",
        attention,
        "softmax",
        lambda rng, tiny: _normal(rng, (2, 3) if tiny else (2, 3, 4)),
        lambda x: F.softmax(x, dim=-1),
    ),
    Case(
        "softmax_axis1",
        attention,
        "softmax",
        lambda rng, tiny: _normal(rng, (2, 3) if tiny else (2, 3, 4)),
        lambda x: F.softmax(x, dim=1),
        attrs={"axis": 1},
    ),
    Case(
        "sdpa",
        attention,
        "sdpa",
        _sdpa_make(2, 2),
        _sdpa_torch(False),
    ),
    Case(
        "sdpa_causal_gqa",
        attention,
        "sdpa",
        _sdpa_make(4, 2),
        _sdpa_torch(True),
        attrs={"causal": True},
    ),
    Case(
        "sdpa_gqa_scale",
        attention,
        "sdpa",
        _sdpa_make(2, 1),
        _sdpa_torch(False, Fraction(3, 4)),
        attrs={"scale": Fraction(3, 4)},
    ),
    Case(
        "sdpa_value_dim",
        attention,
        "sdpa",
        _sdpa_make(2, 1, extra_value_dims=1),
        _sdpa_torch(True),
        attrs={"causal": True},
    ),
    Case(
        "rope",
        attention,
        "rope",
        lambda rng, tiny: _normal(rng, (1, 1, 2, 4) if tiny else (2, 2, 3, 6)),
        _rope_reference,
    ),
    Case(
        "rope_base",
        attention,
        "rope",
        lambda rng, tiny: _normal(rng, (1, 1, 2, 2) if tiny else (1, 2, 4, 4)),
        lambda x: _rope_reference(x, 100.0),
        attrs={"base": 100},
    ),
    Case(
        "moe_combine",
        moe,
        "moe_combine",
        lambda rng, tiny: _normal(
            rng, *(((1, 2), (1, 2, 2)) if tiny else ((2, 3, 4), (2, 3, 4, 5)))
        ),
        lambda a, y: torch.einsum("...e,...ed->...d", a, y),
    ),
]
BY_NAME = {case.name: case for case in CASES}


def _is_float(a: np.ndarray) -> bool:
    return a.dtype.kind == "f"


def _assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    error = float(np.max(np.abs(got - want), initial=0.0))
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1e-300)
    assert error <= RTOL * scale, f"{what}: error {error:.3e} > {RTOL} * {scale:.3e}"


def _setup(case: Case, seed: int = 0, tiny: bool = False) -> tuple[list, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = case.make(rng, tiny)
    out, _ = case.forward(NUMPY, *arrays, **case.attrs)
    return arrays, rng.standard_normal(out.shape)


# --- checkers ------------------------------------------------------------


def check_against_torch(case: Case, backward: Callable) -> None:
    arrays, grad_out = _setup(case)
    _, cache = case.forward(NUMPY, *arrays, **case.attrs)
    grads = backward(NUMPY, cache, grad_out)
    tensors = [
        torch.tensor(a, requires_grad=_is_float(a)) if _is_float(a) else torch.tensor(a)
        for a in arrays
    ]
    (case.grad_reference or case.torch_fn)(*tensors).mul(torch.tensor(grad_out)).sum().backward()
    assert len(grads) == len(arrays)
    for i, (grad, t) in enumerate(zip(grads, tensors)):
        if t.grad is None:
            assert grad is None, f"array {i} is an integer input; its gradient must be None"
        else:
            _assert_close(grad, t.grad.numpy(), f"{case.name} gradient {i}")


def check_against_complex_step(case: Case, backward: Callable) -> None:
    arrays, grad_out = _setup(case, seed=1)
    _, cache = case.forward(NUMPY, *arrays, **case.attrs)
    grads = backward(NUMPY, cache, grad_out)
    for i, a in enumerate(arrays):
        if not _is_float(a):
            continue
        reference = np.empty(a.shape)
        for index in np.ndindex(a.shape):
            shifted = a.astype(complex)
            shifted[index] += STEP * 1j
            out, _ = case.forward(NUMPY, *arrays[:i], shifted, *arrays[i + 1 :], **case.attrs)
            reference[index] = np.sum(out * grad_out).imag / STEP
        _assert_close(grads[i], reference, f"{case.name} gradient {i} (complex step)")


def _symbolic(arrays: list) -> tuple[list, dict]:
    """Symbol arrays for the float arrays and a rational point near their values."""
    symbolic, point = [], {}
    for i, a in enumerate(arrays):
        if not _is_float(a):
            symbolic.append(a)
            continue
        symbols = np.empty(a.shape, dtype=object)
        for index in np.ndindex(a.shape):
            s = sp.Symbol(f"a{i}_" + "_".join(map(str, index)))
            symbols[index] = s
            point[s] = sp.Rational(round(float(a[index]) * 8), 8)
        symbolic.append(symbols)
    return symbolic, point


def _at(expr: sp.Expr, point: dict) -> sp.Float:
    """The value at a rational point to 50 digits (the dyadic point is exact as a Float)."""
    exact = {s: sp.Float(v, 60) for s, v in point.items()}
    return sp.sympify(expr).xreplace(exact).evalf(50)


def check_sympy_backward(case: Case, backward: Callable) -> None:
    arrays, _ = _setup(case, tiny=True)
    symbolic, point = _symbolic(arrays)
    out, cache = case.forward(SYMPY, *symbolic, **case.attrs)
    grad_out = np.empty(out.shape, dtype=object)
    for index in np.ndindex(out.shape):
        grad_out[index] = sp.Symbol("g_" + "_".join(map(str, index)))
        point[grad_out[index]] = sp.Rational(len(point) % 7 - 3, 4)
    scalar = sp.Add(*(out * grad_out).reshape(-1))
    grads = backward(SYMPY, cache, grad_out)
    assert len(grads) == len(arrays)
    for i, (grad, a) in enumerate(zip(grads, symbolic)):
        if not _is_float(arrays[i]):
            assert grad is None, f"array {i} is an integer input; its gradient must be None"
            continue
        assert grad.shape == a.shape, f"{case.name} gradient {i}: shape {grad.shape}"
        for index in np.ndindex(a.shape):
            residual = sp.diff(scalar, a[index]) - grad[index]
            where = f"{case.name} gradient {i} at {index}"
            if case.transcendental:
                assert abs(_at(residual, point)) < sp.Float(10) ** -40, where
            else:
                assert sp.expand(residual) == 0 or sp.cancel(residual) == 0, where


# --- the kernels pass -------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_forward_matches_torch(case: Case) -> None:
    arrays, _ = _setup(case)
    out, _ = case.forward(NUMPY, *arrays, **case.attrs)
    _assert_close(out, case.torch_fn(*map(torch.tensor, arrays)).numpy(), case.name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_backward_matches_torch(case: Case) -> None:
    check_against_torch(case, case.backward)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_backward_matches_complex_step(case: Case) -> None:
    check_against_complex_step(case, case.backward)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_sympy_forward_matches_numpy_at_a_rational_point(case: Case) -> None:
    arrays, _ = _setup(case, tiny=True)
    symbolic, point = _symbolic(arrays)
    out, _ = case.forward(SYMPY, *symbolic, **case.attrs)
    numeric = [
        np.vectorize(lambda s: float(point[s]), otypes=[float])(sym) if _is_float(a) else a
        for a, sym in zip(arrays, symbolic)
    ]
    want, _ = case.forward(NUMPY, *numeric, **case.attrs)
    got = np.vectorize(lambda e: float(_at(e, point)))(out)
    _assert_close(got, want, f"{case.name} (SymPy at a rational point)")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_sympy_backward_is_the_derivative(case: Case) -> None:
    check_sympy_backward(case, case.backward)


def test_batch_norm_reference_is_torch_batch_norm() -> None:
    """The explicit torch form used for the running-stat gradients is F.batch_norm."""
    arrays, grad_out = _setup(BY_NAME["batch_norm"])
    grads = []
    for fn in (BY_NAME["batch_norm"].torch_fn, _batch_norm_explicit):
        tensors = [torch.tensor(a, requires_grad=i < 3) for i, a in enumerate(arrays)]
        fn(*tensors).mul(torch.tensor(grad_out)).sum().backward()
        grads.append([t.grad.numpy() for t in tensors[:3]])
    for want, got in zip(*grads):
        _assert_close(got, want, "explicit batch norm")


def test_sympy_rope_keeps_exact_frequencies() -> None:
    """base^(-2i/D) stays exact: cos(t/100) for D=4, i=1, t=1, base 10000."""
    x = np.array([[[[0, 0, 0, 0], [0, 1, 0, 0]]]], dtype=object)
    out, _ = attention.rope_forward(SYMPY, SYMPY.array(x))
    assert out[0, 0, 1, 1] == sp.cos(sp.Rational(1, 100))
    assert out[0, 0, 1, 3] == sp.sin(sp.Rational(1, 100))


def test_causal_mask_gives_exact_zero_weights_in_sympy() -> None:
    q, k, v = (SYMPY.array(a) for a in _sdpa_make(1, 1)(np.random.default_rng(0), True))
    _, cache = attention.sdpa_forward(SYMPY, q, k, v, causal=True)
    weights = cache[3]
    assert weights[0, 0, 0, 1] == 0
    assert weights[0, 0, 0, 0] == 1


def test_numpy_softmax_and_causal_sdpa_do_not_overflow() -> None:
    """Logits near 1000 (exp overflows float64): NumPy subtracts the row maximum."""
    x = np.array([[[[1000.0, 999.0], [-1000.0, 1001.0]]]])
    (p, _), want = attention.softmax_forward(NUMPY, x), F.softmax(torch.tensor(x), dim=-1)
    _assert_close(p, want.numpy(), "softmax of large logits")
    out, _ = attention.sdpa_forward(NUMPY, x, x, x, causal=True, scale=1)
    want = F.scaled_dot_product_attention(*[torch.tensor(x)] * 3, is_causal=True, scale=1.0)
    _assert_close(out, want.numpy(), "causal sdpa of large scores")


# --- the checkers reject wrong backward passes -----------------------------


def _ln_without_projection(xp, cache, grad_out):
    """Layer norm backward that forgets the -xhat<d xhat> term."""
    _, r, weight, _ = cache
    d = grad_out * weight[0] if weight else grad_out
    dx = r * (d - norm._mean_last(xp, d))
    return (dx, *norm.layer_norm_backward(xp, cache, grad_out)[1:])


def _rms_weight_without_xhat(xp, cache, grad_out):
    dx, _ = norm.rms_norm_backward(xp, cache, grad_out)
    return dx, norm._sum_leading(grad_out)


def _bn_var_missing_half(xp, cache, grad_out):
    *rest, d_var = norm.batch_norm_backward(xp, cache, grad_out)
    return (*rest, d_var * xp.const(2))


def _embedding_overwrites(xp, cache, grad_out):
    """Assignment instead of accumulation: repeated ids lose gradients."""
    ids, table = cache
    d_table = xp.array(np.zeros_like(table))
    d_table[ids.reshape(-1)] = grad_out.reshape(-1, table.shape[1])
    return None, d_table


def _softmax_without_centring(xp, cache, grad_out):
    p, _ = cache
    return (p * grad_out,)


def _sdpa_interleaved_groups(xp, cache, grad_out):
    """GQA gradients folded in the wrong order (head h -> kv head h % H_kv)."""
    d_q, _, _ = attention.sdpa_backward(xp, cache, grad_out)
    group = cache[-1]
    _, d_keys, d_values = attention.sdpa_backward(xp, (*cache[:-1], 1), grad_out)  # per query head
    batch, heads = d_keys.shape[:2]

    def fold(a):
        return a.reshape(batch, group, heads // group, *a.shape[2:]).sum(axis=1)

    return d_q, fold(d_keys), fold(d_values)


def _sdpa_key_gradient_unscaled(xp, cache, grad_out):
    d_q, d_k, d_v = attention.sdpa_backward(xp, cache, grad_out)
    return d_q, d_k / cache[4], d_v


def _rope_rotates_forward(xp, cache, grad_out):
    """Applies the rotation again instead of its transpose."""
    cos, sin = cache
    return (grad_out * cos + attention._rotate_half(grad_out * sin, 1),)


def _moe_gates_from_wrong_axis(xp, cache, grad_out):
    _, y = cache
    _, d_y = moe.moe_combine_backward(xp, cache, grad_out)
    return np.einsum("...d,...ed->...e", grad_out, y[..., ::-1, :]), d_y


BROKEN = [
    ("layer_norm_affine", _ln_without_projection),
    ("rms_norm_weight", _rms_weight_without_xhat),
    ("batch_norm", _bn_var_missing_half),
    ("embedding", _embedding_overwrites),
    ("softmax", _softmax_without_centring),
    ("sdpa_causal_gqa", _sdpa_interleaved_groups),
    ("sdpa_gqa_scale", _sdpa_key_gradient_unscaled),
    ("rope", _rope_rotates_forward),
    ("moe_combine", _moe_gates_from_wrong_axis),
]
BROKEN_IDS = [f"{name}-{fn.__name__.lstrip('_')}" for name, fn in BROKEN]


@pytest.mark.parametrize(("name", "backward"), BROKEN, ids=BROKEN_IDS)
def test_torch_check_rejects_a_wrong_backward(name: str, backward: Callable) -> None:
    with pytest.raises(AssertionError):
        check_against_torch(BY_NAME[name], backward)


@pytest.mark.parametrize(("name", "backward"), BROKEN, ids=BROKEN_IDS)
def test_complex_step_check_rejects_a_wrong_backward(name: str, backward: Callable) -> None:
    with pytest.raises(AssertionError):
        check_against_complex_step(BY_NAME[name], backward)


@pytest.mark.parametrize(("name", "backward"), BROKEN, ids=BROKEN_IDS)
def test_sympy_check_rejects_a_wrong_backward(name: str, backward: Callable) -> None:
    with pytest.raises(AssertionError):
        check_sympy_backward(BY_NAME[name], backward)


# --- bad input: one clear InvalidArgument ------------------------------------

BAD_INPUTS = [
    ("layer_norm weight shape", norm.layer_norm_forward, [(2, 3), (4,)], {}, "shape (3,)"),
    ("layer_norm eps", norm.layer_norm_forward, [(2, 3)], {"eps": 0}, "eps=0"),
    ("layer_norm empty axis", norm.layer_norm_forward, [(2, 0)], {}, "size >= 1"),
    ("rms_norm arity", norm.rms_norm_forward, [(2, 3), (3,), (3,)], {}, "at most 1"),
    (
        "batch_norm stats",
        norm.batch_norm_forward,
        [(2, 3), (3,), (3,), (3,), (2,)],
        {},
        "running_var",
    ),
    ("softmax axis", attention.softmax_forward, [(2, 3)], {"axis": 2}, "axis=2"),
    (
        "sdpa heads",
        attention.sdpa_forward,
        [(1, 3, 2, 2), (1, 2, 2, 2), (1, 2, 2, 2)],
        {},
        "multiple",
    ),
    (
        "sdpa dim",
        attention.sdpa_forward,
        [(1, 2, 2, 2), (1, 2, 2, 3), (1, 2, 2, 3)],
        {},
        "k has shape",
    ),
    (
        "sdpa v positions",
        attention.sdpa_forward,
        [(1, 2, 2, 2), (1, 2, 3, 2), (1, 2, 2, 2)],
        {},
        "v has shape",
    ),
    (
        "sdpa no keys",
        attention.sdpa_forward,
        [(1, 1, 2, 2), (1, 1, 0, 2), (1, 1, 0, 2)],
        {},
        "S >= 1",
    ),
    ("sdpa scale", attention.sdpa_forward, [(1, 1, 2, 2)] * 3, {"scale": "big"}, "scale='big'"),
    ("rope odd", attention.rope_forward, [(1, 1, 2, 3)], {}, "D=3"),
    ("rope base", attention.rope_forward, [(1, 1, 2, 2)], {"base": 1}, "base=1"),
    ("moe shape", moe.moe_combine_forward, [(2, 3), (2, 4, 5)], {}, "y has shape"),
]


@pytest.mark.parametrize(
    ("forward", "shapes", "attrs", "named"),
    [b[1:] for b in BAD_INPUTS],
    ids=[b[0] for b in BAD_INPUTS],
)
def test_bad_input_is_refused_with_a_clear_message(forward, shapes, attrs, named) -> None:
    arrays = [np.ones(shape) for shape in shapes]
    with pytest.raises(InvalidArgument, match=named.replace("(", r"\(").replace(")", r"\)")):
        forward(NUMPY, *arrays, **attrs)


@pytest.mark.parametrize(
    ("ids", "named"), [(np.array([[0, 3]]), "token id 3"), (np.array([[0.0, 1.0]]), "integer")]
)
def test_embedding_refuses_bad_ids(ids: np.ndarray, named: str) -> None:
    with pytest.raises(InvalidArgument, match=named):
        embedding.embedding_forward(NUMPY, ids, np.ones((3, 2)))
