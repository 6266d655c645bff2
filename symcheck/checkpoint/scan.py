r"""One streamed pass over a unit space: keys, dead units, norms and a sketch.

For every unit ``u`` of a space, over the windows of every member
(:mod:`symcheck.checkpoint.windows`):

* an exact 64-bit key of its canonical bit patterns,
  :math:`\sum_k \mathrm{bits}_k\, r_k \bmod 2^{64}` with odd multipliers
  :math:`r_k` drawn per position by SplitMix64 (Steele et al., 2014), so equal
  vectors get equal keys wherever they sit; hashing stops as soon as the keys
  of one member's positions seen so far are all distinct (then no two units
  can be equal);
* whether its incoming (role ``in``) and outgoing (role ``out``) parts are
  all zero (``-0.0`` counts as zero);
* for spaces of at most :data:`EXACT_LIMIT` units: every value decoded
  exactly, :math:`\lVert v_u\rVert^2` and the Gram matrix :math:`V V^\top`
  in float64;
* for wider spaces: :math:`\lVert v_u\rVert^2` (float32 sums per window,
  float64 across windows), taken from the slice norms another space already
  computed when there are some (:data:`NormCache`; then the member is not
  decoded: the OR of the bit patterns, sign bit masked, gives the dead units
  exactly), and a sketch :math:`V_P S` of a sample :math:`P` of the
  positions (the first
  :math:`1/` :data:`SAMPLE` of every window) with
  :math:`S_{k,j} = \pm 1/\sqrt{K}`, :math:`K =` :data:`SKETCH_DIM`, signs
  drawn per position (Achlioptas, 2003). Any subset of positions is sound
  for the near-duplicate filter of :mod:`symcheck.checkpoint.distance`: a
  pair's distance on a subset is at most its full distance.

No tensor is widened beyond one window at a time. Each member is scanned on
its own (:func:`scan_member`, one task of the audit's thread pool) and the
members' shares are added in member order (:func:`fold`): every float sum is
the same whichever thread ran a member, so the results do not depend on
``jobs``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

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
#: Positions of a window hashed before the first check for all-distinct keys
#: (32 random weights already tell units apart; equal prefixes hash the rest).
_FIRST_HASH = 32
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


@dataclass
class MemberScan:
    """One member's share of a space's scan; :func:`fold` adds the shares in member order.

    ``windows`` holds, per window, the squared norms and the Gram-matrix or
    sketch contribution, so that the float sums of :func:`fold` are the same
    whichever thread scanned the member and whenever it finished.
    """

    role: str
    windows: list[tuple[NDArray, NDArray]]
    #: Squared norms from the known slice norms (fast path), else ``None``.
    bound: NDArray | None
    nonzero: NDArray
    keys: NDArray
    #: Every position was hashed (no early stop).
    hashed: bool
    #: This member's keys alone proved every unit distinct.
    distinct: bool
    elements: int
    #: Slice norms this member computed, by ``(tensor, axis)``.
    published: NormCache


def is_exact(space: Space) -> bool:
    """Spaces of at most :data:`EXACT_LIMIT` units get a Gram matrix, wider ones a sketch."""
    return space.width <= EXACT_LIMIT


def uses_norms(store: Store, space: Space, index: int) -> bool:
    """Whether member ``index`` is read without decoding when its slice norms are known."""
    member = space.members[index]
    ref = store.tensors[member.tensors[0]]
    return not is_exact(space) and ref.dtype.floating and member.axis is not None


def publishes(store: Store, member: Member) -> bool:
    """Whether decoding ``member`` yields the slice norms of its tensor along both axes.

    Only when the member's units tile its axis exactly (every slice is seen)
    and the block is 1 for column units (rows of ``bits`` are then tensor rows).
    """
    if member.axis is None:
        return False
    ref = store.tensors[member.tensors[0]]
    return (
        member.axis in (0, 1)
        and len(ref.shape) == 2
        and member.tiled
        and (member.axis == 0 or member.block == 1)
    )


def scan(
    store: Store, space: Space, *, hash_all: bool = False, norms: NormCache | None = None
) -> Scan:
    """One pass over every member of ``space`` (see the module docstring).

    ``norms`` is shared between the spaces of one checkpoint: a member whose
    slice norms are already known is read without decoding (magnitude bits,
    sampled sketch, keys); a member decoded in full publishes the slice norms
    of its tensor along both axes when its units cover the whole axis.
    """
    norms = {} if norms is None else norms
    distinct = threading.Event()
    parts = []
    for index, member in enumerate(space.members):
        known = norms.get((member.tensors[0], member.axis))
        if not uses_norms(store, space, index):
            known = None
        part = scan_member(store, space, index, known=known, hash_all=hash_all, distinct=distinct)
        for key, value in part.published.items():
            norms.setdefault(key, value)
        parts.append(part)
    return fold(space, parts)


def scan_member(
    store: Store,
    space: Space,
    index: int,
    *,
    known: NDArray | None,
    hash_all: bool = False,
    distinct: threading.Event | None = None,
) -> MemberScan:
    """Scan member ``index`` of ``space``; ``known``: its tensor's slice norms along its axis."""
    n = space.width
    exact = is_exact(space)
    member = space.members[index]
    fast = known is not None
    out = MemberScan(
        member.role,
        [],
        None,
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=np.uint64),
        True,
        False,
        0,
        {},
    )
    if fast:
        idx = (
            member.offset + np.arange(n)[:, None] * member.stride + np.arange(member.block)[None, :]
        )
        out.bound = known[idx].sum(axis=1)
    publish = _Publisher(store, member) if not fast and publishes(store, member) else None
    for window in windows(store, member, np.arange(n)):
        axis = 0 if window.units_last else 1  # the axis of positions
        width = window.bits.shape[axis]
        if width == 0:
            continue
        out.elements += width
        if fast:
            nonzero = _nonzero_bits(window.bits, window.dtype, axis)
            sample = -(-width // SAMPLE)
            part = window.bits[:sample] if window.units_last else window.bits[:, :sample]
            with np.errstate(all="ignore"):
                out.windows.append(
                    _sketch_window(
                        decode(part, window.dtype), window.units_last, index, window.start
                    )
                )
        else:
            with np.errstate(all="ignore"):  # Inf/NaN make norms non-finite: reported
                if exact and publish is None:  # decoded block by block, in cache
                    norm2, contribution = _gram_window(window, None)
                else:
                    values = decode(window.bits, window.dtype, wide=exact)
                    if exact:
                        norm2, contribution = _gram_window(window, values)
                    else:
                        norm2, contribution = _sketch_window(
                            values, window.units_last, index, window.start
                        )
                    if publish is not None:
                        publish.window(values, window, norm2)
                out.windows.append((norm2, contribution))
            nonzero = norm2 != 0
            # A zero (or underflowed) square sum is confirmed on the bits themselves.
            maybe = ~nonzero
            if maybe.any():
                rows = window.bits[:, maybe] if window.units_last else window.bits[maybe]
                nonzero[maybe] = _nonzero_bits(rows, window.dtype, axis)
        out.nonzero |= nonzero
        if out.hashed and not out.distinct:
            if distinct is not None and distinct.is_set() and not hash_all:
                out.hashed = False
            else:
                _hash(out, window, index, stop=not hash_all)
                if out.distinct and distinct is not None:
                    distinct.set()
    if publish is not None:
        out.published = publish.done()
    return out


def fold(space: Space, parts: list[MemberScan]) -> Scan:
    """The space's :class:`Scan` from its members' shares, added in member order."""
    n = space.width
    exact = is_exact(space)
    keys = np.zeros(n, dtype=np.uint64)
    norm2, bound2 = np.zeros(n), np.zeros(n)
    gram = np.zeros((n, n)) if exact else None
    sketch = None if exact else np.zeros((n, SKETCH_DIM))
    zero = {"in": np.ones(n, dtype=bool), "out": np.ones(n, dtype=bool)}
    elements = 0
    for part in parts:
        if part.bound is not None:
            bound2 += part.bound
        for window_norm2, contribution in part.windows:
            if exact:
                gram += contribution
            else:
                sketch += contribution
            norm2 += window_norm2
            if part.bound is None:
                bound2 += window_norm2
        part.windows = []  # folded: the memory is released
        with np.errstate(over="ignore"):
            keys += part.keys
        if part.role in zero:
            zero[part.role] &= ~part.nonzero
        elements += part.elements
    roles = {m.role for m in space.members}
    return Scan(
        keys,
        all(p.hashed for p in parts) and not any(p.distinct for p in parts),
        zero["in"] if "in" in roles else np.zeros(n, dtype=bool),
        zero["out"] if "out" in roles else np.zeros(n, dtype=bool),
        norm2,
        bound2,
        gram,
        sketch,
        elements,
        not np.isfinite(bound2).all(),
    )


class _Publisher:
    """Slice norms of a 2-D tensor along both axes, gathered while a member is decoded."""

    def __init__(self, store: Store, member: Member) -> None:
        ref = store.tensors[member.tensors[0]]
        self.name, self.member = ref.name, member
        self.own = np.zeros(ref.shape[member.axis])
        self.other = np.zeros(ref.shape[1 - member.axis])

    def window(self, values: NDArray, window: Window, norm2: NDArray) -> None:
        """Add one decoded window; ``norm2`` is its squared norm per unit (block 1)."""
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

    def done(self) -> NormCache:
        axis = self.member.axis
        return {(self.name, axis): self.own, (self.name, 1 - axis): self.other}


def _gram_window(window: Window, values: NDArray | None) -> tuple[NDArray, NDArray]:
    """Squared norms and the float64 Gram matrix of one window (units x positions).

    Summed over blocks of positions; each block is taken from ``values`` (the
    window decoded to float64) or, without them, decoded from the bits on the
    spot, so that it stays in cache. The sums are the same either way.
    """
    bits = window.bits
    n = bits.shape[1 if window.units_last else 0]
    width = bits.shape[0 if window.units_last else 1]
    step = max(1, _GEMM_WORK // max(1, n**2))
    gram = np.zeros((n, n))
    for lo in range(0, width, step):
        if values is not None:
            part = values[lo : lo + step] if window.units_last else values[:, lo : lo + step]
        else:
            raw = bits[lo : lo + step] if window.units_last else bits[:, lo : lo + step]
            part = decode(raw, window.dtype, wide=True)
        block = part.T if window.units_last else part  # a view: units x positions
        gram += block @ block.T
    return np.diagonal(gram).copy(), gram  # the squared norms come with the Gram matrix


def _sketch_window(
    values: NDArray, units_last: bool, salt: int, start: int
) -> tuple[NDArray, NDArray]:
    """Squared norms (float32 sums) and the sketch ``V S`` of one window (every position)."""
    v = values.T if units_last else values  # a view: units x positions
    norm2 = np.einsum("ij,ij->i", v, v).astype(np.float64)
    signs = _signs(salt + 1, start, v.shape[1])
    part = np.empty((v.shape[0], SKETCH_DIM), dtype=np.float32)
    rows = max(1, _GEMM_WORK // max(1, v.shape[1] * SKETCH_DIM))
    for lo in range(0, v.shape[0], rows):
        part[lo : lo + rows] = v[lo : lo + rows] @ signs
    return norm2, part


def _hash(out: MemberScan, window: Window, salt: int, *, stop: bool) -> None:
    """Add the window's canonical bits to the member's keys; mark it distinct when proved.

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
                out.keys += (part.astype(np.uint64) * r[:, None]).sum(axis=0, dtype=np.uint64)
            else:
                out.keys += (part.astype(np.uint64) * r[None, :]).sum(axis=1, dtype=np.uint64)
        if stop and np.unique(out.keys).size == out.keys.size:
            out.hashed, out.distinct = False, True
            return


def _nonzero_bits(bits: NDArray, dtype: StoredDtype, axis: int) -> NDArray:
    """Per unit: some value is nonzero (``-0.0`` is zero, NaN is not), from the bits alone.

    A float is zero exactly when its bits other than the sign are all zero, so
    the OR of every pattern, sign bit masked, is zero exactly for zero units.
    """
    magnitude = dtype.bits(dtype.sign - 1) if dtype.floating else np.iinfo(dtype.bits).max
    return (np.bitwise_or.reduce(bits, axis=axis) & magnitude) != 0


def _signs(salt: int, start: int, count: int) -> NDArray:
    """``count x SKETCH_DIM`` matrix of ``±1/sqrt(SKETCH_DIM)``, a function of positions only.

    Spaces of one checkpoint see the same windows again (every layer's FFN),
    so small matrices are kept (at most 128 of 256 KiB).
    """
    if count <= _CACHED_SIGNS:
        return _cached_signs(salt, start, count)
    return _make_signs(salt, start, count)


_CACHED_SIGNS = 4096


@lru_cache(maxsize=128)
def _cached_signs(salt: int, start: int, count: int) -> NDArray:
    signs = _make_signs(salt, start, count)
    signs.flags.writeable = False
    return signs


def _make_signs(salt: int, start: int, count: int) -> NDArray:
    word = splitmix64(_positions(salt ^ 0x5EED, start, count))
    bits = (word[:, None] >> np.arange(SKETCH_DIM, dtype=np.uint64)[None, :]) & np.uint64(1)
    scale = np.float32(1 / np.sqrt(SKETCH_DIM))
    return np.where(bits.astype(bool), scale, -scale).astype(np.float32)
