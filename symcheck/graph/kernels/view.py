"""View ops: ``permute``, ``reshape``, ``expand``, ``slice_axis`` and ``parameter``.

They move, copy or select entries and never mix values, so each backward
pass is the adjoint move of the upstream gradient:

* ``permute`` (``torch.permute``): ``out = x.transpose(dims)``; backward
  transposes by the inverse permutation;
* ``reshape`` (``view``, ``reshape``, ``flatten``, ``unsqueeze``, ...): C-order
  reshape to ``shape``; backward reshapes back;
* ``expand`` (``torch.Tensor.expand``, broadcasting): axes of size 1 are
  repeated to ``shape`` (same rank); backward sums over the repeated axes;
* ``slice_axis`` (``x[..., start:stop:step, ...]`` on one axis, any axis):
  backward scatters the gradient into zeros;
* ``parameter``: a parameter (or a constant the graph carries as a parameter)
  used as a value, ``out = value``; backward is the identity.

Unlike the other families these may touch axis 0: a torch module is free to
move or merge its batch axis (``nn.MultiheadAttention`` does), and a pure
move never mixes samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import Backend
from symcheck.graph.kernels.checks import is_int

__all__ = [
    "expand_backward",
    "expand_forward",
    "parameter_backward",
    "parameter_forward",
    "permute_backward",
    "permute_forward",
    "reshape_backward",
    "reshape_forward",
    "slice_axis_backward",
    "slice_axis_forward",
]

NDArray = np.ndarray


def _ints(op: str, name: str, value: object) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(is_int(v) for v in value):
        raise InvalidArgument(f"{op}: {name}={value!r} is not valid; give a list of ints")
    return tuple(int(v) for v in value)


def permute_forward(xp: Backend, x: NDArray, *, dims: Sequence[int]) -> tuple[NDArray, tuple]:
    """``x.permute(dims)``: output axis k is input axis ``dims[k]``."""
    order = _ints("permute", "dims", dims)
    if sorted(order) != list(range(np.ndim(x))):
        raise InvalidArgument(
            f"permute: dims={list(order)} is not a permutation of the {np.ndim(x)} axes of x; "
            f"give each of 0..{np.ndim(x) - 1} once"
        )
    return np.transpose(x, order), (order,)


def permute_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,): the inverse transposition."""
    (order,) = cache
    return (np.transpose(grad_out, np.argsort(order)),)


def reshape_forward(xp: Backend, x: NDArray, *, shape: Sequence[int]) -> tuple[NDArray, tuple]:
    """C-order reshape to ``shape`` (the full shape, batch axis included)."""
    target = _ints("reshape", "shape", shape)
    if int(np.prod(target, dtype=np.int64)) != int(np.size(x)) or min(target, default=1) < 1:
        raise InvalidArgument(
            f"reshape: shape={list(target)} does not hold the {np.size(x)} entries of x "
            f"{np.shape(x)}; give positive sizes with the same product"
        )
    return np.reshape(x, target), (np.shape(x),)


def reshape_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,)."""
    return (np.reshape(grad_out, cache[0]),)


def expand_forward(xp: Backend, x: NDArray, *, shape: Sequence[int]) -> tuple[NDArray, tuple]:
    """Repeat the size-1 axes of ``x`` to ``shape`` (same rank; other sizes must agree)."""
    target = _ints("expand", "shape", shape)
    source = np.shape(x)
    if len(target) != len(source) or any(s not in (1, t) for s, t in zip(source, target)):
        raise InvalidArgument(
            f"expand: x {source} cannot be expanded to {list(target)}; only axes of size 1 "
            "grow (reshape to the same rank first)"
        )
    repeated = tuple(a for a, (s, t) in enumerate(zip(source, target)) if s != t)
    return np.array(np.broadcast_to(x, target)), (repeated,)


def expand_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,): the sum over the repeated axes."""
    (repeated,) = cache
    if not repeated:
        return (grad_out,)
    return (np.sum(grad_out, axis=repeated, keepdims=True),)


def slice_axis_forward(
    xp: Backend, x: NDArray, *, axis: int, start: int, stop: int, step: int = 1
) -> tuple[NDArray, tuple]:
    """``x[..., start:stop:step, ...]`` along ``axis`` (non-empty, step >= 1)."""
    ndim = np.ndim(x)
    if not is_int(axis) or not -ndim <= axis < ndim:
        raise InvalidArgument(f"slice_axis: axis={axis!r} is not an axis of x {np.shape(x)}")
    resolved = int(axis) % ndim
    if not all(is_int(v) for v in (start, stop, step)) or step < 1:
        raise InvalidArgument(
            f"slice_axis: start={start!r}, stop={stop!r}, step={step!r} are not valid; "
            "give ints with step >= 1"
        )
    index = [slice(None)] * ndim
    index[resolved] = slice(start, stop, step)
    out = x[tuple(index)]
    if out.shape[resolved] == 0:
        raise InvalidArgument(
            f"slice_axis: {start}:{stop}:{step} selects nothing of axis {axis} (size "
            f"{np.shape(x)[resolved]}); give a non-empty range"
        )
    return out, (np.shape(x), tuple(index))


def slice_axis_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (x,): zeros outside the slice."""
    shape, index = cache
    grad = np.zeros(shape, dtype=grad_out.dtype)
    if grad.dtype == object:
        grad[...] = xp.const(0)
    grad[index] = grad_out
    return (grad,)


def parameter_forward(xp: Backend, value: NDArray) -> tuple[NDArray, tuple]:
    """A parameter used as a value: ``out = value``."""
    return value, ()


def parameter_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """Gradient for (value,)."""
    return (grad_out,)
