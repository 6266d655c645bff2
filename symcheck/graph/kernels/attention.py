r"""Attention kernels: softmax, scaled dot-product attention and rotary embeddings.

**Softmax** along one axis, :math:`p_i = e^{x_i}/\sum_j e^{x_j}`; NumPy
subtracts the row maximum first (the same value, no overflow), SymPy keeps
the plain form. Backward: :math:`\partial x = p\,(g - \sum_j g_j p_j)`.

**Scaled dot-product attention** (Vaswani et al., 2017), with the semantics
of :func:`torch.nn.functional.scaled_dot_product_attention`:
:math:`S = s\,QK^\top` (default :math:`s = 1/\sqrt D`),
:math:`P = \operatorname{softmax}(S)` over the key axis, :math:`O = PV`.
The value dim :math:`E` may differ from the query-key dim :math:`D`.
A causal mask drops keys :math:`j > i` (top-left aligned, as torch's
``is_causal``); masked weights are exactly 0. Grouped-query attention
(Ainslie et al., 2023): with ``H`` query heads and ``H_kv`` key/value heads,
query head ``h`` reads key/value head ``h // (H / H_kv)``. Backward:
:math:`\partial V = P^\top g`, :math:`\partial P = gV^\top`,
:math:`\partial S = P\,(\partial P - \sum_j \partial P_j P_j)`,
:math:`\partial Q = s\,\partial S\,K`, :math:`\partial K = s\,\partial S^\top Q`,
the key/value gradients summed over the query heads of each group.

**Rotary position embedding** (Su et al., 2021, RoFormer), rotate-half
layout as in Llama: dimension ``i < D/2`` pairs with ``i + D/2``, frequency
:math:`\omega_i = b^{-2i/D}`, angle :math:`\theta_{ti} = t\,\omega_i` at
position ``t``:
:math:`y = x\cos\theta + R(x)\sin\theta` with :math:`R(x) = (-x_2, x_1)`.
Each pair is rotated, so the backward pass rotates back:
:math:`\partial x = g\cos\theta + R^\top(g\sin\theta)`,
:math:`R^\top(u) = (u_2, -u_1)`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import Backend
from symcheck.graph.kernels.checks import check_axis, check_ndim, check_shape

__all__ = [
    "rope_backward",
    "rope_forward",
    "sdpa_backward",
    "sdpa_forward",
    "softmax_backward",
    "softmax_forward",
]

NDArray = np.ndarray


def _softmax(xp: Backend, x: NDArray, axis: int, keep: NDArray | None = None) -> NDArray:
    """Softmax along ``axis`` over the entries where ``keep`` is true (all if None)."""
    if not xp.exact:
        real = x.real if keep is None else np.where(keep, x.real, -np.inf)
        x = x - real.max(axis=axis, keepdims=True)
    e = xp.exp(x) if keep is None else np.where(keep, xp.exp(np.where(keep, x, 0)), 0)
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_grad(p: NDArray, grad_out: NDArray, axis: int) -> NDArray:
    return p * (grad_out - (grad_out * p).sum(axis=axis, keepdims=True))


def softmax_forward(xp: Backend, x: NDArray, *, axis: int = -1) -> tuple[NDArray, tuple]:
    """Softmax of ``x`` along ``axis``."""
    axis = check_axis("softmax", axis, np.ndim(x))
    p = _softmax(xp, x, axis)
    return p, (p, axis)


def softmax_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """The gradient for x."""
    p, axis = cache
    return (_softmax_grad(p, grad_out, axis),)


def _group(q: NDArray, k: NDArray, v: NDArray) -> int:
    for name, a in (("q", q), ("k", k), ("v", v)):
        check_ndim("sdpa", name, a, at_least=4, exact=True)
    batch, heads, _, dim = q.shape
    kv_heads, keys = k.shape[1], k.shape[2]
    check_shape("sdpa", "k", k, (batch, kv_heads, keys, dim), "q's batch and head dim D")
    v_shape = (batch, kv_heads, keys, v.shape[3])
    check_shape("sdpa", "v", v, v_shape, "k's batch, heads and key positions; any value dim")
    if keys == 0:
        raise InvalidArgument(
            f"sdpa: k has shape {k.shape}, no key positions; attention needs S >= 1 keys"
        )
    if kv_heads == 0 or heads % kv_heads:
        raise InvalidArgument(
            f"sdpa: q has {heads} heads and k, v have {kv_heads}; the query heads must be a "
            f"multiple of the key/value heads (grouped-query attention); use H_kv dividing {heads}"
        )
    return heads // kv_heads


def sdpa_forward(
    xp: Backend,
    q: NDArray,
    k: NDArray,
    v: NDArray,
    *,
    causal: bool = False,
    scale: object = None,
) -> tuple[NDArray, tuple]:
    """Attention of ``q`` (B, H, T, D) over ``k`` (B, H_kv, S, D), ``v`` (B, H_kv, S, E).

    The output is (B, H, T, E); the value dim ``E`` may differ from the
    query-key dim ``D`` (as in torch).
    """
    group = _group(q, k, v)
    if scale is None:
        scale = xp.const(1) / xp.sqrt(xp.array(q.shape[-1]))[()]
    elif isinstance(scale, bool) or not isinstance(scale, (int, float, Fraction)):
        raise InvalidArgument(
            f"sdpa: scale={scale!r} is not valid; use None (1/sqrt(D)) or a number"
        )
    else:
        scale = xp.const(scale)
    keys = np.repeat(k, group, axis=1)
    values = np.repeat(v, group, axis=1)
    scores = scale * np.einsum("bhtd,bhsd->bhts", q, keys)
    steps, width = q.shape[2], k.shape[2]
    keep = np.arange(width)[None, :] <= np.arange(steps)[:, None] if causal else None
    p = _softmax(xp, scores, 3, keep)
    out = np.einsum("bhts,bhsd->bhtd", p, values)
    return out, (q, keys, values, p, scale, group)


def _fold_groups(a: NDArray, group: int) -> NDArray:
    """Sum the gradients of the query heads that share one key/value head."""
    batch, heads = a.shape[:2]
    return a.reshape(batch, heads // group, group, *a.shape[2:]).sum(axis=2)


def sdpa_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for q, k and v (k and v summed over each GQA group)."""
    q, keys, values, p, scale, group = cache
    d_values = np.einsum("bhts,bhtd->bhsd", p, grad_out)
    d_scores = _softmax_grad(p, np.einsum("bhtd,bhsd->bhts", grad_out, values), 3)
    d_q = scale * np.einsum("bhts,bhsd->bhtd", d_scores, keys)
    d_keys = scale * np.einsum("bhts,bhtd->bhsd", d_scores, q)
    return d_q, _fold_groups(d_keys, group), _fold_groups(d_values, group)


