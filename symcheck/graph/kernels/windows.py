r"""Sliding windows by index arithmetic (im2col), for convolution and pooling.

For an input of shape ``(B, C, H, W)``, a window ``(k_h, k_w)`` and a stride
``(s_h, s_w)``, window ``(i, j)`` covers rows :math:`s_h i + a` and columns
:math:`s_w j + b` for :math:`0 \le a < k_h`, :math:`0 \le b < k_w`, and there are
:math:`H_{out} = \lfloor (H - k_h)/s_h \rfloor + 1` by
:math:`W_{out} = \lfloor (W - k_w)/s_w \rfloor + 1` windows. The windows are
gathered with integer index arrays (fancy indexing), which copies and so works
on object arrays as well as on float and complex ones.
"""

from __future__ import annotations

import numpy as np

from symcheck.errors import InvalidArgument

__all__ = ["output_size", "scatter_windows", "windows"]

NDArray = np.ndarray


def output_size(
    op: str, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int]
) -> tuple[int, int]:
    """``(H_out, W_out)``; raises when the window does not fit the (padded) input."""
    if size[0] < kernel[0] or size[1] < kernel[1]:
        raise InvalidArgument(
            f"{op}: the window {kernel} does not fit the (padded) input of spatial size {size}; "
            "use a smaller kernel or more padding"
        )
    return (size[0] - kernel[0]) // stride[0] + 1, (size[1] - kernel[1]) // stride[1] + 1


def windows(x: NDArray, kernel: tuple[int, int], stride: tuple[int, int]) -> NDArray:
    """The windows of ``x`` (B, C, H, W) as an array (B, C, H_out, W_out, k_h, k_w)."""
    h_out, w_out = output_size("windows", x.shape[2:], kernel, stride)
    rows = stride[0] * np.arange(h_out)[:, None] + np.arange(kernel[0])[None, :]
    cols = stride[1] * np.arange(w_out)[:, None] + np.arange(kernel[1])[None, :]
    return x[:, :, rows[:, None, :, None], cols[None, :, None, :]]


def scatter_windows(
    patches: NDArray, shape: tuple[int, ...], stride: tuple[int, int], zero: object
) -> NDArray:
    """The adjoint of :func:`windows`: add every window entry back where it came from.

    ``zero`` is the backend's zero (``xp.const(0)``); entries no window covers
    stay zero.
    """
    out = np.full(shape, zero, dtype=patches.dtype)
    _, _, h_out, w_out, k_h, k_w = patches.shape
    for a in range(k_h):
        for b in range(k_w):
            out[
                :,
                :,
                a : a + stride[0] * (h_out - 1) + 1 : stride[0],
                b : b + stride[1] * (w_out - 1) + 1 : stride[1],
            ] += patches[:, :, :, :, a, b]
    return out
