r"""Sliding windows by index arithmetic (im2col), for convolution and pooling.

Arrays are channels-last here: ``(B, H, W, ...)``. For a window ``(k_h, k_w)``
and a stride ``(s_h, s_w)``, window ``(i, j)`` covers rows :math:`s_h i + a` and
columns :math:`s_w j + d` for :math:`0 \le a < k_h`, :math:`0 \le d < k_w`; there
are :math:`H_{out} = \lfloor (H - k_h)/s_h \rfloor + 1` by
:math:`W_{out} = \lfloor (W - k_w)/s_w \rfloor + 1` windows. Offset ``(a, d)`` of
every window at once is the strided slice ``x[:, a::s_h, d::s_w]`` (cut to
:math:`H_{out}` by :math:`W_{out}`), so the gather is :math:`k_h k_w` slice
copies: no ``as_strided`` view, and object arrays work like float and complex
ones. With the channels last, the windows of one position are contiguous, so a
convolution is one matrix product over them.
"""

from __future__ import annotations

from itertools import product

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
            f"{op}: the window {tuple(kernel)} does not fit the (padded) input of spatial "
            f"size {tuple(size)}; use a smaller kernel or more padding"
        )
    return (size[0] - kernel[0]) // stride[0] + 1, (size[1] - kernel[1]) // stride[1] + 1


def _offsets(
    kernel: tuple[int, int], counts: tuple[int, int], stride: tuple[int, int]
) -> list[tuple[int, int, slice, slice]]:
    """Every window offset (a, d) with the slices that pick it from all windows."""
    return [
        (a, d, slice(a, a + stride[0] * (counts[0] - 1) + 1, stride[0]),
         slice(d, d + stride[1] * (counts[1] - 1) + 1, stride[1]))
        for a, d in product(range(kernel[0]), range(kernel[1]))
    ]  # fmt: skip


def windows(x: NDArray, kernel: tuple[int, int], stride: tuple[int, int]) -> NDArray:
    """The windows of ``x`` (B, H, W, ...) as an array (B, H_out, W_out, k_h, k_w, ...)."""
    counts = output_size("windows", x.shape[1:3], kernel, stride)
    out = np.empty((x.shape[0], *counts, *kernel, *x.shape[3:]), dtype=x.dtype)
    for a, d, rows, cols in _offsets(kernel, counts, stride):
        out[:, :, :, a, d] = x[:, rows, cols]
    return out


def scatter_windows(
    patches: NDArray, shape: tuple[int, ...], stride: tuple[int, int], zero: object
) -> NDArray:
    """The adjoint of :func:`windows`: add every window entry back where it came from.

    ``shape`` is the input's (B, H, W, ...); ``zero`` the backend's zero
    (``xp.const(0)``); entries no window covers stay zero.
    """
    out = np.full(shape, zero, dtype=patches.dtype)
    for a, d, rows, cols in _offsets(patches.shape[3:5], patches.shape[1:3], stride):
        out[:, rows, cols] += patches[:, :, :, a, d]
    return out
