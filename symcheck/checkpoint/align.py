r"""Weight matching: align checkpoint B to checkpoint A, one unit space at a time.

For a unit space with ``n`` units, unit ``u`` of a checkpoint is the vector
:math:`v_u` of its entries in every member tensor (its block on the member's
axis times every other axis, or one whole tensor). The cost of matching unit
``i`` of A with unit ``j`` of B (as B is aligned so far) is

.. math::

    C_{ij} = \sum_{\text{members}} \langle v^A_i, v^B_j \rangle ,

and the permutation maximising :math:`\sum_i C_{i\pi(i)}` is a linear
assignment problem, solved exactly by :func:`scipy.optimize.linear_sum_assignment`
(Crouse, 2016). Spaces interact (the residual stream and a layer's FFN
neurons share the FFN weights), so the spaces are visited in a random order,
each solved with the others held fixed, until a whole sweep changes nothing
(coordinate descent; Ainsworth, Hayase and Srinivasa, *Git Re-Basin*, ICLR
2023, weight matching). A permutation is accepted only when it raises the
matched sum, so ties between equal units cannot make the descent cycle.

Started from the identity, the descent matches every space on noise (the
other spaces are not aligned yet) and stalls. So it starts from one pass,
outer spaces first, that matches units on their *sorted* entries per member,
:math:`\sum \langle \mathrm{sort}(v^A_i), \mathrm{sort}(v^B_j)\rangle`: the
multiset of a unit's entries does not depend on how the other spaces are
permuted, and the true match maximises this sum (rearrangement inequality
and Cauchy-Schwarz), so a permuted copy is aligned by this pass alone.
A unit made of a block of rows (a head) is scored in the descent as if its
inner dims were aligned already (:func:`_relaxed`).

This is a heuristic: it finds *a* permutation. Whether B permuted by it
equals A is then checked exactly, tensor by tensor
(:mod:`symcheck.checkpoint.compare`); nothing is ever concluded from the costs.

:class:`Alignment` holds B in A's frame without copying B: for every tensor,
which tensor of B it is read from (experts move as whole tensors) and a
gather index per permuted axis. Permutations of nested spaces (KV groups,
then the query heads inside one group) compose on the current frame.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from symcheck.checkpoint.dtypes import decode
from symcheck.checkpoint.families import Member, Space
from symcheck.checkpoint.store import Store

__all__ = ["RELAX_BLOCK", "Alignment", "Matching", "cost_matrix", "weight_matching"]

NDArray = np.ndarray

#: Largest block scored up to a permutation of its rows (:func:`_relaxed`).
RELAX_BLOCK = 256
#: A permutation must raise the matched sum by this fraction to be accepted.
_GAIN = 1e-9


def _units(member: Member, width: int) -> NDArray:
    """``(width, block)`` indices of every unit on the member's axis."""
    return member.offset + np.arange(width)[:, None] * member.stride + np.arange(member.block)


@dataclass
class Alignment:
    """B in A's frame: ``aligned[t] = B[source[t]]`` gathered by ``index[(t, axis)]``."""

    shapes: dict[str, tuple[int, ...]]
    source: dict[str, str] = field(default_factory=dict)
    index: dict[tuple[str, int], NDArray] = field(default_factory=dict)

    def bits(self, store: Store, name: str) -> NDArray:
        """The aligned tensor ``name`` of B as stored bit patterns (a copy)."""
        with store.bits(self.source.get(name, name)) as raw:
            out = raw
            for axis in range(raw.ndim):
                gather = self.index.get((name, axis))
                if gather is not None:
                    out = np.take(out, gather, axis=axis)
            return np.array(out)

    def permute(self, space: Space, perm: NDArray) -> None:
        """Aligned unit ``j`` of ``space`` becomes the aligned unit ``perm[j]`` of before."""
        for member in space.members:
            if member.axis is None:
                self._permute_tensors(member.tensors, perm)
                continue
            name = member.tensors[0]
            key = (name, member.axis)
            old = self.index.get(key)
            if old is None:
                old = np.arange(self.shapes[name][member.axis])
            units = _units(member, space.width)
            new = old.copy()
            new[units] = old[units[perm]]
            self.index[key] = new

    def permutation(self, space: Space) -> tuple[int, ...]:
        """Unit ``j`` of A is unit ``p[j]`` of B, read from the final alignment.

        For a space nested in another (a KV head's value-output dims inside
        the KV groups, an expert's neurons inside the experts), ``p`` is
        relative to the B unit the outer permutation put in its place: the
        B positions of the space are shifted back by the distance between the
        outer blocks.
        """
        member = space.members[0]
        n = space.width
        if member.axis is None:
            names = list(member.tensors)
            return tuple(names.index(self.source.get(t, t)) for t in names)
        units = _units(member, n)
        gather = self.index.get((member.tensors[0], member.axis))
        if gather is None:
            return tuple(range(n))
        moved = gather[units]
        delta = int(moved.min()) - int(units.min())
        first = {int(u[0]): k for k, u in enumerate(units)}
        return tuple(first[int(row.min()) - delta] for row in moved)

    def _permute_tensors(self, names: Sequence[str], perm: NDArray) -> None:
        sources = [self.source.get(t, t) for t in names]
        indices = [{a: self.index.get((t, a)) for a in range(len(self.shapes[t]))} for t in names]
        for j, name in enumerate(names):
            self.source[name] = sources[perm[j]]
            for axis, gather in indices[perm[j]].items():
                if gather is None:
                    self.index.pop((name, axis), None)
                else:
                    self.index[(name, axis)] = gather


