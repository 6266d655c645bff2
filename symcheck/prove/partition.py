r"""Symmetry classes of a layered network: exact ties and equitable partitions.

Parameters are a list of ``(W, b)`` pairs, one per layer ``l = 1..L``, with
``W^l`` of shape ``(n_l, n_{l-1})`` (row = incoming weights of a neuron,
column = outgoing weights of a neuron of the layer below) and ``b`` of shape
``(n_l,)`` or ``None``. Only hidden layers ``1..L-1`` are partitioned; inputs
and outputs are always singletons (`docs/theory.md`, T1).

**Exact ties (T1).** Neurons ``i`` and ``j`` of hidden layer ``l`` are tied when

.. math::

    W^l_{i,:} = W^l_{j,:},\qquad b^l_i = b^l_j,\qquad W^{l+1}_{:,i} = W^{l+1}_{:,j}.

Swapping them leaves :math:`\theta` unchanged, so by gradient equivariance
they receive identical updates under any elementwise optimiser.

**Equitable partitions (T3).** A partition of every hidden layer into blocks
is equitable when biases are constant on blocks and, for every pair of blocks
:math:`I \subseteq` layer ``l``, :math:`K \subseteq` layer ``l-1``,

.. math::

    \sum_{k\in K} W^l_{ik} \text{ is the same for all } i \in I, \qquad
    \sum_{i\in I} W^l_{ik} \text{ is the same for all } k \in K.

The coarsest one is found by colour refinement (Weisfeiler–Leman on the
layered graph; see Godsil & Royle, *Algebraic Graph Theory*, §9.3, and the
lumpability of Kemeny & Snell), forward and backward together, iterated to
the fixed point. The number of its blocks in a layer is the layer's
**effective width**: at most that many distinct neurons can ever exist there
under the optimisers of T3.

Choices made on purpose:

* ``-0.0`` and ``0.0`` are the same value (they behave identically in every
  product and sum that reaches a gradient);
* every NaN is the same value, whatever its payload: two neurons with NaN in
  the same places are tied (the permutation leaves the parameter vector
  unchanged up to NaN payloads), and the audit flags the NaN separately;
* block sums are order independent: the values of one row inside one block
  are sorted and then added left to right (a sequential ``cumsum``), so equal
  multisets are identical sequences and give bitwise identical sums, whatever
  the positions of the neurons. Singleton blocks are not summed at all.

Grouping never compares all pairs: every neuron gets a 64-bit key (an exact,
order-independent hash of the canonical bit patterns of its row, bias and
column: :math:`\sum_k \operatorname{mix}(\mathrm{bits}_k)\, r_k \bmod 2^{64}`
with random odd multipliers :math:`r_k`); neurons are grouped by key with a
sort, and every group is then verified exactly against its first member, so a
hash collision can cost time but never produces a wrong tie.

With ``tolerance > 0`` values are compared approximately: every coordinate of
the neurons' signatures is sorted and cut where two consecutive values differ
by more than ``tolerance`` times the largest magnitude of that quantity in the
layer, and neurons fall in one block when every coordinate lands in the same
cluster (single linkage per coordinate, so the result is a partition even
though "close" is not transitive).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from symcheck.errors import InvalidArgument

__all__ = [
    "EXACT_NEAREST_LIMIT",
    "LayerPartition",
    "NearestPair",
    "Partition",
    "PartitionReport",
    "analyse",
    "coarsest_equitable_partition",
    "effective_widths",
    "is_equitable",
    "matrix_classes",
    "nearest_pairs",
    "tie_classes",
]

NDArray = np.ndarray

#: Hidden layers at most this wide get the exact all-pairs nearest distance.
EXACT_NEAREST_LIMIT = 64

_CHUNK = 1 << 18  # elements hashed at a time (fits in L2 with its temporaries)
_SEED = 0x5EED_C0DE  # fixed: keys (and so block labels) are reproducible


@dataclass(frozen=True)
class LayerPartition:
    """The blocks of one hidden layer (0-based neuron indices).

    ``blocks`` are sorted by their smallest member; ``layer`` is 1-based.
    """

    layer: int
    blocks: tuple[tuple[int, ...], ...]

    @property
    def width(self) -> int:
        return sum(len(b) for b in self.blocks)

    @property
    def effective_width(self) -> int:
        """Number of blocks."""
        return len(self.blocks)

    @property
    def collapsed(self) -> bool:
        return self.effective_width < self.width

    def labels(self) -> NDArray:
        """Block index of every neuron, shape ``(width,)``."""
        out = np.empty(self.width, dtype=np.intp)
        for label, block in enumerate(self.blocks):
            out[list(block)] = label
        return out

    def nontrivial(self) -> tuple[tuple[int, ...], ...]:
        """The blocks with two or more neurons."""
        return tuple(b for b in self.blocks if len(b) > 1)


@dataclass(frozen=True)
class Partition:
    """One :class:`LayerPartition` per hidden layer, in order."""

    layers: tuple[LayerPartition, ...]

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(p.width for p in self.layers)

    @property
    def effective_widths(self) -> tuple[int, ...]:
        return tuple(p.effective_width for p in self.layers)

    @classmethod
    def from_labels(cls, labels: Sequence[Sequence[int]]) -> Partition:
        """Build a partition from one label sequence per hidden layer."""
        return cls(
            tuple(
                LayerPartition(layer, _blocks(np.asarray(lab)))
                for layer, lab in enumerate(labels, start=1)
            )
        )


@dataclass(frozen=True)
class NearestPair:
    r"""The two closest neurons of a hidden layer on a scale-free distance.

    .. math::

        d(i, j) = \frac{\lVert v_i - v_j \rVert_2}{\max(\lVert v_i\rVert_2, \lVert v_j\rVert_2)},
        \qquad v_i = (W^l_{i,:},\ b^l_i,\ W^{l+1}_{:,i}),

    with :math:`0/0 = 0`. ``distance`` is 0 exactly for tied neurons, and
    ``None`` when the layer has one neuron or non-finite values. ``exact``
    says whether every pair was examined (layers of at most
    :data:`EXACT_NEAREST_LIMIT` neurons, or a tie) or the pair was found by
    random projections (then ``distance`` is the true distance of a real
    pair, so an upper bound on the minimum).
    """

    layer: int
    distance: float | None
    pair: tuple[int, int] | None
    exact: bool


@dataclass(frozen=True)
class PartitionReport:
    """Ties, the coarsest equitable partition and nearest pairs, computed together."""

    ties: Partition
    equitable: Partition
    nearest: tuple[NearestPair, ...]


# --------------------------------------------------------------------------- inputs


def _validate(params: Sequence) -> list[tuple[NDArray, NDArray | None]]:
    try:
        layers = list(params)
    except TypeError:
        raise InvalidArgument("params must be a sequence of (W, b) pairs") from None
    if len(layers) < 2:
        raise InvalidArgument(
            f"params has {len(layers)} layer(s); a partition needs at least two "
            "(one hidden layer between them)"
        )
    out: list[tuple[NDArray, NDArray | None]] = []
    for index, pair in enumerate(layers, start=1):
        try:
            w, b = pair
        except (TypeError, ValueError):
            raise InvalidArgument(f"params[{index - 1}] must be a (W, b) pair") from None
        w = np.asarray(w)
        if w.ndim != 2 or w.dtype.kind not in "fiub":
            raise InvalidArgument(
                f"W{index} has shape {w.shape} and dtype {w.dtype}; "
                "expected a 2-D real array (n_out, n_in)"
            )
        if out and out[-1][0].shape[0] != w.shape[1]:
            raise InvalidArgument(
                f"W{index} has {w.shape[1]} columns but W{index - 1} has "
                f"{out[-1][0].shape[0]} rows; consecutive layers must chain"
            )
        if b is not None:
            b = np.asarray(b)
            if b.shape != (w.shape[0],) or b.dtype.kind not in "fiub":
                raise InvalidArgument(
                    f"b{index} has shape {b.shape}, expected {(w.shape[0],)} (or None)"
                )
        out.append((w, b))
    return out


def _check_tolerance(tolerance: float) -> float:
    t = float(tolerance)
    if not np.isfinite(t) or t < 0:
        raise InvalidArgument(
            f"tolerance={tolerance!r} must be a finite number >= 0 (0 means exact)"
        )
    return t


# --------------------------------------------------------------------------- canonical bits

_UINT = {4: np.uint32, 8: np.uint64}


def _canonical(a: NDArray) -> NDArray:
    """A float64 copy with -0.0 -> 0.0 and every NaN -> the one canonical NaN."""
    c = np.add(a, 0.0, dtype=np.float64)  # -0.0 + 0.0 == +0.0 (round to nearest)
    nan = np.isnan(c)
    if nan.any():
        c[nan] = np.nan
    return c


class _Matrix:
    """A weight matrix in canonical form and its bit patterns.

    ``c`` is float32 or float64 (other dtypes are widened to float64, exactly
    for float16 and for integers below :math:`2^{53}`), C-contiguous, with
    -0.0 replaced by 0.0 and NaNs by the canonical NaN; it is the input array
    itself (no copy) when that holds already. ``u`` views its bits as unsigned
    integers, so bitwise equality of ``u`` rows is equality of canonical values.
    """

    def __init__(self, a: NDArray) -> None:
        raw = np.asarray(a)
        if raw.dtype not in (np.float32, np.float64):
            raw = raw.astype(np.float64)
        self.raw = np.ascontiguousarray(raw)
        self.shape = self.raw.shape
        self._uint = _UINT[self.raw.itemsize]
        self._sign = self._uint(1 << (8 * self.raw.itemsize - 1))
        self._dirty: bool | None = None  # holds -0.0 or NaN? None: not looked yet
        self._canonical: NDArray | None = None

    @property
    def dirty(self) -> bool:
        if self._dirty is None:
            self._dirty = _has_negative_zero_or_nan(self.raw, self.raw.view(self._uint), self._sign)
        return self._dirty

    @property
    def c(self) -> NDArray:
        """The canonical values (the input itself unless -0.0 or NaN occur)."""
        if self._canonical is None:
            self._canonical = _canonical_same_dtype(self.raw) if self.dirty else self.raw
        return self._canonical

    @property
    def u(self) -> NDArray:
        return self.c.view(self._uint)

    def bits(self, start: int, stop: int) -> tuple[NDArray, bool]:
        """Canonical bits of rows ``start:stop``, and whether they needed a fix.

        Streams over the matrix without a full copy: a chunk holding -0.0 or
        NaN (checked in cache) is canonicalised on its own.
        """
        if self._canonical is not None:
            return self._canonical[start:stop].view(self._uint), False
        chunk = self.raw[start:stop]
        if self._dirty is False or not _has_negative_zero_or_nan(
            chunk, chunk.view(self._uint), self._sign
        ):
            return chunk.view(self._uint), False
        return _canonical_same_dtype(chunk).view(self._uint), True

    def streamed(self, dirty: bool) -> None:
        """Record what a full pass of :meth:`bits` found."""
        if self._dirty is None:
            self._dirty = dirty

    def values(self, rows: NDArray | slice, cols: NDArray | slice = slice(None)) -> NDArray:
        return self.c[rows][:, cols].astype(np.float64)


def _canonical_same_dtype(a: NDArray) -> NDArray:
    c = a + a.dtype.type(0)  # a copy with -0.0 -> +0.0
    nan = np.isnan(c)
    if nan.any():
        c[nan] = np.nan
    return c


def _has_negative_zero_or_nan(c: NDArray, u: NDArray, sign: np.unsignedinteger) -> bool:
    flat_c, flat_u = c.reshape(-1), u.reshape(-1)
    for start in range(0, flat_u.size, _CHUNK):  # in cache, no full-size temporaries
        if (flat_u[start : start + _CHUNK] == sign).any():
            return True
        if np.isnan(flat_c[start : start + _CHUNK]).any():
            return True
    return False


def _multipliers(n: int, salt: int, dtype: type) -> NDArray:
    rng = np.random.default_rng([_SEED, salt, n])
    odd = rng.integers(0, 1 << 62, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    return odd.astype(dtype)


def _keys(m: _Matrix, *, rows: bool, cols: bool) -> tuple[NDArray | None, NDArray | None]:
    r"""Order-independent keys of the rows and/or columns of ``m``, in one pass.

    Row key :math:`\sum_k \operatorname{mix}(u_{ik}) r_k`, column key
    :math:`\sum_i \operatorname{mix}(u_{ik}) s_i`, in wrapping unsigned
    arithmetic of the bits' width, with :math:`\operatorname{mix}(u) = u \oplus
    (u \gg \text{half})` so that the sign bit reaches the low bits. Equal
    rows (columns) get equal keys wherever they sit in the matrix.
    """
    n_out, n_in = m.shape
    dtype = _UINT[m.raw.itemsize]
    shift = dtype(4 * m.raw.itemsize)
    row_keys = np.empty(n_out, dtype=dtype) if rows else None
    col_keys = np.zeros(n_in, dtype=dtype) if cols else None
    r = _multipliers(n_in, 1, dtype)
    s = _multipliers(n_out, 2, dtype)[:, None]
    step = max(1, _CHUNK // max(n_in, 1))
    dirty = False
    mixed = np.empty((min(step, n_out), n_in), dtype=dtype)
    product = np.empty_like(mixed)
    for start in range(0, n_out, step):
        bits, fixed = m.bits(start, start + step)
        dirty |= fixed
        k = bits.shape[0]
        np.right_shift(bits, shift, out=mixed[:k])
        np.bitwise_xor(mixed[:k], bits, out=mixed[:k])
        if row_keys is not None:
            np.multiply(mixed[:k], r, out=product[:k])
            row_keys[start : start + k] = product[:k].sum(axis=1, dtype=dtype)
        if col_keys is not None:
            np.multiply(mixed[:k], s[start : start + k], out=product[:k])
            col_keys += product[:k].sum(axis=0, dtype=dtype)
    m.streamed(dirty)
    return row_keys, col_keys


# --------------------------------------------------------------------------- signature parts


@dataclass
class _Part:
    """One component of the neurons' signatures: the rows (or columns) of a matrix.

    ``keys`` are the exact hash keys of the neurons; :meth:`same_as_first`
    compares a group's canonical bit patterns with its first member's;
    :meth:`bits` and :meth:`values` materialise rows (the rare collision split
    and the tolerant comparison); ``scale()`` is the magnitude a relative
    tolerance refers to.
    """

    m: _Matrix
    columns: bool
    keys: NDArray
    scale: Callable[[], float]

    def same_as_first(self, group: NDArray) -> NDArray:
        return _same_rows(self.m.u, group) if not self.columns else _same_columns(self.m.u, group)

    def bits(self, idx: NDArray) -> NDArray:
        return self.m.u[:, idx].T if self.columns else self.m.u[idx]

    def values(self, idx: NDArray) -> NDArray:
        return self.m.values(slice(None), idx).T if self.columns else self.m.values(idx)


def _as_slice(group: NDArray) -> NDArray | slice:
    """``group`` as a slice when it is a run of consecutive indices (no gather needed)."""
    if group[-1] - group[0] == group.size - 1:
        return slice(int(group[0]), int(group[-1]) + 1)
    return group


def _same_rows(u: NDArray, group: NDArray) -> NDArray:
    first = u[group[0]]
    out = np.ones(group.size, dtype=bool)  # the first member equals itself
    step = max(1, _CHUNK // max(u.shape[1], 1))
    for start in range(0, group.size, step):
        rows = u[_as_slice(group[start : start + step])]
        out[start : start + step] = np.all(rows == first, axis=1)
    return out


def _same_columns(u: NDArray, group: NDArray) -> NDArray:
    out = np.ones(group.size, dtype=bool)
    cols = _as_slice(group)
    first = int(group[0])
    step = max(1, _CHUNK // max(group.size, 1))
    for start in range(0, u.shape[0], step):
        band = u[start : start + step]
        out &= np.all(band[:, cols] == band[:, first : first + 1], axis=0)
    return out


def _row_part(m: _Matrix, keys: NDArray) -> _Part:
    return _Part(m, False, keys, lambda: _scale(m.c))


def _col_part(m: _Matrix, keys: NDArray) -> _Part:
    return _Part(m, True, keys, lambda: _scale(m.c))


def _dense_part(values: NDArray, *, scale: float | None = None) -> _Part:
    m = _Matrix(_canonical(values.reshape(values.shape[0], -1)))
    keys = _keys(m, rows=True, cols=False)[0]
    return _Part(m, False, keys, (lambda: _scale(m.c)) if scale is None else (lambda: scale))


def _scale(a: NDArray) -> float:
    if a.size == 0:
        return 1.0
    finite = np.abs(a[np.isfinite(a)]) if a.dtype.kind == "f" else np.abs(a)
    top = float(finite.max()) if finite.size else 0.0
    return top if top > 0 else 1.0


# --------------------------------------------------------------------------- grouping


def _first_appearance(labels: NDArray) -> NDArray:
    """Relabel so that labels are 0, 1, 2, ... in order of first appearance."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.intp)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.reshape(-1)]


def _groups(labels: NDArray) -> list[NDArray]:
    """Index arrays of the groups with two or more members, by smallest member."""
    if labels.size == 0 or np.bincount(labels).max() <= 1:
        return []
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return [g for g in np.split(order, cuts) if g.size > 1]


def _group_exact(parts: Sequence[_Part], n: int) -> NDArray:
    """Labels of the classes of neurons whose parts are all bitwise equal."""
    if not parts or n == 0:
        return np.zeros(n, dtype=np.intp)
    # One combined key per neuron; equal signatures give equal keys, and every
    # group of equal keys is verified exactly below.
    key = np.zeros(n, dtype=np.uint64)
    for salt, part in enumerate(parts):
        key += part.keys.astype(np.uint64) * _multipliers(1, 3 + salt, np.uint64)[0]
        key ^= key >> np.uint64(31)
    labels = np.unique(key, return_inverse=True)[1].reshape(-1)
    next_label = int(labels.max()) + 1
    for group in _groups(labels):
        same = np.ones(group.size, dtype=bool)
        for part in parts:
            same &= part.same_as_first(group)
        if same.all():
            continue
        # A hash collision: split this group exactly (rare; costs time, not truth).
        ids = [np.unique(p.bits(group), axis=0, return_inverse=True)[1] for p in parts]
        sub = np.unique(np.stack([i.reshape(-1) for i in ids], axis=1), axis=0, return_inverse=True)
        split = sub[1].reshape(-1)
        labels[group] = next_label + split
        next_label += int(split.max()) + 1
    return _first_appearance(labels)


def _cluster_1d(values: NDArray, gap: float) -> NDArray:
    """Single-linkage clusters of a 1-D array: cut where a sorted gap exceeds ``gap``."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    nan = np.isnan(ordered)
    cut = np.diff(ordered) > gap
    cut |= nan[1:] != nan[:-1]
    ids = np.empty(values.size, dtype=np.intp)
    ids[order] = np.concatenate([[0], np.cumsum(cut)])
    return ids


def _group_tolerant(parts: Sequence[_Part], n: int, tolerance: float) -> NDArray:
    """Labels of the classes whose every coordinate lies in the same 1-D cluster."""
    every = np.arange(n)
    columns = []
    for part in parts:
        m = part.values(every)
        gap = tolerance * part.scale()
        columns.extend(_cluster_1d(m[:, j], gap) for j in range(m.shape[1]))
    if not columns or n == 0:
        return np.zeros(n, dtype=np.intp)
    ids = np.stack(columns, axis=1)
    return _first_appearance(np.unique(ids, axis=0, return_inverse=True)[1].reshape(-1))


def _group(parts: Sequence[_Part], n: int, tolerance: float) -> NDArray:
    if tolerance > 0:
        return _group_tolerant(parts, n, tolerance)
    return _group_exact(parts, n)


def _blocks(labels: NDArray) -> tuple[tuple[int, ...], ...]:
    labels = np.asarray(labels).reshape(-1)
    if labels.size and np.bincount(_first_appearance(labels)).max() == 1:
        return tuple((i,) for i in range(labels.size))
    labels = _first_appearance(labels)
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return tuple(tuple(int(i) for i in g) for g in np.split(order, cuts) if g.size)


# --------------------------------------------------------------------------- block sums


def _block_sums(m: _Matrix, labels: NDArray, *, axis: int) -> NDArray:
    r"""Order-independent block sums of ``m`` along ``axis``.

    ``axis=1``: :math:`S_{iK} = \sum_{k \in K} m_{ik}` (row sums over the
    blocks ``K`` of the columns); ``axis=0``: :math:`S_{iJ} = \sum_{j \in J}
    m_{ji}` (column sums over the blocks ``J`` of the rows). Each result is a
    function of the multiset of summed values, the same function for every
    ``i``: singleton blocks are copied; a block whose members are identical
    vectors gives :math:`|K| \cdot m_{ik_0}` (one rounding); any other block
    sorts each multiset and adds it left to right.
    """
    blocks = _blocks(labels)
    n = m.shape[0] if axis == 1 else m.shape[1]
    out = np.empty((n, len(blocks)), dtype=np.float64)
    single = [j for j, b in enumerate(blocks) if len(b) == 1]
    members = [blocks[j][0] for j in single]
    if single:
        out[:, single] = m.values(slice(None), members) if axis == 1 else m.values(members).T
    for j, block in enumerate(blocks):
        if len(block) == 1:
            continue
        idx = np.array(block)
        same = _same_columns(m.u, idx) if axis == 1 else _same_rows(m.u, idx)
        if same.all():
            base = m.values(slice(None), idx[0]) if axis == 1 else m.values(idx[:1])[0]
            out[:, j] = base.reshape(-1) * len(block) + 0.0
            continue
        values = m.values(slice(None), idx) if axis == 1 else m.values(idx).T
        out[:, j] = np.cumsum(np.sort(values, axis=1), axis=1)[:, -1] + 0.0
    return out


# --------------------------------------------------------------------------- the engine


class _Layered:
    """Validated parameters with lazily computed, cached row/column keys."""

    def __init__(self, params: Sequence, tolerance: float) -> None:
        self.layers = _validate(params)
        self.tolerance = _check_tolerance(tolerance)
        self.hidden = range(1, len(self.layers))
        self._matrices: dict[int, _Matrix] = {}
        self._parts: dict[tuple[str, int], _Part] = {}

    def w(self, layer: int) -> NDArray:
        return self.layers[layer - 1][0]

    def m(self, layer: int) -> _Matrix:
        if layer not in self._matrices:
            self._matrices[layer] = _Matrix(self.w(layer))
        return self._matrices[layer]

    def width(self, layer: int) -> int:
        return self.w(layer).shape[0]

    def incoming(self, layer: int) -> _Part:
        """Rows of ``W^layer`` (their keys are computed on first use)."""
        key = ("in", layer)
        if key not in self._parts:
            m = self.m(layer)
            self._parts[key] = _row_part(m, _keys(m, rows=True, cols=False)[0])
        return self._parts[key]

    def outgoing(self, layer: int) -> _Part:
        """Columns of ``W^{layer+1}`` (their keys are computed on first use)."""
        key = ("out", layer)
        if key not in self._parts:
            m = self.m(layer + 1)
            self._parts[key] = _col_part(m, _keys(m, rows=False, cols=True)[1])
        return self._parts[key]

    def bias(self, layer: int) -> list[_Part]:
        b = self.layers[layer - 1][1]
        if b is None:
            return []
        key = ("bias", layer)
        if key not in self._parts:
            bias = np.asarray(b)
            part = _dense_part(bias[:, None], scale=None)
            matrix = self.m(layer)  # its canonical values only when a tolerance asks
            part.scale = lambda: max(_scale(bias), _scale(matrix.c))
            self._parts[key] = part
        return [self._parts[key]]

    def ties(self, layer: int) -> NDArray:
        parts = [self.incoming(layer), *self.bias(layer)]
        labels = _group(parts, self.width(layer), self.tolerance)
        if _all_singletons(labels):  # distinct rows: the columns cannot tie anyone
            return labels
        return _group([*parts, self.outgoing(layer)], self.width(layer), self.tolerance)

    def refine(self, layer: int, labels: list[NDArray]) -> NDArray:
        """One refinement step of hidden layer ``layer`` against its neighbours."""
        n = self.width(layer)
        current = labels[layer - 1]
        parts = [_dense_part(current.astype(np.float64), scale=0.0), *self.bias(layer)]
        below = labels[layer - 2] if layer > 1 else None
        if below is None or _all_singletons(below):
            parts.append(self.incoming(layer))
        else:
            parts.append(_dense_part(_block_sums(self.m(layer), below, axis=1)))
        refined = _group(parts, n, self.tolerance)
        if _all_singletons(refined):
            return refined
        above = labels[layer] if layer < len(self.layers) - 1 else None
        if above is None or _all_singletons(above):
            parts.append(self.outgoing(layer))
        else:
            parts.append(_dense_part(_block_sums(self.m(layer + 1), above, axis=0)))
        return _group(parts, n, self.tolerance)

    def equitable(self) -> list[NDArray]:
        labels = [np.zeros(self.width(layer), dtype=np.intp) for layer in self.hidden]
        order = list(self.hidden)
        changed = True
        while changed:
            changed = False
            for layer in order:
                current = labels[layer - 1]
                if _all_singletons(current):
                    continue
                new = self.refine(layer, labels)
                if _count(new) > _count(current):
                    labels[layer - 1] = new
                    changed = True
            order.reverse()  # alternate forward and backward sweeps
        return labels

    def vectors(self, layer: int, idx: NDArray) -> NDArray:
        """Rows ``(W^l_{i,:}, b_i, W^{l+1}_{:,i})`` for the neurons ``idx``, float64."""
        w, b = self.layers[layer - 1]
        pieces = [np.asarray(w[idx], dtype=np.float64)]
        if b is not None:
            pieces.append(np.asarray(b[idx], dtype=np.float64)[:, None])
        pieces.append(np.asarray(self.w(layer + 1)[:, idx].T, dtype=np.float64))
        return np.concatenate(pieces, axis=1)


def _count(labels: NDArray) -> int:
    return int(labels.max()) + 1 if labels.size else 0


def _all_singletons(labels: NDArray) -> bool:
    return _count(labels) == labels.size


# --------------------------------------------------------------------------- nearest pairs

_PROJECTIONS = 16
_SORTED_DIRECTIONS = 6
_WINDOW = 3
_CANDIDATES = 32
_SAMPLED = 256


def _relative_distance(a: NDArray, b: NDArray) -> NDArray:
    num = np.linalg.norm(a - b, axis=-1)
    den = np.maximum(np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        # 0/0 = 0 (two zero vectors), but NaN stays NaN: never a distance 0 from NaN weights.
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(den == 0, 0.0, np.nan))


def _nearest_exact(v: NDArray) -> tuple[float, tuple[int, int]]:
    best, pair = np.inf, (0, 1)
    for i in range(v.shape[0] - 1):
        d = _relative_distance(v[i], v[i + 1 :])
        j = int(np.argmin(d))
        if d[j] < best:
            best, pair = float(d[j]), (i, i + 1 + j)
    return best, pair


def _projected(net: _Layered, layer: int, rng: np.random.Generator) -> NDArray | None:
    """Random projections of a window of coordinates of the incoming vectors.

    Only candidates are ranked here: ``_SAMPLED`` consecutive coordinates of
    ``(W^l_{i,:}, b_i)`` (at a random offset) are taken, normalised, and
    projected on ``_PROJECTIONS`` Gaussian directions. Two neurons at a small
    relative distance are close on every subset of coordinates, so they stay
    neighbours in the sorted projections; the exact distance of each candidate
    pair is computed afterwards.
    """
    w, b = net.layers[layer - 1]
    width = min(w.shape[1], _SAMPLED)
    start = int(rng.integers(0, w.shape[1] - width + 1))
    sample = np.asarray(w[:, start : start + width], dtype=np.float64)
    if b is not None:
        sample = np.concatenate([sample, np.asarray(b, dtype=np.float64)[:, None]], axis=1)
    if not np.isfinite(sample).all():
        return None
    norm = np.sqrt(np.einsum("ij,ij->i", sample, sample))
    sample /= np.where(norm > 0, norm, 1.0)[:, None]
    directions = rng.standard_normal((sample.shape[1], _PROJECTIONS))
    return (sample.astype(np.float32) @ directions.astype(np.float32)).astype(np.float64)


def _nearest(net: _Layered, layer: int, ties: NDArray, rng: np.random.Generator) -> NearestPair:
    n = net.width(layer)
    if n < 2:
        return NearestPair(layer, None, None, True)
    tied = _groups(ties)
    if tied:
        first = min(tied, key=lambda g: g[0])
        return NearestPair(layer, 0.0, (int(first[0]), int(first[1])), True)
    if n <= EXACT_NEAREST_LIMIT:
        v = net.vectors(layer, np.arange(n))
        if not np.isfinite(v).all():
            return NearestPair(layer, None, None, True)
        d, pair = _nearest_exact(v)
        return NearestPair(layer, d, pair, True)
    p = _projected(net, layer, rng)
    if p is None:
        return NearestPair(layer, None, None, False)
    codes = []
    for direction in range(_SORTED_DIRECTIONS):
        order = np.argsort(p[:, direction], kind="stable")
        for shift in range(1, _WINDOW + 1):
            a, b = order[:-shift], order[shift:]
            codes.append(np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b))
    codes = np.sort(np.concatenate(codes))
    unique = codes[np.concatenate([[True], codes[1:] != codes[:-1]])]
    pairs = np.stack([unique // n, unique % n], axis=1)
    diff = p[pairs[:, 0]] - p[pairs[:, 1]]
    estimate = np.einsum("ij,ij->i", diff, diff)  # squared: only the order matters
    keep = min(_CANDIDATES, estimate.size)
    chosen = np.argpartition(estimate, keep - 1)[:keep]
    best = pairs[chosen[np.argsort(estimate[chosen], kind="stable")]]
    d = _relative_distance(net.vectors(layer, best[:, 0]), net.vectors(layer, best[:, 1]))
    if not np.isfinite(d).any():
        return NearestPair(layer, None, None, False)
    k = int(np.nanargmin(d))
    return NearestPair(layer, float(d[k]), (int(best[k, 0]), int(best[k, 1])), False)


# --------------------------------------------------------------------------- public API


def _partition(labels: Sequence[NDArray]) -> Partition:
    return Partition.from_labels(labels)


def tie_classes(params: Sequence, *, tolerance: float = 0.0) -> Partition:
    """Exact tie classes (identical row, bias and column) of every hidden layer."""
    net = _Layered(params, tolerance)
    return _partition([net.ties(layer) for layer in net.hidden])


def coarsest_equitable_partition(params: Sequence, *, tolerance: float = 0.0) -> Partition:
    """The coarsest equitable partition (T3) of the hidden layers, by colour refinement."""
    net = _Layered(params, tolerance)
    return _partition(net.equitable())


def effective_widths(params: Sequence, *, tolerance: float = 0.0) -> tuple[int, ...]:
    """Number of blocks of the coarsest equitable partition in every hidden layer."""
    return coarsest_equitable_partition(params, tolerance=tolerance).effective_widths


def nearest_pairs(params: Sequence, *, seed: int = 0) -> tuple[NearestPair, ...]:
    """The closest pair of neurons of every hidden layer (see :class:`NearestPair`)."""
    return analyse(params, seed=seed).nearest


def analyse(params: Sequence, *, tolerance: float = 0.0, seed: int = 0) -> PartitionReport:
    """Ties, coarsest equitable partition and nearest pairs, sharing one pass of hashing.

    ``seed`` fixes the random projections of the nearest-pair search.
    """
    net = _Layered(params, tolerance)
    ties = [net.ties(layer) for layer in net.hidden]
    equitable = net.equitable()
    rng = np.random.default_rng(seed)
    nearest = tuple(_nearest(net, layer, ties[layer - 1], rng) for layer in net.hidden)
    return PartitionReport(_partition(ties), _partition(equitable), nearest)


def is_equitable(params: Sequence, partition: Partition, *, tolerance: float = 0.0) -> bool:
    """Check the conditions of T3 directly: biases, row sums and column sums on blocks.

    The independent checker used by the tests and by the lumping proofs; it
    does not share code with the refinement beyond the order-independent sum.
    """
    net = _Layered(params, tolerance)
    hidden = len(net.layers) - 1
    if len(partition.layers) != hidden:
        raise InvalidArgument(
            f"partition has {len(partition.layers)} hidden layers, params have {hidden}"
        )
    labels = [np.arange(net.w(1).shape[1])]
    for layer in net.hidden:
        lab = partition.layers[layer - 1].labels()
        if lab.size != net.width(layer):
            raise InvalidArgument(
                f"partition layer {layer} has {lab.size} neurons, W{layer} has {net.width(layer)}"
            )
        labels.append(lab)
    labels.append(np.arange(net.w(len(net.layers)).shape[0]))
    for layer in range(1, len(net.layers) + 1):
        w, b = net.layers[layer - 1]
        rows, cols = labels[layer], labels[layer - 1]
        m = _Matrix(w)
        checks = [_block_sums(m, cols, axis=1), _block_sums(m, rows, axis=0)]
        owners = [rows, cols]
        scales = [_scale(checks[0]), _scale(checks[1])]
        if b is not None:
            # A bias is compared at the scale of its layer, as in the refinement:
            # a bias that is pure rounding noise has no scale of its own.
            checks.append(_canonical(b)[:, None])
            owners.append(rows)
            scales.append(max(_scale(checks[-1]), _scale(m.c)))
        for values, owner, scale in zip(checks, owners, scales):
            if not _constant_on_blocks(values, owner, net.tolerance, scale):
                return False
    return True


def _constant_on_blocks(values: NDArray, labels: NDArray, tolerance: float, scale: float) -> bool:
    for group in _groups(labels):
        block = values[group]
        if tolerance == 0:
            if not np.all(block.view(np.uint64) == block[0].view(np.uint64)):
                return False
        elif np.any(np.abs(block - block[0]) > tolerance * scale):
            return False
    return True


def matrix_classes(
    matrix: object, *, tolerance: float = 0.0
) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]:
    """Classes of identical rows and of identical columns of one 2-D matrix.

    For tensors that do not form a chain (attention projections, embeddings):
    duplicate rows are output units with the same incoming weights, duplicate
    columns input units with the same outgoing weights. Hashing as above, one
    pass over the matrix, exact unless ``tolerance > 0``.
    """
    w = np.asarray(matrix)
    if w.ndim != 2 or w.dtype.kind not in "fiub":
        raise InvalidArgument(
            f"matrix has shape {w.shape} and dtype {w.dtype}; expected a 2-D real array"
        )
    tol = _check_tolerance(tolerance)
    m = _Matrix(w)
    row_keys, col_keys = _keys(m, rows=True, cols=True)
    rows = _group([_row_part(m, row_keys)], w.shape[0], tol)
    cols = _group([_col_part(m, col_keys)], w.shape[1], tol)
    return _blocks(rows), _blocks(cols)
