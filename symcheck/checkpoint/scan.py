r"""One streamed pass over a unit space: keys, dead units, norms and a sketch.

For every unit ``u`` of a space, over the windows of every member
(:mod:`symcheck.checkpoint.windows`):

* an exact 64-bit key of its canonical bit patterns,
  :math:`\sum_k \mathrm{bits}_k\, r_k \bmod 2^{64}` with odd multipliers
  :math:`r_k` drawn per position by SplitMix64 (Steele et al., 2014), so equal
  vectors get equal keys wherever they sit; hashing stops as soon as the keys
  seen so far are all distinct (then no two units can be equal);
* whether its incoming (role ``in``) and outgoing (role ``out``) parts are
  all zero (``-0.0`` counts as zero);
* :math:`\lVert v_u\rVert^2` in float64 (values decoded exactly);
* for spaces of at most :data:`EXACT_LIMIT` units the Gram matrix
  :math:`V V^\top` in float64, else a sketch :math:`V S` with
  :math:`S_{k,j} = \pm 1/\sqrt{K}`, :math:`K =` :data:`SKETCH_DIM`, signs
  drawn per position (Achlioptas, 2003).

No tensor is widened beyond one window at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symcheck.checkpoint.dtypes import decode
from symcheck.checkpoint.families import Space
from symcheck.checkpoint.store import Store
from symcheck.checkpoint.windows import windows

__all__ = ["EXACT_LIMIT", "SKETCH_DIM", "Scan", "scan", "splitmix64"]

NDArray = np.ndarray

#: Spaces of at most this many units get every pair's distance (Gram matrix).
EXACT_LIMIT = 64
SKETCH_DIM = 16
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: NDArray) -> NDArray:
    """SplitMix64 finaliser of ``x`` (uint64), elementwise; wraps modulo 2^64."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _positions(salt: int, start: int, count: int) -> NDArray:
    base = np.uint64((salt * 0x100000001B3 + start) % (1 << 64))
    with np.errstate(over="ignore"):
        return base + np.arange(count, dtype=np.uint64)


@dataclass
class Scan:
    """What one pass over a space found (arrays indexed by unit)."""

    keys: NDArray
    hashed_all: bool
    zero_in: NDArray
    zero_out: NDArray
    norm2: NDArray
    gram: NDArray | None
    sketch: NDArray | None
    elements: int
    nonfinite: bool


def scan(store: Store, space: Space, *, hash_all: bool = False) -> Scan:
    """One pass over every member of ``space`` (see the module docstring)."""
    n = space.width
    units = np.arange(n)
    keys = np.zeros(n, dtype=np.uint64)
    hashing = True
    zero_in = np.ones(n, dtype=bool)
    zero_out = np.ones(n, dtype=bool)
    has_in = any(m.role == "in" for m in space.members)
    has_out = any(m.role == "out" for m in space.members)
    norm2 = np.zeros(n)
    exact = n <= EXACT_LIMIT
    gram = np.zeros((n, n)) if exact else None
    sketch = None if exact else np.zeros((n, SKETCH_DIM))
    elements = 0
    for index, member in enumerate(space.members):
        for window in windows(store, member, units):
            bits, dtype = window.bits, window.dtype
            width = bits.shape[1]
            elements += width
            if width == 0:
                continue
            positions = _positions(index + 1, window.start, width)
            if hashing:
                r = splitmix64(positions) | np.uint64(1)
                with np.errstate(over="ignore"):
                    keys += (bits.astype(np.uint64) * r[None, :]).sum(axis=1, dtype=np.uint64)
                if not hash_all and np.unique(keys).size == n:
                    hashing = False
            magnitude = bits & dtype.bits(dtype.sign - 1) if dtype.floating else bits
            nonzero = magnitude.any(axis=1)
            if member.role == "in":
                zero_in &= ~nonzero
            elif member.role == "out":
                zero_out &= ~nonzero
            values = decode(bits, dtype, wide=exact)
            with np.errstate(all="ignore"):  # Inf/NaN make norm2 non-finite: reported
                _accumulate(values, exact, gram, sketch, norm2, index, window.start)
    nonfinite = not np.isfinite(norm2).all()

    return Scan(
        keys,
        hashing,
        zero_in if has_in else np.zeros(n, dtype=bool),
        zero_out if has_out else np.zeros(n, dtype=bool),
        norm2,
        gram,
        sketch,
        elements,
        nonfinite,
    )


def _accumulate(
    values: NDArray,
    exact: bool,
    gram: NDArray | None,
    sketch: NDArray | None,
    norm2: NDArray,
    salt: int,
    start: int,
) -> None:
    if exact:
        v64 = values.astype(np.float64, copy=False)
        gram += v64 @ v64.T
        norm2 += np.einsum("ij,ij->i", v64, v64)
    else:
        norm2 += np.einsum("ij,ij->i", values, values, dtype=np.float64)
        sketch += (values @ _signs(salt + 1, start, values.shape[1])).astype(np.float64)


def _signs(salt: int, start: int, count: int) -> NDArray:
    """``count x SKETCH_DIM`` matrix of ``±1/sqrt(SKETCH_DIM)``, a function of positions only."""
    word = splitmix64(_positions(salt ^ 0x5EED, start, count))
    bits = (word[:, None] >> np.arange(SKETCH_DIM, dtype=np.uint64)[None, :]) & np.uint64(1)
    scale = np.float32(1 / np.sqrt(SKETCH_DIM))
    return np.where(bits.astype(bool), scale, -scale).astype(np.float32)
