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
* for spaces of at most :data:`EXACT_LIMIT` units: every value decoded
  exactly, :math:`\lVert v_u\rVert^2` and the Gram matrix :math:`V V^\top`
  in float64;
* for wider spaces: :math:`\lVert v_u\rVert^2` (float32 sums per window,
  float64 across windows), taken from the slice norms another space already
  computed when there are some (:data:`NormCache`; then the member is not
  decoded: :math:`\max_k |v_{uk}|` read from the bit patterns gives the dead
  units exactly), and a sketch :math:`V_P S` of a sample :math:`P` of the
  positions (the first
  :math:`1/` :data:`SAMPLE` of every window) with
  :math:`S_{k,j} = \pm 1/\sqrt{K}`, :math:`K =` :data:`SKETCH_DIM`, signs
  drawn per position (Achlioptas, 2003). Any subset of positions is sound
  for the near-duplicate filter of :mod:`symcheck.checkpoint.distance`: a
  pair's distance on a subset is at most its full distance.

No tensor is widened beyond one window at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symcheck.checkpoint.dtypes import StoredDtype, canonical_bits, decode
from symcheck.checkpoint.families import Member, Space
from symcheck.checkpoint.store import Store
from symcheck.checkpoint.windows import Window, windows

__all__ = ["EXACT_LIMIT", "SAMPLE", "SKETCH_DIM", "Scan", "scan", "splitmix64"]

NDArray = np.ndarray

#: Spaces of at most this many units get every pair's distance (Gram matrix).
EXACT_LIMIT = 64
SKETCH_DIM = 16
#: Positions of a window hashed before the first check for all-distinct keys.
_FIRST_HASH = 256
#: With a sketch, one position in SAMPLE of every window is decoded and sketched.
SAMPLE = 8
#: Multiply-adds per matrix product: small enough that OpenBLAS stays on one
#: thread (its threads oversubscribe the cores the job pool already uses).
_GEMM_WORK = 1 << 19
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
    #: Squared norms: exact with a Gram matrix, of the sampled positions with a sketch.
    norm2: NDArray
    #: An upper bound on the full squared norms (exact with a Gram matrix).
    bound2: NDArray
    gram: NDArray | None
    sketch: NDArray | None
    elements: int
    nonfinite: bool


#: Squared norms of the slices of a tensor along one axis, by ``(tensor, axis)``:
#: ``norms[i]`` is the sum of squares of ``tensor.take(i, axis)``.
NormCache = dict


