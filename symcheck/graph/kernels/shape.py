"""Shape ops: ``flatten``, ``split_heads``, ``merge_heads``, ``concat``, ``stack``.

They only move entries, so each backward pass is the inverse move of the
upstream gradient:

* ``flatten``: (B, ...) -> (B, prod(...)) in C order (``torch.flatten(x, 1)``);
* ``split_heads``: (B, T, H*D) -> (B, H, T, D), head h taking columns
  h*D .. (h+1)*D - 1; ``merge_heads`` is its inverse;
* ``concat`` / ``stack``: ``torch.cat`` / ``torch.stack`` along a non-sample
  axis; the gradient is cut back into the pieces.
"""

from __future__ import annotations

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import Backend
from symcheck.graph.kernels.checks import require_int, require_ndim, resolve_axis

__all__ = [
    "concat_backward",
    "concat_forward",
    "flatten_backward",
    "flatten_forward",
    "merge_heads_backward",
    "merge_heads_forward",
    "split_heads_backward",
    "split_heads_forward",
    "stack_backward",
    "stack_forward",
]

NDArray = np.ndarray


def flatten_forward(xp: Backend, x: NDArray) -> tuple[NDArray, tuple]:
    """(B, ...) -> (B, prod(...)), C order."""
    if np.ndim(x) < 1:
        raise InvalidArgument("flatten: x is a scalar; it needs a sample axis 0")
    return x.reshape(x.shape[0], -1), (x.shape,)


def flatten_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,)."""
    return (grad_out.reshape(cache[0]),)


def split_heads_forward(xp: Backend, x: NDArray, *, heads: int) -> tuple[NDArray, tuple]:
    """(B, T, H*D) -> (B, H, T, D)."""
    require_ndim("split_heads", "x", x, 3, "(batch, seq, heads * head_dim)")
    width = x.shape[2]
    require_int("split_heads", "heads", heads, minimum=1)
    if width % heads:
        raise InvalidArgument(
            f"split_heads: heads={heads} does not divide the width {width}; "
            "use a number of heads that divides it"
        )
    b, t = x.shape[:2]
    return x.reshape(b, t, heads, width // heads).transpose(0, 2, 1, 3), ()


def split_heads_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,)."""
    return (merge_heads_forward(xp, grad_out)[0],)


def merge_heads_forward(xp: Backend, x: NDArray) -> tuple[NDArray, tuple]:
    """(B, H, T, D) -> (B, T, H*D)."""
    require_ndim("merge_heads", "x", x, 4, "(batch, heads, seq, head_dim)")
    b, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * d), (h,)


def merge_heads_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,)."""
    return (split_heads_forward(xp, grad_out, heads=cache[0])[0],)


def _pieces(op: str, xs: tuple[NDArray, ...], axis: object, *, new_axis: bool) -> int:
    """Check the pieces of a concat (``new_axis`` False) or stack; the resolved axis."""
    if not xs:
        raise InvalidArgument(f"{op}: no arrays given; give at least one")
    resolved = resolve_axis(op, axis, np.ndim(xs[0]) + new_axis)
    shapes = [np.shape(x) for x in xs]
    kept = {(len(s), s if new_axis else s[:resolved] + s[resolved + 1 :]) for s in shapes}
    if len(kept) > 1:
        rule = "all must agree" if new_axis else f"they must agree except along axis {axis}"
        raise InvalidArgument(f"{op}: the arrays have shapes {shapes}; {rule}")
    return resolved


def concat_forward(xp: Backend, *xs: NDArray, axis: int) -> tuple[NDArray, tuple]:
    """``torch.cat(xs, axis)``."""
    resolved = _pieces("concat", xs, axis, new_axis=False)
    sizes = [x.shape[resolved] for x in xs]
    return np.concatenate(xs, axis=resolved), (resolved, np.cumsum(sizes)[:-1])


def concat_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for every piece."""
    axis, cuts = cache
    return tuple(np.split(grad_out, cuts, axis=axis))


def stack_forward(xp: Backend, *xs: NDArray, axis: int) -> tuple[NDArray, tuple]:
    """``torch.stack(xs, axis)``: a new axis."""
    resolved = _pieces("stack", xs, axis, new_axis=True)
    return np.stack(xs, axis=resolved), (resolved, len(xs))


def stack_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradients for every piece."""
    axis, count = cache
    return tuple(np.take(grad_out, k, axis=axis) for k in range(count))
