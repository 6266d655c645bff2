"""Exact tie classes of a unit space and their certificates.

Candidates come from equal keys (:mod:`symcheck.checkpoint.scan`); every
candidate class is then verified on the canonical bit patterns of every
member, and split where two units differ anywhere. A verified class is then
**certified** independently: the permutation that cycles each class is
applied to every tensor the space acts on (whole tensors, not the units'
vectors), and each permuted tensor must equal the original bit for bit
(``-0.0`` and ``+0.0`` equal, NaN payloads ignored, as in
:mod:`symcheck.prove.partition`). That is the certificate of T1 (docs/theory.md):
a permutation ``g`` of the space with ``g θ = θ``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from symcheck.checkpoint.dtypes import canonical_bits
from symcheck.checkpoint.families import Member, Space
from symcheck.checkpoint.store import Store
from symcheck.checkpoint.windows import windows

__all__ = ["certify", "permutation", "tie_classes"]

NDArray = np.ndarray


def _candidates(keys: NDArray) -> list[list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for unit, key in enumerate(keys.tolist()):
        groups[key].append(unit)
    return [g for g in groups.values() if len(g) > 1]


def tie_classes(store: Store, space: Space, keys: NDArray) -> list[tuple[int, ...]]:
    """Classes (two or more units) whose vectors are identical in every member."""
    candidates = _candidates(keys)
    if not candidates:
        return []
    units = np.array(sorted(u for g in candidates for u in g))
    label = {int(u): i for i, g in enumerate(candidates) for u in g}
    labels = np.array([label[int(u)] for u in units])
    for member in space.members:
        for window in windows(store, member, units):
            seen: dict[tuple[int, bytes], int] = {}
            rows = window.rows()
            labels = np.array(
                [
                    seen.setdefault((int(lab), rows[i].tobytes()), len(seen))
                    for i, lab in enumerate(labels)
                ]
            )
    classes: dict[int, list[int]] = defaultdict(list)
    for unit, lab in zip(units.tolist(), labels.tolist()):
        classes[lab].append(unit)
    return sorted(tuple(c) for c in classes.values() if len(c) > 1)


def permutation(width: int, classes: list[tuple[int, ...]]) -> NDArray:
    """``g``: each class cycled (``c0 -> c1 -> ... -> c0``), every other unit fixed."""
    g = np.arange(width)
    for cls in classes:
        g[list(cls)] = [*list(cls[1:]), cls[0]]
    return g


def _axis_index(member: Member, g: NDArray, length: int) -> NDArray:
    """Source index along the member's axis after permuting units by ``g``."""
    index = np.arange(length)
    for unit, image in enumerate(g.tolist()):
        if unit != image:
            index[list(member.indices(image))] = list(member.indices(unit))
    return index


def certify(store: Store, space: Space, classes: list[tuple[int, ...]]) -> bool:
    """Apply the permutation of ``classes`` to every tensor of ``space``: True if none changes."""
    if not classes:
        return False
    g = permutation(space.width, classes)
    for member in space.members:
        if member.axis is None:
            for unit, image in enumerate(g.tolist()):
                if unit != image and not _same_tensor(
                    store, member.tensors[unit], member.tensors[image]
                ):
                    return False
            continue
        name = member.tensors[0]
        dtype = store.tensors[name].dtype
        with store.bits(name) as tensor:
            index = _axis_index(member, g, tensor.shape[member.axis])
            moved = [i for i in range(len(index)) if index[i] != i]
            original = canonical_bits(np.take(tensor, moved, axis=member.axis), dtype)
            permuted = canonical_bits(np.take(tensor, index[moved], axis=member.axis), dtype)
            if not np.array_equal(original, permuted):
                return False
    return True


def _same_tensor(store: Store, a: str, b: str) -> bool:
    dtype = store.tensors[a].dtype
    with store.bits(a) as x, store.bits(b) as y:
        step = 1 << 22
        fx, fy = x.reshape(-1), y.reshape(-1)
        for start in range(0, fx.size, step):
            if not np.array_equal(
                canonical_bits(fx[start : start + step], dtype),
                canonical_bits(fy[start : start + step], dtype),
            ):
                return False
    return True