def scan(
    store: Store, space: Space, *, hash_all: bool = False, norms: NormCache | None = None
) -> Scan:
    """One pass over every member of ``space`` (see the module docstring).

    ``norms`` is shared between the spaces of one checkpoint: a member whose
    slice norms are already known is read without decoding (largest magnitude,
    sampled sketch, keys); a member decoded in full publishes the slice norms
    of its tensor along both axes when its units cover the whole axis.
    """
    norms = {} if norms is None else norms
    n = space.width
    acc = _Accumulator(n, exact=n <= EXACT_LIMIT)
    hashing = True
    zero = {"in": np.ones(n, dtype=bool), "out": np.ones(n, dtype=bool)}
    roles = {m.role for m in space.members}
    for index, member in enumerate(space.members):
        name = member.tensors[0]
        known = None if acc.exact else norms.get((name, member.axis))
        dtype = store.tensors[name].dtype
        fast = known is not None and dtype.floating and member.axis is not None
        if fast:
            idx = (
                member.offset
                + np.arange(n)[:, None] * member.stride
                + np.arange(member.block)[None, :]
            )
            acc.bound2 += known[idx].sum(axis=1)
        publish = _Publisher(store, member, n) if not fast else None
        for window in windows(store, member, np.arange(n)):
            axis = 0 if window.units_last else 1  # the axis of positions
            width = window.bits.shape[axis]
            if width == 0:
                continue
            acc.elements += width
            if fast:
                peak = _largest_magnitude(window.bits, window.dtype, axis)
                nonzero = peak != 0
                sample = -(-width // SAMPLE)
                part = window.bits[:sample] if window.units_last else window.bits[:, :sample]
                with np.errstate(all="ignore"):
                    acc.add(decode(part, window.dtype), window.units_last, index, window.start)
            else:
                values = decode(window.bits, window.dtype, wide=acc.exact)
                with np.errstate(all="ignore"):  # Inf/NaN make norms non-finite: reported
                    norm2 = acc.add(values, window.units_last, index, window.start)
                    acc.bound2 += norm2
                    publish.window(values, window, norm2)
                nonzero = norm2 != 0
                # A zero (or underflowed) square sum is confirmed on the values themselves.
                maybe = ~nonzero
                if maybe.any():
                    rows = values[:, maybe] if window.units_last else values[maybe]
                    nonzero[maybe] = (rows != 0).any(axis=axis)
            if member.role in zero:
                zero[member.role] &= ~nonzero
            if hashing:
                hashing = acc.hash(window, index, stop=not hash_all)
        if publish is not None:
            publish.done(norms)
    return Scan(
        acc.keys,
        hashing,
        zero["in"] if "in" in roles else np.zeros(n, dtype=bool),
        zero["out"] if "out" in roles else np.zeros(n, dtype=bool),
        acc.norm2,
        acc.bound2,
        acc.gram,
        acc.sketch,
        acc.elements,
        not np.isfinite(acc.bound2).all(),
    )


class _Publisher:
    """Slice norms of a 2-D tensor along both axes, gathered while a member is decoded.

    Only when the member's units tile its axis exactly (every slice is seen)
    and the block is 1 for column units (rows of ``bits`` are then tensor rows).
    """

    def __init__(self, store: Store, member: Member, n: int) -> None:
        ref = store.tensors[member.tensors[0]]
        self.name, self.member = ref.name, member
        self.active = (
            member.axis in (0, 1)
            and len(ref.shape) == 2
            and member.tiled
            and (member.axis == 0 or member.block == 1)
        )
        if self.active:
            self.own = np.zeros(ref.shape[member.axis])
            self.other = np.zeros(ref.shape[1 - member.axis])

    def window(self, values: NDArray, window: Window, norm2: NDArray) -> None:
        """Add one decoded window; ``norm2`` is its squared norm per unit (block 1)."""
        if not self.active:
            return
        b = self.member.block
        if window.units_last:  # tensor rows x units (columns), block 1
            self.own += norm2
            rows = np.einsum("ij,ij->i", values, values)
            self.other[window.start : window.start + rows.size] += rows
            return
        per = values.reshape(values.shape[0] * b, -1)  # tensor rows x columns of the window
        self.own += norm2 if b == 1 else np.einsum("ij,ij->i", per, per)
        cols = np.einsum("ij,ij->j", per, per)
        first = window.start // b
        self.other[first : first + cols.size] += cols

    def done(self, norms: NormCache) -> None:
        if self.active:
            axis = self.member.axis
            norms.setdefault((self.name, axis), self.own)
            norms.setdefault((self.name, 1 - axis), self.other)


class _Accumulator:
    """Keys, squared norms and the Gram matrix or sketch, added window by window."""

    def __init__(self, n: int, *, exact: bool) -> None:
        self.exact = exact
        self.keys = np.zeros(n, dtype=np.uint64)
        self.norm2 = np.zeros(n)
        self.bound2 = np.zeros(n)
        self.gram = np.zeros((n, n)) if exact else None
        self.sketch = None if exact else np.zeros((n, SKETCH_DIM))
        self.elements = 0

    def add(self, values: NDArray, units_last: bool, salt: int, start: int) -> NDArray:
        """Add one window (every position is sketched); returns its squared norm per unit."""
        v = values.T if units_last else values  # a view: units x positions
        if self.exact:
            v64 = v.astype(np.float64, copy=False)
            step = max(1, _GEMM_WORK // max(1, v64.shape[0] ** 2))
            window = np.zeros_like(self.gram)
            for lo in range(0, v64.shape[1], step):
                block = v64[:, lo : lo + step]
                window += block @ block.T
            self.gram += window
            norm2 = np.diagonal(window).copy()  # the squared norms come with the Gram matrix
            self.norm2 += norm2
            return norm2
        # float32 sums inside a window, float64 across windows
        norm2 = np.einsum("ij,ij->i", v, v).astype(np.float64)
        self.norm2 += norm2
        signs = _signs(salt + 1, start, v.shape[1])
        rows = max(1, _GEMM_WORK // max(1, v.shape[1] * SKETCH_DIM))
        for lo in range(0, v.shape[0], rows):
            self.sketch[lo : lo + rows] += v[lo : lo + rows] @ signs
        return norm2

    def hash(self, window: Window, salt: int, *, stop: bool) -> bool:
        """Add the window's canonical bits to the keys; False once hashing can stop.

        The window is hashed in a short first piece and the rest: keys of a
        prefix of the positions that are all distinct already prove that no two
        units are equal (equal vectors have equal keys on every prefix).
        """
        width = window.bits.shape[0 if window.units_last else 1]
        for lo, hi in ((0, min(width, _FIRST_HASH)), (_FIRST_HASH, width)):
            if lo >= hi:
                continue
            part = window.bits[lo:hi] if window.units_last else window.bits[:, lo:hi]
            if window.dtype.floating:
                part = canonical_bits(part, window.dtype)
            r = splitmix64(_positions(salt + 1, window.start + lo, hi - lo)) | np.uint64(1)
            with np.errstate(over="ignore"):
                if window.units_last:
                    self.keys += (part.astype(np.uint64) * r[:, None]).sum(axis=0, dtype=np.uint64)
                else:
                    self.keys += (part.astype(np.uint64) * r[None, :]).sum(axis=1, dtype=np.uint64)
            if stop and np.unique(self.keys).size == self.keys.size:
                return False
        return True


def _largest_magnitude(bits: NDArray, dtype: StoredDtype, axis: int) -> NDArray:
    """``max |x|`` per unit from the bit patterns alone (NaN gives NaN), no decoding.

    Sign-magnitude floats order like their magnitudes: as unsigned integers the
    largest pattern with the sign bit set is the most negative value, and as
    signed integers the largest is the most positive one.
    """
    unsigned = bits.max(axis=axis)
    signed = bits.view(np.dtype(dtype.bits).str.replace("u", "i")).max(axis=axis)
    sign = dtype.bits(dtype.sign)
    negative = np.where(unsigned >= sign, unsigned & dtype.bits(dtype.sign - 1), 0)
    positive = np.maximum(signed, 0).astype(dtype.bits)
    return np.abs(decode(np.maximum(negative, positive).astype(dtype.bits), dtype))


def _signs(salt: int, start: int, count: int) -> NDArray:
    """``count x SKETCH_DIM`` matrix of ``±1/sqrt(SKETCH_DIM)``, a function of positions only."""
    word = splitmix64(_positions(salt ^ 0x5EED, start, count))
    bits = (word[:, None] >> np.arange(SKETCH_DIM, dtype=np.uint64)[None, :]) & np.uint64(1)
    scale = np.float32(1 / np.sqrt(SKETCH_DIM))
    return np.where(bits.astype(bool), scale, -scale).astype(np.float32)
