r"""Certificates of exact ties: a permutation of the hidden units that fixes the parameters.

For a plain sequential MLP with elementwise activations, the architecture
symmetries permute the neurons of every hidden layer ``l``: rows of
:math:`W^l`, entries of :math:`b^l` and columns of :math:`W^{l+1}`
(``docs/theory.md``, T1). Given one permutation :math:`\pi_l` per hidden
layer, the permuted parameters are

.. math::

    (g\theta)\colon\quad W^l \mapsto P_{\pi_l} W^l P_{\pi_{l-1}}^{\top},\qquad
    b^l \mapsto P_{\pi_l} b^l,

with the input and output layers left fixed. When :math:`g\theta = \theta`
*exactly*, :math:`g` lies in the stabiliser of :math:`\theta`, so every unit
``i`` and its image :math:`\pi_l(i)` receive identical updates under every
elementwise optimiser, for every input and loss (T1, T2). The certificate of
a tie class is such a :math:`g`; :func:`check_certificate` applies it and
compares, so a claim of permanence never rests on the code that found the
classes.

"Exactly" means ``numpy.array_equal``: ``-0.0`` equals ``0.0`` (they give the
same sums and products) and NaN equals nothing, so parameters holding NaN are
never certified.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from symcheck.errors import InvalidArgument

__all__ = ["check_certificate", "check_lumping", "cyclic_certificate"]

NDArray = np.ndarray
Params = Sequence[tuple[NDArray, NDArray | None]]


def cyclic_certificate(
    widths: Sequence[int], classes: Sequence[Sequence[Sequence[int]]]
) -> tuple[tuple[int, ...], ...]:
    """One permutation per hidden layer that cycles the members of each class.

    ``classes[l]`` are the tie classes of hidden layer ``l + 1`` (0-based
    neuron indices); a class ``(a, b, c)`` becomes the cycle
    ``a -> b -> c -> a``, so the orbits of the permutation are the classes.
    ``perm[i]`` is the neuron whose parameters move to position ``i``.
    """
    if len(widths) != len(classes):
        raise InvalidArgument(
            f"{len(classes)} lists of classes for {len(widths)} hidden layers; give one per layer"
        )
    out = []
    for width, layer in zip(widths, classes):
        perm = list(range(width))
        for group in layer:
            members = [int(i) for i in group]
            for position, source in zip(members, members[1:] + members[:1]):
                perm[position] = source
        out.append(tuple(perm))
    return tuple(out)


def _is_permutation(perm: Sequence[int], width: int) -> bool:
    values = np.asarray(perm)
    if values.shape != (width,) or values.dtype.kind not in "iu":
        return False
    return bool(np.array_equal(np.sort(values), np.arange(width)))


def check_certificate(params: Params, permutations: Sequence[Sequence[int]]) -> bool:
    r"""True when the permutations form a symmetry that maps ``params`` to themselves exactly.

    ``params`` is ``[(W^1, b^1), ..., (W^L, b^L)]`` and ``permutations`` has
    one entry per hidden layer (``L - 1``). Anything that is not a
    permutation of ``range(n_l)`` is rejected, as is any parameter that the
    permuted network does not reproduce bit for bit (up to the sign of zero).
    """
    layers = list(params)
    if len(permutations) != len(layers) - 1:
        return False
    perms: list[NDArray | None] = [None]  # the inputs stay fixed
    for (w, _), perm in zip(layers, permutations):
        if not _is_permutation(perm, np.shape(w)[0]):
            return False
        p = np.asarray(perm, dtype=np.intp)
        identity = bool(np.array_equal(p, np.arange(p.size)))
        perms.append(None if identity else p)  # an identity moves nothing: no copy
    perms.append(None)  # the outputs stay fixed
    for index, (w, b) in enumerate(layers, start=1):
        rows, cols = perms[index], perms[index - 1]
        w = np.asarray(w)
        moved = w if rows is None else w[rows]
        moved = moved if cols is None else moved[:, cols]
        if not np.array_equal(moved, w):
            return False
        if b is not None:
            b = np.asarray(b)
            if not np.array_equal(b if rows is None else b[rows], b):
                return False
    return True


def _exactly_equal_sums(a: NDArray, b: NDArray) -> bool:
    """``sum(a) == sum(b)`` in exact real arithmetic (``math.fsum`` of the difference).

    ``fsum`` rounds the exact sum once; a non-zero exact sum of doubles is at
    least the smallest subnormal, so it never rounds to 0.
    """
    return math.fsum(itertools.chain(a.tolist(), (-b).tolist())) == 0.0


def _blocks_of(labels: NDArray) -> list[NDArray]:
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return np.split(order, cuts) if labels.size else []


def _constant_block_sums(w: NDArray, row_blocks: list[NDArray], col_blocks: list[NDArray]) -> bool:
    """Every row block has equal exact sums over every column block, and vice versa."""
    for rows, cols, matrix in ((row_blocks, col_blocks, w), (col_blocks, row_blocks, w.T)):
        singles = np.array([int(b[0]) for b in cols if b.size == 1], dtype=np.intp)
        wide = [b for b in cols if b.size > 1]
        for group in (g for g in rows if g.size > 1):
            values = matrix[group]
            if not np.all(values[:, singles] == values[0, singles]):
                return False
            for block in wide:
                first = values[0, block]
                if not all(_exactly_equal_sums(row[block], first) for row in values[1:]):
                    return False
    return True


def check_lumping(params: Params, labels: Sequence[Sequence[int]]) -> bool:
    r"""True when the partition is equitable in exact real arithmetic (T3).

    ``labels[l]`` gives the block of every neuron of hidden layer ``l + 1``.
    For every layer, biases are constant on blocks and, for row blocks
    :math:`I` and column blocks :math:`K`, :math:`\sum_{k\in K} W_{ik}` is the
    same for all :math:`i\in I` and :math:`\sum_{i\in I} W_{ik}` the same for
    all :math:`k\in K`, each compared exactly (no rounding can make two
    different real sums look equal). Non-finite parameters are rejected.
    """
    layers = [(np.asarray(w, dtype=np.float64), b) for w, b in params]
    if len(labels) != len(layers) - 1:
        return False
    if not all(np.isfinite(w).all() and (b is None or np.isfinite(b).all()) for w, b in layers):
        return False
    partitions = [np.arange(layers[0][0].shape[1])]
    for (w, _), lab in zip(layers, labels):
        lab = np.asarray(lab)
        if lab.shape != (w.shape[0],):
            return False
        partitions.append(lab)
    partitions.append(np.arange(layers[-1][0].shape[0]))
    for index, (w, b) in enumerate(layers, start=1):
        row_blocks, col_blocks = _blocks_of(partitions[index]), _blocks_of(partitions[index - 1])
        if b is not None:
            bias = np.asarray(b)
            if any(not np.all(bias[g] == bias[g[0]]) for g in row_blocks):
                return False
        if not _constant_block_sums(w, row_blocks, col_blocks):
            return False
    return True
