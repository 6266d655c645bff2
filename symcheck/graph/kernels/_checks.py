"""Argument checks shared by the kernel families: one clear message each.

Every check raises :class:`~symcheck.errors.InvalidArgument` naming the
kernel, the bad value, what is valid and how to fix it, before any work.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symcheck.errors import InvalidArgument

__all__ = ["check_axis", "check_eps", "check_ndim", "check_shape"]


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