def _values(bits: NDArray, store: Store, name: str) -> NDArray:
    """Exact float64 values of stored bits; NaN and Inf count as 0 in a cost."""
    values = decode(bits, store.tensors[name].dtype, wide=True)
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


def cost_matrix(
    space: Space, a: Store, b: Store, alignment: Alignment, *, invariant: bool = False
) -> NDArray:
    r"""``C[i, j]``: :math:`\sum \langle v^A_i, v^B_j\rangle` over the space's members.

    With ``invariant``, :math:`\sum \langle \mathrm{sort}(v^A_i), \mathrm{sort}(v^B_j)\rangle`
    per member: the sorted entries of a unit do not depend on how any other
    space (or the unit's own block) is permuted, so this cost needs no other
    space aligned; it starts the descent (module docstring). Each tensor is
    read once per call, however many members use it; only the tensors of
    this space are held (decoded) at a time.
    """
    n = space.width
    cost = np.zeros((n, n))
    by_tensor: dict[str, list[Member]] = defaultdict(list)
    for member in space.members:
        if member.axis is None:
            cost += _whole_cost(member, a, b, alignment, invariant=invariant)
        else:
            by_tensor[member.tensors[0]].append(member)
    for name, members in by_tensor.items():
        with a.bits(name) as raw:
            va = _values(raw, a, name)
        vb = _values(alignment.bits(b, name), b, name)
        for member in members:
            units = _units(member, n)
            ua = np.moveaxis(va, member.axis, 0)[units.ravel()].reshape(n, member.block, -1)
            ub = np.moveaxis(vb, member.axis, 0)[units.ravel()].reshape(n, member.block, -1)
            if invariant:
                cost += np.sort(ua.reshape(n, -1), axis=1) @ np.sort(ub.reshape(n, -1), axis=1).T
            elif 1 < member.block <= RELAX_BLOCK:
                cost += _relaxed(ua, ub)
            else:
                cost += ua.reshape(n, -1) @ ub.reshape(n, -1).T
    return cost


def _relaxed(ua: NDArray, ub: NDArray) -> NDArray:
    r"""Block units: :math:`C_{ij} = \max_P \langle X_i, P Y_j\rangle` over permutations ``P``
    of the block's rows (``X_i``: unit ``i``'s block in A, ``(block, m)``).

    A head's query-key and value-output dims are spaces of their own, aligned
    after the heads; scoring a pair of heads as if those dims were already
    aligned keeps the heads from being matched on noise (Git Re-Basin's
    descent otherwise stalls in a local optimum). Only a cost: the
    permutation applied is still checked exactly.
    """
    n = ua.shape[0]
    cost = np.empty((n, n))
    for i in range(n):
        inner = np.einsum("km,jlm->jkl", ua[i], ub)
        for j in range(n):
            rows, cols = linear_sum_assignment(inner[j], maximize=True)
            cost[i, j] = inner[j][rows, cols].sum()
    return cost


def _whole_cost(
    member: Member, a: Store, b: Store, alignment: Alignment, *, invariant: bool
) -> NDArray:
    """Inner products of whole tensors (one per unit, e.g. an expert's ``w1``)."""
    rows_a, rows_b = [], []
    for name in member.tensors:
        with a.bits(name) as raw:
            rows_a.append(_values(raw, a, name).ravel())
        rows_b.append(_values(alignment.bits(b, name), b, name).ravel())
    ua, ub = np.stack(rows_a), np.stack(rows_b)
    if invariant:
        ua, ub = np.sort(ua, axis=1), np.sort(ub, axis=1)
    return ua @ ub.T


@dataclass(frozen=True)
class Matching:
    """The result of :func:`weight_matching`."""

    alignment: Alignment
    #: Per space id: unit ``j`` of A is unit ``permutation[j]`` of B (see ``permutation``).
    permutations: dict[str, tuple[int, ...]]
    iterations: int
    converged: bool


def _outer_first(space: Space) -> int:
    """Sort key: spaces of whole tensors or wide blocks (which may hold others) first."""
    return -max(math.inf if m.axis is None else m.block for m in space.members)


def _step(space: Space, a: Store, b: Store, alignment: Alignment, *, invariant: bool) -> bool:
    """Solve one space with the others held; True when its permutation changed."""
    cost = cost_matrix(space, a, b, alignment, invariant=invariant)
    _, perm = linear_sum_assignment(cost, maximize=True)
    before, after = np.trace(cost), cost[np.arange(space.width), perm].sum()
    if after > before + _GAIN * max(abs(before), abs(after), np.finfo(float).tiny):
        alignment.permute(space, perm)
        return True
    return False


def weight_matching(
    spaces: Sequence[Space], a: Store, b: Store, *, seed: int, max_iterations: int
) -> Matching:
    """Coordinate descent over ``spaces`` (module docstring); at most ``max_iterations`` sweeps."""
    alignment = Alignment({n: r.shape for n, r in a.tensors.items()})
    for space in sorted(spaces, key=_outer_first):
        _step(space, a, b, alignment, invariant=True)
    rng = np.random.default_rng(seed)
    sweeps, converged = 0, not spaces
    while spaces and sweeps < max_iterations and not converged:
        sweeps += 1
        converged = True
        for k in rng.permutation(len(spaces)):
            if _step(spaces[int(k)], a, b, alignment, invariant=False):
                converged = False
    permutations = {s.id: alignment.permutation(s) for s in spaces}
    return Matching(alignment, permutations, sweeps, converged)
