r"""Normalisation kernels: layer norm, RMS norm and batch norm (inference mode).

**Layer norm** (Ba, Kiros & Hinton, 2016) over the last axis of size ``n``,
with the biased variance as in :func:`torch.nn.functional.layer_norm`:

.. math::

    \mu = \tfrac1n\textstyle\sum_i x_i,\quad
    r = \bigl(\tfrac1n\textstyle\sum_i (x_i-\mu)^2 + \varepsilon\bigr)^{-1/2},\quad
    \hat x = (x-\mu)\,r,\quad y = \hat x\,\gamma + \beta.

Backward, with :math:`d = g\gamma` (or :math:`d = g` without weight) and
:math:`\langle\cdot\rangle` the mean over the last axis:
:math:`\partial x = r\,(d - \langle d\rangle - \hat x\,\langle d\hat x\rangle)`,
:math:`\partial\gamma = \sum g\hat x`, :math:`\partial\beta = \sum g`
(sums over every axis but the last).

**RMS norm** (Zhang & Sennrich, 2019; :class:`torch.nn.RMSNorm`):
:math:`r = (\langle x^2\rangle + \varepsilon)^{-1/2}`, :math:`\hat x = x r`,
:math:`y = \hat x\gamma`; backward
:math:`\partial x = r\,(d - \hat x\,\langle d\hat x\rangle)`.

**Batch norm, inference** (Ioffe & Szegedy, 2015): channel axis 1,
:math:`y = (x - m)\,r\,\gamma + \beta` with :math:`r = (v+\varepsilon)^{-1/2}`
from the running mean ``m`` and variance ``v``, which are treated as
parameters: :math:`\partial m = -r\gamma\sum g` and
:math:`\partial v = -\tfrac12 r^2\gamma\sum g\hat x` (sums over every axis
but the channel axis).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import Backend
from symcheck.graph.kernels.checks import check_eps, check_ndim, check_shape

__all__ = [
    "batch_norm_backward",
    "batch_norm_forward",
    "layer_norm_backward",
    "layer_norm_forward",
    "rms_norm_backward",
    "rms_norm_forward",
]

NDArray = np.ndarray
DEFAULT_EPS = Fraction(1, 100000)


def _mean_last(xp: Backend, a: NDArray) -> NDArray:
    return xp.const(Fraction(1, a.shape[-1])) * a.sum(axis=-1, keepdims=True)


def _sum_leading(a: NDArray) -> NDArray:
    return a.reshape(-1, a.shape[-1]).sum(axis=0)


def _rsqrt(xp: Backend, a: NDArray) -> NDArray:
    return xp.const(1) / xp.sqrt(a)


def _last_axis_params(op: str, x: NDArray, params: tuple[NDArray, ...], most: int) -> None:
    check_ndim(op, "x", x, at_least=1)
    if x.shape[-1] == 0:
        raise InvalidArgument(
            f"{op}: x has shape {x.shape}; the normalised last axis is empty; give it size >= 1"
        )
    if len(params) > most:
        raise InvalidArgument(
            f"{op}: got {1 + len(params)} arrays; it takes x and at most {most} parameters "
            f"({'weight, bias' if most == 2 else 'weight'}); drop the extra arrays"
        )
    for name, p in zip(("weight", "bias"), params):
        check_shape(op, name, p, (x.shape[-1],), "the size of x's last axis")


def layer_norm_forward(
    xp: Backend, x: NDArray, *params: NDArray, eps: object = DEFAULT_EPS
) -> tuple[NDArray, tuple]:
    """Layer norm over the last axis; ``params`` is ``()``, ``(weight,)`` or ``(weight, bias)``."""
    _last_axis_params("layer_norm", x, params, 2)
    check_eps("layer_norm", eps)
    centred = x - _mean_last(xp, x)
    r = _rsqrt(xp, _mean_last(xp, centred * centred) + xp.const(eps))
    xhat = centred * r
    out = xhat * params[0] if params else xhat
    if len(params) == 2:
        out = out + params[1]
    return out, (xhat, r, params[:1], len(params))


def layer_norm_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for x and each parameter given to the forward pass."""
    xhat, r, weight, arity = cache
    d = grad_out * weight[0] if weight else grad_out
    dx = r * (d - _mean_last(xp, d) - xhat * _mean_last(xp, d * xhat))
    grads = (dx, _sum_leading(grad_out * xhat), _sum_leading(grad_out))
    return grads[: 1 + arity]


def rms_norm_forward(
    xp: Backend, x: NDArray, *params: NDArray, eps: object = DEFAULT_EPS
) -> tuple[NDArray, tuple]:
    """RMS norm over the last axis; ``params`` is ``()`` or ``(weight,)``."""
    _last_axis_params("rms_norm", x, params, 1)
    check_eps("rms_norm", eps)
    r = _rsqrt(xp, _mean_last(xp, x * x) + xp.const(eps))
    xhat = x * r
    out = xhat * params[0] if params else xhat
    return out, (xhat, r, params)


def rms_norm_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for x and, if given, the weight."""
    xhat, r, params = cache
    d = grad_out * params[0] if params else grad_out
    dx = r * (d - xhat * _mean_last(xp, d * xhat))
    return (dx, _sum_leading(grad_out * xhat)) if params else (dx,)


def batch_norm_forward(
    xp: Backend,
    x: NDArray,
    weight: NDArray,
    bias: NDArray,
    running_mean: NDArray,
    running_var: NDArray,
    *,
    eps: object = DEFAULT_EPS,
) -> tuple[NDArray, tuple]:
    """Batch norm with running statistics (inference mode), channel axis 1."""
    check_ndim("batch_norm", "x", x, at_least=2)
    check_eps("batch_norm", eps)
    named = {
        "weight": weight,
        "bias": bias,
        "running_mean": running_mean,
        "running_var": running_var,
    }
    for name, p in named.items():
        check_shape("batch_norm", name, p, (x.shape[1],), "the channel count, axis 1 of x")
    column = (x.shape[1],) + (1,) * (x.ndim - 2)
    w, b, m, v = (p.reshape(column) for p in named.values())
    r = _rsqrt(xp, v + xp.const(eps))
    xhat = (x - m) * r
    return xhat * w + b, (xhat, r, w)


def batch_norm_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for x, weight, bias, running_mean and running_var."""
    xhat, r, w = cache
    axes = (0, *range(2, grad_out.ndim))
    g_sum = grad_out.sum(axis=axes)
    gx_sum = (grad_out * xhat).sum(axis=axes)
    w_flat, r_flat = w.reshape(-1), r.reshape(-1)
    d_mean = -(r_flat * w_flat * g_sum)
    d_var = xp.const(Fraction(-1, 2)) * r_flat * r_flat * w_flat * gx_sum
    return grad_out * w * r, gx_sum, g_sum, d_mean, d_var
