r"""Dense layers: ``linear`` and the per-expert ``expert_linear``.

PyTorch's layout: a weight is ``(out, in)`` and
:math:`y = x W^\top + b`, i.e. :math:`y_{\dots o} = \sum_i W_{oi} x_{\dots i} + b_o`.
With the upstream gradient :math:`g = \partial s/\partial y` of a scalar
:math:`s`:

.. math::

    \frac{\partial s}{\partial x} = g W, \qquad
    \frac{\partial s}{\partial W} = \sum_{\text{rows } n} g_n^\top x_n, \qquad
    \frac{\partial s}{\partial b} = \sum_n g_n .

``expert_linear`` applies E such maps at once, weight ``(E, out, in)``:
:math:`y_{\dots e o} = \sum_i W_{eoi} x_{\dots (e) i} + b_{eo}`, with one input
shared by all experts or one input per expert.
"""

from __future__ import annotations

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import Backend
from symcheck.graph.kernels.checks import require_ndim, require_shape

__all__ = ["expert_linear_backward", "expert_linear_forward", "linear_backward", "linear_forward"]

NDArray = np.ndarray


def linear_forward(
    xp: Backend, x: NDArray, weight: NDArray, bias: NDArray | None = None
) -> tuple[NDArray, tuple]:
    """``y = x @ weight.T + bias`` for x (..., in), weight (out, in), bias (out,)."""
    require_ndim("linear", "weight", weight, 2, "(out, in)")
    if np.ndim(x) < 1 or x.shape[-1] != weight.shape[1]:
        raise InvalidArgument(
            f"linear: x has shape {np.shape(x)} but weight {weight.shape} expects "
            f"a last axis of size {weight.shape[1]}; give x the shape (..., {weight.shape[1]})"
        )
    require_shape("linear", "bias", bias, weight.shape[:1])
    out = np.matmul(x, weight.T)
    if bias is not None:
        out = _plus(out, bias)
    return out, (x, weight, bias is not None)


def _plus(out: NDArray, bias: NDArray) -> NDArray:
    """``out + bias``, into ``out`` (a fresh product) when the sum keeps its dtype."""
    if np.result_type(out, bias) == out.dtype:
        return np.add(out, bias, out=out)
    return out + bias


def linear_backward(
    xp: Backend, cache: tuple, grad_out: NDArray, *, wanted: tuple[bool, ...] | None = None
) -> tuple:
    """Gradients for (x, weight[, bias]); ``None`` for an array ``wanted`` says is not needed."""
    x, weight, has_bias = cache
    want_x, want_w, want_b = (*(wanted or (True,) * 3), True)[:3]
    g2 = grad_out.reshape(-1, weight.shape[0])
    grads = (
        np.matmul(grad_out, weight) if want_x else None,
        np.matmul(g2.T, x.reshape(-1, weight.shape[1])) if want_w else None,
    )
    if not has_bias:
        return grads
    return (*grads, g2.sum(axis=0) if want_b else None)


def expert_linear_forward(
    xp: Backend,
    x: NDArray,
    weight: NDArray,
    bias: NDArray | None = None,
    *,
    shared_input: bool,
) -> tuple[NDArray, tuple]:
    """E linear maps: weight (E, out, in); x (..., in) if ``shared_input`` else (..., E, in).

    Returns (..., E, out).
    """
    if not isinstance(shared_input, bool):
        raise InvalidArgument(
            f"expert_linear: shared_input={shared_input!r} is not valid; use True (x is "
            "(..., in), one input for all experts) or False (x is (..., experts, in))"
        )
    require_ndim("expert_linear", "weight", weight, 3, "(experts, out, in)")
    experts, n_out, n_in = weight.shape
    tail = (n_in,) if shared_input else (experts, n_in)
    if np.ndim(x) < len(tail) + 1 or tuple(x.shape[-len(tail) :]) != tail:
        raise InvalidArgument(
            f"expert_linear: x has shape {np.shape(x)}; with shared_input={shared_input} "
            f"and weight {weight.shape} it must end in {tail}"
        )
    require_shape("expert_linear", "bias", bias, (experts, n_out))
    lead = x.shape[: x.ndim - len(tail)]
    if shared_input:
        flat = np.matmul(x.reshape(-1, n_in), weight.reshape(experts * n_out, n_in).T)
        out = flat.reshape(*lead, experts, n_out)
    else:
        per_expert = x.reshape(-1, experts, n_in).transpose(1, 0, 2)  # (E, N, in)
        out = np.matmul(per_expert, weight.transpose(0, 2, 1)).transpose(1, 0, 2)
        out = out.reshape(*lead, experts, n_out)
    if bias is not None:
        out = out + bias
    return out, (x, weight, bias is not None, shared_input)


def expert_linear_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for (x, weight[, bias])."""
    x, weight, has_bias, shared_input = cache
    experts, n_out, n_in = weight.shape
    if shared_input:
        g2 = grad_out.reshape(-1, experts * n_out)
        x2 = x.reshape(-1, n_in)
        grad_x = np.matmul(g2, weight.reshape(experts * n_out, n_in)).reshape(x.shape)
        grad_w = np.matmul(g2.T, x2).reshape(weight.shape)
    else:
        g3 = grad_out.reshape(-1, experts, n_out).transpose(1, 0, 2)  # (E, N, out)
        x3 = x.reshape(-1, experts, n_in).transpose(1, 0, 2)  # (E, N, in)
        grad_x = np.matmul(g3, weight).transpose(1, 0, 2).reshape(x.shape)
        grad_w = np.matmul(g3.transpose(0, 2, 1), x3)
    grads = (grad_x, grad_w)
    if has_bias:
        return (*grads, grad_out.reshape(-1, experts, n_out).sum(axis=0))
    return grads
