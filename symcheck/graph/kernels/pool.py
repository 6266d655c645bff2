r"""Pooling: ``avg_pool2d``, ``max_pool2d`` (no padding) and ``mean`` over one axis.

Windows are gathered as in :mod:`.windows` (stride defaults to the kernel).

* ``avg_pool2d``: :math:`y = \frac{1}{k_h k_w}\sum_{\text{window}} x`; every
  window entry receives :math:`g / (k_h k_w)`.
* ``max_pool2d``: :math:`y = \max_{\text{window}} x`; the whole gradient goes to
  the *first* maximum of the window in row-major order (PyTorch does the same).
  The maximum is found by a left-to-right scan that moves only on a strict
  increase, decided by ``xp.positive``: on the SymPy backend an undecidable
  comparison raises instead of guessing a branch.
* ``mean``: :math:`y = \frac1n \sum_{k} x_{\dots k \dots}` over one non-sample
  axis of size :math:`n`, which is removed; :math:`\partial s/\partial x = g/n`
  repeated along it.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symcheck.graph.backend import Backend
from symcheck.graph.kernels.checks import require_ndim, require_pair, resolve_axis
from symcheck.graph.kernels.windows import output_size, scatter_windows, windows

__all__ = [
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "mean_backward",
    "mean_forward",
]

NDArray = np.ndarray


def _pool_windows(
    op: str, x: NDArray, kernel: object, stride: object
) -> tuple[NDArray, tuple[int, int]]:
    """The windows of x (B, C, H, W), channels last: (B, H_out, W_out, k_h, k_w, C)."""
    require_ndim(op, "x", x, 4, "(batch, channels, height, width)")
    size = require_pair(op, "kernel", kernel, minimum=1)
    step = size if stride is None else require_pair(op, "stride", stride, minimum=1)
    output_size(op, x.shape[2:], size, step)
    return windows(x.transpose(0, 2, 3, 1), size, step), step


def _scatter(xp: Backend, grad_patches: NDArray, x_shape: tuple, step: tuple) -> NDArray:
    """The input gradient (B, C, H, W) from channels-last window gradients."""
    b, c, h, w = x_shape
    return scatter_windows(grad_patches, (b, h, w, c), step, xp.const(0)).transpose(0, 3, 1, 2)


def avg_pool2d_forward(
    xp: Backend,
    x: NDArray,
    *,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
) -> tuple[NDArray, tuple]:
    """Average over each window: x (B, C, H, W) -> (B, C, H_out, W_out)."""
    patches, step = _pool_windows("avg_pool2d", x, kernel, stride)
    scale = xp.const(Fraction(1, patches.shape[3] * patches.shape[4]))
    out = patches.sum(axis=(3, 4)) * scale
    return out.transpose(0, 3, 1, 2), (x.shape, patches.shape, step, scale)


def avg_pool2d_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,)."""
    x_shape, patches_shape, step, scale = cache
    spread = (grad_out * scale).transpose(0, 2, 3, 1)[:, :, :, None, None, :]
    return (_scatter(xp, np.broadcast_to(spread, patches_shape), x_shape, step),)


def max_pool2d_forward(
    xp: Backend,
    x: NDArray,
    *,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
) -> tuple[NDArray, tuple]:
    """Maximum over each window: x (B, C, H, W) -> (B, C, H_out, W_out)."""
    patches, step = _pool_windows("max_pool2d", x, kernel, stride)
    b, h_out, w_out, k_h, k_w, c = patches.shape
    flat = patches.reshape(b, h_out, w_out, k_h * k_w, c)  # window entries in row-major order
    best = flat[:, :, :, 0]
    first = np.zeros(best.shape, dtype=np.intp)
    for k in range(1, k_h * k_w):
        larger = xp.positive(flat[:, :, :, k] - best)
        best = np.where(larger, flat[:, :, :, k], best)
        first = np.where(larger, k, first)
    return best.transpose(0, 3, 1, 2), (x.shape, patches.shape, step, first)


def max_pool2d_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,): each window's gradient goes to its first maximum."""
    x_shape, patches_shape, step, first = cache
    k = patches_shape[3] * patches_shape[4]
    chosen = np.arange(k)[:, None] == first[:, :, :, None, :]  # (B, H_o, W_o, k, C)
    upstream = grad_out.transpose(0, 2, 3, 1)[:, :, :, None, :]
    grad_flat = np.where(chosen, upstream, xp.const(0))
    return (_scatter(xp, grad_flat.reshape(patches_shape), x_shape, step),)


def mean_forward(xp: Backend, x: NDArray, *, axis: int) -> tuple[NDArray, tuple]:
    """Mean over one non-sample axis, which is removed."""
    resolved = resolve_axis("mean", axis, np.ndim(x))
    scale = xp.const(Fraction(1, x.shape[resolved]))
    return x.sum(axis=resolved) * scale, (x.shape, resolved, scale)


def mean_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,): ``g / n`` along the averaged axis."""
    x_shape, axis, scale = cache
    spread = np.expand_dims(grad_out * scale, axis)
    return (np.repeat(spread, x_shape[axis], axis=axis),)
