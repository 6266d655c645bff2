r"""Convolutions ``conv1d`` and ``conv2d`` (cross-correlation, as PyTorch).

With zero padding :math:`p` and stride :math:`s`,

.. math::

    y_{b o i j} = b_o + \sum_{c, a, d} W_{o c a d}\,
    \tilde x_{b c,\, s_h i + a,\, s_w j + d},

:math:`\tilde x` the padded input. The windows :math:`\tilde x_{b c, s i + a,
s j + d}` are gathered once by index arithmetic (:mod:`.windows`), channels
last, as one row per output position, so the layer is one matrix product
(``np.matmul``: BLAS on float arrays, and it works on object arrays too).
Backward: :math:`\partial s/\partial W` is the upstream gradient (one row per
position) times the window rows; :math:`\partial s/\partial x` is the upstream
gradient times :math:`W`, each window entry added back to its input position
(the adjoint of the gather), then the padding dropped. ``conv1d`` is ``conv2d`` on a height-1 image.
"""

from __future__ import annotations

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import Backend
from symcheck.graph.kernels.checks import (
    require_int,
    require_ndim,
    require_pair,
    require_shape,
)
from symcheck.graph.kernels.windows import output_size, scatter_windows, windows

__all__ = ["conv1d_backward", "conv1d_forward", "conv2d_backward", "conv2d_forward"]

NDArray = np.ndarray


def conv2d_forward(
    xp: Backend,
    x: NDArray,
    weight: NDArray,
    bias: NDArray | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> tuple[NDArray, tuple]:
    """x (B, C_in, H, W), weight (C_out, C_in, k_h, k_w), bias (C_out,).

    Returns (B, C_out, H_out, W_out).
    """
    require_ndim("conv2d", "x", x, 4, "(batch, channels, height, width)")
    require_ndim("conv2d", "weight", weight, 4, "(out_channels, in_channels, k_h, k_w)")
    if x.shape[1] != weight.shape[1]:
        raise InvalidArgument(
            f"conv2d: x has {x.shape[1]} channels but weight {weight.shape} expects "
            f"{weight.shape[1]}; give x the shape (B, {weight.shape[1]}, H, W)"
        )
    require_shape("conv2d", "bias", bias, weight.shape[:1])
    step = require_pair("conv2d", "stride", stride, minimum=1)
    pad = require_pair("conv2d", "padding", padding, minimum=0)
    kernel = weight.shape[2:]
    output_size("conv2d", (x.shape[2] + 2 * pad[0], x.shape[3] + 2 * pad[1]), kernel, step)
    padded = np.pad(
        x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])), constant_values=xp.const(0)
    )
    patches = windows(padded.transpose(0, 2, 3, 1), kernel, step)  # (B, H_o, W_o, kh, kw, C)
    flat_weight = weight.transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)  # (C_out, kh*kw*C)
    rows = patches.reshape(-1, flat_weight.shape[1])  # one row of window entries per position
    out = np.matmul(rows, flat_weight.T).reshape(*patches.shape[:3], -1).transpose(0, 3, 1, 2)
    if bias is not None:
        out = out + bias[:, None, None]
    return out, (rows, flat_weight, patches.shape, padded.shape, step, pad, bias is not None)


def conv2d_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for (x, weight[, bias])."""
    rows, flat_weight, patches_shape, padded_shape, step, pad, has_bias = cache
    grad_rows = grad_out.transpose(0, 2, 3, 1).reshape(-1, flat_weight.shape[0])
    grad_w = np.matmul(grad_rows.T, rows).reshape(-1, *patches_shape[3:])  # (C_out, kh, kw, C)
    grad_patches = np.matmul(grad_rows, flat_weight).reshape(patches_shape)
    b, c, h, w = padded_shape
    grad_padded = scatter_windows(grad_patches, (b, h, w, c), step, xp.const(0))
    grad_x = grad_padded.transpose(0, 3, 1, 2)[:, :, pad[0] : h - pad[0], pad[1] : w - pad[1]]
    grads = (grad_x, grad_w.transpose(0, 3, 1, 2))
    return (*grads, grad_out.sum(axis=(0, 2, 3))) if has_bias else grads


def conv1d_forward(
    xp: Backend,
    x: NDArray,
    weight: NDArray,
    bias: NDArray | None = None,
    *,
    stride: int = 1,
    padding: int = 0,
) -> tuple[NDArray, tuple]:
    """x (B, C_in, L), weight (C_out, C_in, K), bias (C_out,) -> (B, C_out, L_out)."""
    require_ndim("conv1d", "x", x, 3, "(batch, channels, length)")
    require_ndim("conv1d", "weight", weight, 3, "(out_channels, in_channels, kernel)")
    step = require_int("conv1d", "stride", stride, minimum=1)
    pad = require_int("conv1d", "padding", padding, minimum=0)
    out, cache = conv2d_forward(
        xp, x[:, :, None, :], weight[:, :, None, :], bias, stride=(1, step), padding=(0, pad)
    )
    return out[:, :, 0, :], cache


def conv1d_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for (x, weight[, bias])."""
    grad_x, grad_w, *grad_b = conv2d_backward(xp, cache, grad_out[:, :, None, :])
    return (grad_x[:, :, 0, :], grad_w[:, :, 0, :], *grad_b)
