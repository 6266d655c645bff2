r"""Nearest pair and near duplicates of a unit space, with stated bounds.

Distance between units (scale-free, as in :class:`symcheck.prove.partition.NearestPair`):

.. math::

    d(i, j) = \frac{\lVert v_i - v_j\rVert_2}{\max(\lVert v_i\rVert_2, \lVert v_j\rVert_2)},
    \qquad 0/0 = 0,

where :math:`v_u` concatenates the unit's entries in every tensor of the space.

* **At most 64 units**: every pair is examined through the float64 Gram
  matrix :math:`G`; :math:`\hat D_{ij} = G_{ii} + G_{jj} - 2G_{ij}` is within
  :math:`\gamma_m (\lVert v_i\rVert + \lVert v_j\rVert)^2` of
  :math:`\lVert v_i - v_j\rVert^2`, :math:`\gamma_m = mu/(1 - mu)`,
  :math:`u = 2^{-53}` (Higham, *Accuracy and Stability of Numerical
  Algorithms*, §3.1, dot products), so every pair that could be nearest or
  within the threshold is kept; its distance is taken from :math:`G` when
  that bound is below :data:`_GRAM_TRUST` of it (relative error of the
  distance below 5e-7), else recomputed directly from the values. The
  nearest pair is exact.
* **More units**: a sign sketch :math:`y_u = S^\top v_u` with :math:`K = 16`
  columns of :math:`\pm 1/\sqrt K` (Achlioptas, 2003: its moments are bounded
  by the Gaussian ones, so :math:`P(\lVert S^\top x\rVert^2 \ge c\lVert x\rVert^2)
  \le (c e^{1-c})^{K/2}`). With :math:`c = 9` that is
  :data:`MISS_BOUND` :math:`\approx 7\cdot 10^{-21}` per pair: every pair
  within the relative threshold :math:`\tau` has
  :math:`\lVert y_i - y_j\rVert \le 3\tau \max(\lVert v_i\rVert, \lVert v_j\rVert)`
  except with that probability, and all such sketch pairs are enumerated
  exactly (on a grid over the first two sketch coordinates with cells of
  that radius, since :math:`|y_{ic} - y_{jc}| \le \lVert y_i - y_j\rVert`
  for every coordinate :math:`c`: a qualifying pair sits in equal or
  adjacent cells), then measured
  directly. The nearest pair is searched among sketch neighbours and is the
  true distance of a real pair: an upper bound on the minimum
  (``exact: false``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from symcheck.checkpoint.dtypes import decode
from symcheck.checkpoint.families import Member, Space
from symcheck.checkpoint.scan import SKETCH_DIM, Scan
from symcheck.checkpoint.store import Store
from symcheck.checkpoint.windows import windows

__all__ = ["MISS_BOUND", "Distances", "Mapper", "distances"]

NDArray = np.ndarray

_C = 9.0
#: Chernoff bound on missing one near-duplicate pair through the sketch.
MISS_BOUND = (_C * math.exp(1 - _C)) ** (SKETCH_DIM / 2)
#: Most sketch pairs swept / pairs measured directly per space.
MAX_SWEEP = 2_000_000
MAX_MEASURED = 4096
_NEIGHBOURS = 3
#: Sketch coordinates along which neighbours are nearest-pair candidates.
_DIRECTIONS = 6
#: Relative rounding bound under which a Gram-matrix distance is reported as is.
_GRAM_TRUST = 1e-6
#: sqrt(c) = 3, times 1.01: squared norms summed in float32 within a window of at
#: most 2^21 / 65 positions per unit are low by at most gamma = w 2^-24 / (1 - w 2^-24)
#: < 0.002 (Higham, section 3.1), so the radius stays an upper bound.
_RADIUS = 3 * 1.01


@dataclass(frozen=True)
class Distances:
    nearest: tuple[int, int] | None
    distance: float | None
    exact: bool
    near: tuple[tuple[int, int, float], ...]
    complete: bool


#: Applies a function to every item, results in item order: ``map`` or a pool's
#: (:func:`symcheck.checkpoint.schedule.pool_map`).
Mapper = Callable[[Callable[[Member], list[tuple[NDArray, NDArray]]], Sequence[Member]], list]


def _serial(fn: Callable[[Member], Any], items: Sequence[Member]) -> list:
    return [fn(item) for item in items]


def _measure(
    store: Store, space: Space, pairs: list[tuple[int, int]], mapper: Mapper = _serial
) -> tuple[NDArray, NDArray]:
    """Exact (float64, values decoded exactly) squared distances of ``pairs`` and norms.

    The members are read independently (through ``mapper``, possibly in
    parallel); their per-window sums are then added in member and window
    order, so the float64 results are the same however they ran.
    """
    norm = np.zeros(space.width)
    if not pairs:
        return np.zeros(0), norm
    units = np.array(sorted({u for p in pairs for u in p}))
    where = {int(u): i for i, u in enumerate(units)}
    a = np.array([where[i] for i, _ in pairs])
    b = np.array([where[j] for _, j in pairs])
    out = np.zeros(len(pairs))
    parts = mapper(lambda member: _member_sums(store, member, units, a, b), space.members)
    for sums in parts:
        for d2, n2 in sums:
            out += d2
            norm[units] += n2
    return out, np.sqrt(norm)


def _member_sums(
    store: Store, member: Member, units: NDArray, a: NDArray, b: NDArray
) -> list[tuple[NDArray, NDArray]]:
    """Per window of ``member``: squared distances of the pairs ``(a, b)`` and squared norms."""
    sums = []
    for window in windows(store, member, units):
        bits = window.bits.T if window.units_last else window.bits
        values = decode(bits, window.dtype, wide=True)
        diff = values[a] - values[b]
        sums.append((np.einsum("ij,ij->i", diff, diff), np.einsum("ij,ij->i", values, values)))
    return sums


def _relative(d2: NDArray, pairs: list[tuple[int, int]], norm: NDArray) -> NDArray:
    den = np.array([max(norm[i], norm[j]) for i, j in pairs])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.sqrt(d2) / np.where(den > 0, den, 1.0), 0.0)


def distances(
    store: Store, space: Space, s: Scan, *, threshold: float, mapper: Mapper = _serial
) -> Distances:
    """Nearest pair and near duplicates (module docstring); ``mapper`` reads the members."""
    n = space.width
    if n < 2 or s.nonfinite:
        return Distances(None, None, n < 2, (), n < 2)
    known: dict[tuple[int, int], float] = {}
    if s.gram is not None:
        pairs, complete, exact, known = _gram_candidates(s, np.sqrt(s.norm2), threshold)
    else:
        pairs, complete = _sketch_candidates(s, threshold)
        exact = False
    pairs = pairs[:MAX_MEASURED]
    todo = [p for p in pairs if p not in known]
    measured, norm = _measure(store, space, todo, mapper)
    if s.gram is not None:
        norm = np.sqrt(s.norm2)
    known.update(zip(todo, measured.tolist()))
    d2 = np.array([known[p] for p in pairs])
    rel = _relative(d2, pairs, norm)
    if rel.size == 0:
        return Distances(None, None, exact, (), complete)
    k = int(np.argmin(rel))
    near = tuple(
        (i, j, float(d))
        for (i, j), d in sorted(zip(pairs, rel), key=lambda t: t[1])
        if 0 < d <= threshold
    )
    return Distances(pairs[k], float(rel[k]), exact, near, complete)


def _gram_candidates(
    s: Scan, norm: NDArray, threshold: float
) -> tuple[list[tuple[int, int]], bool, bool, dict[tuple[int, int], float]]:
    n = norm.size
    g = s.gram
    i, j = np.triu_indices(n, 1)
    d2 = g[i, i] + g[j, j] - 2 * g[i, j]
    m = max(s.elements, 1)
    u = 2.0**-53
    gamma = m * u / (1 - m * u)
    slack = gamma * (norm[i] + norm[j]) ** 2
    den2 = np.maximum(norm[i], norm[j]) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(den2 > 0, np.maximum(d2 - slack, 0) / den2, 0.0)
        high = np.where(den2 > 0, (d2 + slack) / den2, 0.0)
    keep = (low <= high.min()) | (low <= threshold**2)
    order = np.argsort(low[keep], kind="stable")
    pairs = [(int(a), int(b)) for a, b in zip(i[keep][order], j[keep][order])]
    # A Gram value whose rounding bound is below 1e-6 of it is used as it is;
    # the others (near ties) are measured directly.
    sure = keep & (slack <= _GRAM_TRUST * d2)
    known = {(int(a), int(b)): float(v) for a, b, v in zip(i[sure], j[sure], d2[sure])}
    return pairs, len(pairs) <= MAX_MEASURED, len(pairs) <= MAX_MEASURED, known


def _cell_pairs(cells: NDArray, limit: int) -> tuple[NDArray, NDArray, bool]:
    """Pairs of units whose 2-D grid cells are equal or adjacent (each pair once).

    ``cells`` is ``(n, 2)`` integers; at most ``limit`` pairs are returned, and
    the flag says whether they are all of them.
    """
    n = cells.shape[0]
    cells = cells - cells.min(axis=0)
    span = int(cells[:, 1].max()) + 3
    key = (cells[:, 0] + 1) * span + (cells[:, 1] + 1)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    firsts, seconds, total = [], [], 0
    for d0, d1 in ((0, 0), (0, 1), (1, -1), (1, 0), (1, 1)):
        target = sorted_key + d0 * span + d1
        lo = np.searchsorted(sorted_key, target, side="left")
        hi = np.searchsorted(sorted_key, target, side="right")
        if (d0, d1) == (0, 0):
            lo = np.maximum(lo, np.arange(n) + 1)  # the same cell: later units only
        counts = np.maximum(hi - lo, 0)
        if total + int(counts.sum()) > limit:
            return (
                np.concatenate(firsts or [np.zeros(0, int)]),
                np.concatenate(seconds or [np.zeros(0, int)]),
                False,
            )
        total += int(counts.sum())
        a = np.repeat(np.arange(n), counts)
        b = np.repeat(lo, counts) + (
            np.arange(a.size) - np.repeat(np.cumsum(counts) - counts, counts)
        )
        firsts.append(order[a])
        seconds.append(order[b])
    return np.concatenate(firsts), np.concatenate(seconds), True


def _sweep(y: NDArray, norm: NDArray, threshold: float) -> tuple[set[tuple[int, int]], bool]:
    """Every pair whose sketch distance is at most ``R tau max(|v_i|, |v_j|)``.

    A qualifying pair differs by at most ``r = R tau max_u |v_u|`` on every
    sketch coordinate, so on a grid of side ``r`` over the first two
    coordinates its cells are equal or adjacent; those pairs are enumerated
    (at most :data:`MAX_SWEEP`) and filtered on the full sketch.
    """
    r = _RADIUS * threshold * float(norm.max())
    if not r > 0:
        return set(), True
    cells = np.floor(y[:, :2] / r).astype(np.int64)
    i, j, complete = _cell_pairs(cells, MAX_SWEEP)
    found: set[tuple[int, int]] = set()
    radius = _RADIUS * threshold * np.maximum(norm[i], norm[j])
    for c in range(min(4, y.shape[1])):  # cheap filters: every coordinate is within too
        near = np.abs(y[i, c] - y[j, c]) <= radius
        i, j, radius = i[near], j[near], radius[near]
    for lo in range(0, i.size, 1 << 18):
        ii, jj = i[lo : lo + (1 << 18)], j[lo : lo + (1 << 18)]
        gap = np.linalg.norm(y[ii] - y[jj], axis=1)
        ok = gap <= radius[lo : lo + (1 << 18)]
        found.update(zip(np.minimum(ii, jj)[ok].tolist(), np.maximum(ii, jj)[ok].tolist()))
    return found, complete


def _sketch_candidates(s: Scan, threshold: float) -> tuple[list[tuple[int, int]], bool]:
    y = s.sketch
    found: set[tuple[int, int]] = set()
    # Near-duplicate sweep: every pair within 3*tau*(bound on the norm) in sketch space.
    complete = True
    if threshold > 0:
        found, complete = _sweep(y, np.sqrt(s.bound2), threshold)
    norm = np.sqrt(s.norm2)  # of the sampled positions: for ranking only
    # Nearest-pair candidates: neighbours along the first sketch coordinates, ranked.
    ranked: list[tuple[float, tuple[int, int]]] = []
    scale = np.where(norm > 0, norm, 1.0)[:, None]
    unit = y / scale
    for c in range(min(_DIRECTIONS, y.shape[1])):
        o = np.argsort(unit[:, c], kind="stable")
        for shift in range(1, _NEIGHBOURS + 1):
            a, b = o[:-shift], o[shift:]
            gap = np.linalg.norm(y[a] - y[b], axis=1) / np.maximum(scale[a, 0], scale[b, 0])
            for k in np.argsort(gap)[:8]:
                i, j = sorted((int(a[k]), int(b[k])))
                ranked.append((float(gap[k]), (i, j)))
    ranked.sort()
    best = [p for _, p in ranked[:32]]
    if len(found) > MAX_MEASURED:
        complete = False
    pairs = list(dict.fromkeys([*best, *sorted(found)]))
    return pairs, complete