def _rotate_half(a: NDArray, sign: int) -> NDArray:
    """``(-a2, a1)`` for ``sign=1``; its transpose ``(a2, -a1)`` for ``sign=-1``."""
    half = a.shape[-1] // 2
    first, second = a[..., :half], a[..., half:]
    if sign == 1:
        return np.concatenate([-second, first], axis=-1)
    return np.concatenate([second, -first], axis=-1)


def rope_forward(xp: Backend, x: NDArray, *, base: object = 10000) -> tuple[NDArray, tuple]:
    """Rotary embedding of ``x`` (B, H, T, D), positions ``0..T-1``, D even."""
    check_ndim("rope", "x", x, at_least=4, exact=True)
    steps, dim = x.shape[2], x.shape[3]
    if dim % 2:
        raise InvalidArgument(
            f"rope: the head dim D={dim} is odd; rotary embeddings rotate pairs of dims; "
            "use an even head dim"
        )
    if isinstance(base, bool) or not isinstance(base, (int, float, Fraction)) or not base > 1:
        raise InvalidArgument(f"rope: base={base!r} is not valid; use a number > 1 such as 10000")
    exponents = xp.array([xp.const(Fraction(-2 * i, dim)) for i in range(dim // 2)])
    frequencies = xp.exp(exponents * xp.log(xp.array(xp.const(base)))[()])
    angles = xp.array(np.arange(steps))[:, None] * frequencies[None, :]
    angles = np.concatenate([angles, angles], axis=-1)
    cos, sin = xp.cos(angles), xp.sin(angles)
    return x * cos + _rotate_half(x, 1) * sin, (cos, sin)


def rope_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """The gradient for x: the inverse rotation of the output gradient."""
    cos, sin = cache
    return (grad_out * cos + _rotate_half(grad_out * sin, -1),)
