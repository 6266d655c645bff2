"""Argument checks shared by the kernel families: one clear message per bad value.

Every check raises :class:`~symcheck.errors.InvalidArgument` naming the kernel,
the bad value, what is valid and how to fix it, before any work.
``resolve_axis`` refuses the sample axis 0 (kernels that reduce or split an
axis never mix samples); ``check_axis`` allows it (softmax over any axis).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symcheck.errors import InvalidArgument

__all__ = [
    "check_axis",
    "check_eps",
    "check_ndim",
    "check_shape",
    "is_int",
    "require_int",
    "require_ndim",
    "require_pair",
    "require_same_shape",
    "require_shape",
    "resolve_axis",
]


def is_int(value: object) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def require_int(op: str, name: str, value: object, *, minimum: int) -> int:
    """An int attribute of at least ``minimum``."""
    if not is_int(value) or value < minimum:  # type: ignore[operator]
        raise InvalidArgument(f"{op}: {name}={value!r} is not valid; use an int >= {minimum}")
    return int(value)  # type: ignore[call-overload]


def require_shape(op: str, name: str, array: np.ndarray | None, shape: tuple[int, ...]) -> None:
    """Raise unless an optional array (a bias, say) has exactly ``shape``."""
    if array is not None and np.shape(array) != shape:
        raise InvalidArgument(f"{op}: {name} has shape {np.shape(array)}; it must be {shape}")


def require_ndim(op: str, name: str, array: np.ndarray, ndim: int, layout: str) -> None:
    """Raise unless ``array`` has ``ndim`` axes (``layout`` names them for the fix)."""
    if np.ndim(array) != ndim:
        raise InvalidArgument(
            f"{op}: {name} has shape {np.shape(array)}; it must have {ndim} axes {layout}"
        )


def require_same_shape(op: str, a: np.ndarray, b: np.ndarray) -> None:
    """Raise unless the two operands of an elementwise op have the same shape."""
    if np.shape(a) != np.shape(b):
        raise InvalidArgument(
            f"{op}: operand shapes {np.shape(a)} and {np.shape(b)} differ; "
            "give both operands the same shape (no broadcasting)"
        )


def require_pair(op: str, name: str, value: object, *, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each at least ``minimum``, as a pair."""
    pair = (value, value) if is_int(value) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(is_int(v) for v in pair)
        or min(pair) < minimum
    ):
        raise InvalidArgument(
            f"{op}: {name}={value!r} is not valid; use an int >= {minimum} or a pair of them"
        )
    return int(pair[0]), int(pair[1])


def resolve_axis(op: str, axis: object, ndim: int) -> int:
    """A non-negative axis of an ``ndim``-array, never the sample axis 0."""
    if not is_int(axis) or not -ndim <= axis < ndim:  # type: ignore[operator]
        raise InvalidArgument(
            f"{op}: axis={axis!r} is not valid for a {ndim}-axis array; "
            f"use an int in 1..{ndim - 1} (or its negative form)"
        )
    resolved = int(axis) % ndim
    if resolved == 0:
        raise InvalidArgument(
            f"{op}: axis={axis!r} is the sample axis 0; kernels never mix samples, "
            f"use an axis in 1..{ndim - 1}"
        )
    return resolved


def check_ndim(
    op: str, name: str, array: np.ndarray, *, at_least: int, exact: bool = False
) -> None:
    """``array`` has ``at_least`` axes (exactly that many when ``exact``)."""
    ndim = np.ndim(array)
    if ndim < at_least or (exact and ndim != at_least):
        want = f"exactly {at_least}" if exact else f"at least {at_least}"
        raise InvalidArgument(
            f"{op}: {name} has {ndim} axes (shape {np.shape(array)}); it needs {want}; "
            f"reshape {name} to the layout the kernel table gives"
        )


def check_shape(op: str, name: str, array: np.ndarray, shape: tuple[int, ...], why: str) -> None:
    """``array`` has exactly ``shape``; ``why`` says where that shape comes from."""
    if tuple(np.shape(array)) != tuple(shape):
        raise InvalidArgument(
            f"{op}: {name} has shape {tuple(np.shape(array))}, expected {tuple(shape)} ({why}); "
            f"pass a {name} of shape {tuple(shape)}"
        )


def check_eps(op: str, eps: object) -> None:
    """``eps`` is a positive rational or float (it keeps the square root away from 0)."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float, Fraction)) or not eps > 0:
        raise InvalidArgument(
            f"{op}: eps={eps!r} is not valid; use a positive number such as Fraction(1, 100000)"
        )


def check_axis(op: str, axis: object, ndim: int) -> int:
    """``axis`` is an int in ``[-ndim, ndim)``; returns it as a non-negative index."""
    if (
        isinstance(axis, bool)
        or not isinstance(axis, (int, np.integer))
        or not -ndim <= axis < ndim
    ):
        raise InvalidArgument(
            f"{op}: axis={axis!r} is not valid for an array with {ndim} axes; "
            f"use an int in [{-ndim}, {ndim - 1}]"
        )
    return int(axis) % ndim
