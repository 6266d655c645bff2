"""Reading a unit space's data window by window, in the stored dtype.

For one :class:`~symcheck.checkpoint.families.Member`, every unit owns a
vector (its block along the member's axis, times every other axis, or one
whole tensor). :func:`windows` yields the matrix ``X`` of shape
``(units, w)`` holding a window of ``w`` consecutive positions of those
vectors, as canonical bit patterns (see :mod:`symcheck.checkpoint.dtypes`),
so that no more than about :data:`WINDOW` elements are copied at a time.
The positions of a window depend only on the tensor's shape, so two passes
over different unit subsets see the same positions.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from symcheck.checkpoint.dtypes import canonical_bits
from symcheck.checkpoint.families import Member
from symcheck.checkpoint.store import Store

__all__ = ["WINDOW", "Window", "windows"]

NDArray = np.ndarray

#: Elements of one tensor window (the units' share is gathered from it).
WINDOW = 1 << 22


class Window:
    """``bits`` (units x w, canonical) of one member, with its global position ``start``."""

    __slots__ = ("bits", "dtype", "start")

    def __init__(self, bits: NDArray, dtype: object, start: int) -> None:
        self.bits, self.dtype, self.start = bits, dtype, start


def _unit_index(member: Member, units: NDArray) -> NDArray:
    return (
        member.offset + units[:, None] * member.stride + np.arange(member.block)[None, :]
    ).ravel()


def windows(store: Store, member: Member, units: NDArray) -> Iterator[Window]:
    """Windows of the vectors of ``units`` (0-based unit indices) in ``member``."""
    if member.axis is None:
        yield from _whole_tensors(store, member, units)
        return
    name = member.tensors[0]
    dtype = store.tensors[name].dtype
    index = _unit_index(member, units)
    with store.bits(name) as tensor:
        moved = np.moveaxis(tensor, member.axis, 0)
        if moved.ndim == 1:
            yield Window(canonical_bits(moved[index].reshape(len(units), -1), dtype), dtype, 0)
            return
        other = moved.shape[1]
        per_row = max(1, int(np.prod(moved.shape[2:], dtype=np.int64)))
        rows = max(1, WINDOW // max(1, moved.shape[0] * per_row))
        for start in range(0, other, rows):
            part = moved[index, start : start + rows]  # a copy of the units' share only
            part = part.reshape(len(units), member.block, -1).reshape(len(units), -1)
            yield Window(canonical_bits(part, dtype), dtype, start * per_row * member.block)


def _whole_tensors(store: Store, member: Member, units: NDArray) -> Iterator[Window]:
    names = [member.tensors[u] for u in units]
    dtype = store.tensors[names[0]].dtype
    size = store.tensors[names[0]].size
    step = max(1, WINDOW // max(1, len(names)))
    for start in range(0, size, step):
        rows = []
        for name in names:
            with store.bits(name) as tensor:
                rows.append(np.array(tensor.reshape(-1)[start : start + step]))
        yield Window(canonical_bits(np.stack(rows), dtype), dtype, start)
