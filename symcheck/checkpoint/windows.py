"""Reading a unit space's data window by window, in the stored dtype.

For one :class:`~symcheck.checkpoint.families.Member`, every unit owns a
vector (its block along the member's axis, times every other axis, or one
whole tensor). :func:`windows` yields a window of ``w`` consecutive positions
of those vectors for the requested units, as raw stored bit patterns, so
that no more than about :data:`WINDOW` tensor elements are touched at a
time. A window holds the units on its first axis (``bits[u]``), or, for
columns of a matrix, on its last axis (``bits[:, u]``: no transposed copy
is made). The positions of a window depend only on the tensor's shape, so
two passes over different unit subsets see the same positions.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from symcheck.checkpoint.dtypes import StoredDtype, canonical_bits
from symcheck.checkpoint.families import Member
from symcheck.checkpoint.store import Store

__all__ = ["WINDOW", "Window", "windows"]

NDArray = np.ndarray

#: Elements of one tensor window (the units' share is taken from it).
WINDOW = 1 << 21


class Window:
    """Raw ``bits`` of one window; ``units_last`` says which axis indexes the units."""

    __slots__ = ("bits", "dtype", "start", "units_last")

    def __init__(self, bits: NDArray, dtype: StoredDtype, start: int, units_last: bool) -> None:
        self.bits, self.dtype, self.start, self.units_last = bits, dtype, start, units_last

    def rows(self) -> NDArray:
        """Canonical bits with one row per unit (a copy when the units are columns)."""
        bits = self.bits.T if self.units_last else self.bits
        return canonical_bits(np.ascontiguousarray(bits), self.dtype)


def _unit_index(member: Member, units: NDArray) -> NDArray:
    base = member.offset + units[:, None] * member.stride
    return (base + np.arange(member.block)[None, :]).ravel()


def _selector(member: Member, units: NDArray) -> slice | NDArray:
    """A slice when the units' blocks are one contiguous run, else an index array."""
    n = units.size
    if (
        member.stride == member.block
        and n
        and np.array_equal(units, np.arange(units[0], units[0] + n))
    ):
        start = member.offset + int(units[0]) * member.stride
        return slice(start, start + n * member.block)
    return _unit_index(member, units)


def windows(store: Store, member: Member, units: NDArray) -> Iterator[Window]:
    """Windows of the vectors of ``units`` (0-based unit indices) in ``member``."""
    if member.axis is None:
        yield from _whole_tensors(store, member, units)
        return
    name = member.tensors[0]
    dtype = store.tensors[name].dtype
    select = _selector(member, units)
    n = units.size
    with store.bits(name) as tensor:
        if tensor.ndim == 2 and member.axis == 1:
            rows = max(1, WINDOW // max(1, tensor.shape[1]))
            for start in range(0, tensor.shape[0], rows):
                part = tensor[start : start + rows]
                # take along the axis gathers faster than fancy indexing, same array
                part = part[:, select] if isinstance(select, slice) else part.take(select, axis=1)
                if member.block > 1:  # (w, n*block) -> (w*block, n), position order kept fixed
                    part = part.reshape(part.shape[0], n, member.block)
                    part = part.transpose(0, 2, 1).reshape(-1, n)
                yield Window(part, dtype, start * member.block, True)
            return
        moved = np.moveaxis(tensor, member.axis, 0)
        if moved.ndim == 1:
            yield Window(moved[select].reshape(n, -1), dtype, 0, False)
            return
        per_row = max(1, int(np.prod(moved.shape[2:], dtype=np.int64)))
        cols = max(1, WINDOW // max(1, moved.shape[0] * per_row))
        for start in range(0, moved.shape[1], cols):
            part = moved[select, start : start + cols]
            part = part.reshape(n, member.block, -1).reshape(n, -1)
            yield Window(part, dtype, start * per_row * member.block, False)


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
        yield Window(np.stack(rows), dtype, start, False)
