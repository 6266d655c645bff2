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
outer spaces first, that compares units on quantiles of their entries per
member (:func:`_sketch_distances`): the multiset of a unit's entries does
not depend on how the other spaces are permuted, and a permuted copy has
distance 0 at the true pair, so this pass alone aligns it; the descent then
runs only if B is not yet equal to A and one sweep fits the work limit. A
unit made of a block of rows (a head) is scored in the descent as if its
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg.blas import dgemm
from scipy.optimize import linear_sum_assignment

from symcheck.checkpoint.dtypes import decode
from symcheck.checkpoint.families import Member, Space
from symcheck.checkpoint.store import Store
from symcheck.checkpoint.windows import WINDOW

__all__ = [
    "INVARIANT_ELEMENTS",
    "QUANTILES",
    "RELAX_BLOCK",
    "RELAX_UNITS",
    "Alignment",
    "EntryMember",
    "Matching",
    "cost_matrix",
    "sweep_work",
    "weight_matching",
]

NDArray = np.ndarray

#: Largest block scored up to a permutation of its rows (:func:`_relaxed`).
RELAX_BLOCK = 256
#: Largest ``units x block`` scored that way (its Gram tensor has that many squared entries).
RELAX_UNITS = 4096
#: Largest member (elements) in the sorted-entries cost that starts the descent.
INVARIANT_ELEMENTS = 1 << 25
#: Order statistics per unit and member in the starting pass (:func:`_sketch_distances`).
QUANTILES = 64
#: A permutation must raise the matched sum by this fraction to be accepted.
_GAIN = 1e-9


def _units(member: Member, width: int) -> NDArray:
    """``(width, block)`` indices of every unit on the member's axis."""
    return member.offset + np.arange(width)[:, None] * member.stride + np.arange(member.block)


@dataclass(frozen=True)
class EntryMember(Member):
    """A member whose units sit at one entry of another axis.

    Unit ``u`` covers :meth:`indices` on ``axis`` at entry ``entry`` of
    ``outer_axis``: the neurons of expert ``entry`` in a weight
    ``(experts, hidden, in)``, which each expert permutes on its own.
    """

    outer_axis: int = 0
    entry: int = 0


@dataclass
class Alignment:
    """B in A's frame: ``aligned[t] = B[source[t]]`` gathered by ``index[(t, axis)]``.

    An index is 1-D (one gather for the whole axis) or 2-D, ``(L_outer, L_axis)``
    with ``outer[(t, axis)]`` the axis whose entries it is per: row ``o`` gathers
    ``axis`` at aligned entry ``o`` of that axis (after its own 1-D gather).
    """

    shapes: dict[str, tuple[int, ...]]
    source: dict[str, str] = field(default_factory=dict)
    index: dict[tuple[str, int], NDArray] = field(default_factory=dict)
    outer: dict[tuple[str, int], int] = field(default_factory=dict)

    def bits(
        self, store: Store, name: str, *, select: tuple[int, NDArray] | None = None
    ) -> NDArray:
        """The aligned tensor ``name`` of B as stored bit patterns (a copy).

        ``select=(axis, positions)`` keeps only those aligned positions of
        ``axis`` (a unit's rows, a window of rows), without gathering the
        rest of the tensor first.
        """
        with store.bits(self.source.get(name, name)) as raw:
            per_entry = {
                axis: g
                for axis in range(raw.ndim)
                if (g := self.index.get((name, axis))) is not None and g.ndim == 2
            }
            late = select is not None and select[0] in per_entry
            out = raw
            if select is not None and not late:
                axis, positions = select
                gather = self.index.get((name, axis))
                out = np.take(out, positions if gather is None else gather[positions], axis=axis)
            for axis in range(raw.ndim):
                gather = self.index.get((name, axis))
                skip = select is not None and not late and axis == select[0]
                if gather is not None and gather.ndim == 1 and not skip:
                    out = np.take(out, gather, axis=axis)
            for axis, gather in per_entry.items():
                outer = self.outer[(name, axis)]
                if select is not None and not late and outer == select[0]:
                    gather = gather[select[1]]
                shape = [1] * raw.ndim
                shape[outer], shape[axis] = gather.shape
                out = np.take_along_axis(out, gather.reshape(shape), axis=axis)
            if late:
                out = np.take(out, select[1], axis=select[0])
            return np.array(out) if out is raw else out  # a gather already copied

    def permute(self, space: Space, perm: NDArray) -> None:
        """Aligned unit ``j`` of ``space`` becomes the aligned unit ``perm[j]`` of before."""
        for member in space.members:
            if member.axis is None:
                self._permute_tensors(member.tensors, perm)
                continue
            name = member.tensors[0]
            key = (name, member.axis)
            units = _units(member, space.width)
            if isinstance(member, EntryMember):
                old = self._per_entry(key, member.outer_axis)
                new = old.copy()
                new[member.entry, units] = old[member.entry, units[perm]]
            else:
                old = self.index.get(key)
                if old is None:
                    old = np.arange(self.shapes[name][member.axis])
                new = old.copy()
                new[..., units] = old[..., units[perm]]
                for (tensor, axis), outer in self.outer.items():  # per-entry rows move along
                    if tensor == name and outer == member.axis:
                        rows = self.index[(tensor, axis)]
                        moved = rows.copy()
                        moved[units.ravel()] = rows[units[perm].ravel()]
                        self.index[(tensor, axis)] = moved
            self.index[key] = new

    def _per_entry(self, key: tuple[str, int], outer: int) -> NDArray:
        """The index of ``key`` as a 2-D index per entry of axis ``outer``."""
        gather = self.index.get(key)
        if gather is not None and gather.ndim == 2:
            return gather
        if gather is None:
            gather = np.arange(self.shapes[key[0]][key[1]])
        self.outer[key] = outer
        return np.tile(gather, (self.shapes[key[0]][outer], 1))

    def permutation(self, space: Space) -> tuple[int, ...] | None:
        """Unit ``j`` of A is unit ``p[j]`` of B, read from the final alignment.

        For a space nested in another (a KV head's value-output dims inside
        the KV groups, an expert's neurons inside the experts), ``p`` is
        relative to the B unit the outer permutation put in its place: the
        B positions of the space are shifted back by the distance between the
        outer blocks. ``None`` when the B positions are not one shifted copy of
        the space's own (spaces that overlap without nesting; none of the
        families or graph rules produce them).
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
        if gather.ndim == 2:
            gather = gather[member.entry if isinstance(member, EntryMember) else 0]
        moved = gather[units]
        delta = int(moved.min()) - int(units.min())
        first = {int(u[0]): k for k, u in enumerate(units)}
        perm = tuple(first.get(int(row.min()) - delta, -1) for row in moved)
        return perm if sorted(perm) == list(range(n)) else None

    def _permute_tensors(self, names: Sequence[str], perm: NDArray) -> None:
        sources = [self.source.get(t, t) for t in names]
        axes = [range(len(self.shapes[t])) for t in names]
        indices = [{a: self.index.get((t, a)) for a in axes[i]} for i, t in enumerate(names)]
        outers = [{a: self.outer.get((t, a)) for a in axes[i]} for i, t in enumerate(names)]
        for j, name in enumerate(names):
            self.source[name] = sources[perm[j]]
            for axis, gather in indices[perm[j]].items():
                outer = outers[perm[j]][axis]
                self.index.pop((name, axis), None)
                self.outer.pop((name, axis), None)
                if gather is not None:
                    self.index[(name, axis)] = gather
                if outer is not None:
                    self.outer[(name, axis)] = outer


def _select(member: Member, n: int) -> tuple[int, NDArray]:
    """The axis and positions of every unit of ``member`` (unit-major, block-minor)."""
    assert member.axis is not None
    return member.axis, _units(member, n).ravel()


def _unit_bits(bits: NDArray, member: Member) -> NDArray:
    """The units' stored bits, cut to their positions, with the units' axis first (a view)."""
    axis = member.axis
    assert axis is not None
    if isinstance(member, EntryMember):
        bits = np.take(bits, member.entry, axis=member.outer_axis)
        axis -= axis > member.outer_axis
    bits = np.moveaxis(bits, axis, 0)
    return bits.reshape(bits.shape[0], 1) if bits.ndim == 1 else bits


def _windows(units: NDArray, n: int, block: int) -> Iterator[NDArray]:
    """``(n, block, w)`` pieces of ``units`` (units' axis first), along its second axis,
    about :data:`~symcheck.checkpoint.windows.WINDOW` elements each (copies)."""
    per = max(1, math.prod(units.shape[2:]))
    step = max(1, WINDOW // max(1, n * block * per))
    for lo in range(0, units.shape[1], step):
        yield np.ascontiguousarray(units[:, lo : lo + step]).reshape(n, block, -1)


def _decoded(bits: NDArray, store: Store, name: str, *, wide: bool = True) -> NDArray:
    """Exact values of stored bits (float64, or float32 when not ``wide``); NaN and Inf
    count as 0 in a cost."""
    values = decode(bits, store.tensors[name].dtype, wide=wide)
    if np.isfinite(values).all():
        return values
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


def cost_matrix(
    space: Space, a: Store, b: Store, alignment: Alignment, *, invariant: bool = False
) -> NDArray:
    r"""``C[i, j]``: :math:`\sum \langle v^A_i, v^B_j\rangle` over the space's members.

    With ``invariant``, minus the squared distances of the units' quantiles per
    member (:func:`_sketch_distances`): the multiset of a unit's entries does
    not depend on how any other space (or the unit's own block) is permuted,
    so this cost needs no other space aligned; it starts the descent (module
    docstring). A member larger than :data:`INVARIANT_ELEMENTS` is left out
    of that cost (sorting needs all of it decoded at once).

    Memory: one member at a time, its units' entries in the stored dtype
    (A's and B's), decoded to float64 one window of about
    :data:`~symcheck.checkpoint.windows.WINDOW` elements at a time.
    """
    n = space.width
    cost = np.zeros((n, n))
    sketches: list[tuple[NDArray, NDArray]] = []
    for member in space.members:
        if member.axis is None:
            if invariant:
                sketches += _whole_sketches(member, a, b, alignment)
            else:
                _whole_cost(member, a, b, alignment, cost)
            continue
        name = member.tensors[0]
        select = _select(member, n)
        ub = _unit_bits(alignment.bits(b, name, select=select), member)
        with a.bits(name) as raw:  # A's units are read from the mapped file when they tile it
            whole = np.array_equal(select[1], np.arange(raw.shape[select[0]]))
            ua = _unit_bits(raw if whole else np.take(raw, select[1], axis=select[0]), member)
            if invariant:
                if ua.size <= INVARIANT_ELEMENTS:
                    sketches.append(
                        (
                            _quantiles(_decoded(ua, a, name, wide=False).reshape(n, -1)),
                            _quantiles(_decoded(ub, b, name, wide=False).reshape(n, -1)),
                        )
                    )
                continue
            _add_member(cost, member, n, (ua, a), (ub, b), name)
    if sketches:
        qa = np.concatenate([q for q, _ in sketches], axis=1)
        qb = np.concatenate([q for _, q in sketches], axis=1)
        np.add((qa * qa).sum(1)[:, None], (qb * qb).sum(1)[None, :], out=cost)
        np.negative(cost, out=cost)
        _accumulate(cost, qa, qb, alpha=2.0)
    return cost


def _add_member(
    cost: NDArray,
    member: Member,
    n: int,
    first: tuple[NDArray, Store],
    second: tuple[NDArray, Store],
    name: str,
) -> None:
    """Add one member's inner products (relaxed for blocks of rows) to ``cost``."""
    (ua, a), (ub, b) = first, second
    relaxed = 1 < member.block <= RELAX_BLOCK and n * member.block <= RELAX_UNITS
    gram = np.zeros((n, member.block, n, member.block)) if relaxed else None
    for pa, pb in zip(_windows(ua, n, member.block), _windows(ub, n, member.block)):
        xa, xb = _decoded(pa, a, name), _decoded(pb, b, name)
        if gram is not None:
            rows = n * member.block
            gram += (xa.reshape(rows, -1) @ xb.reshape(rows, -1).T).reshape(gram.shape)
        else:
            _accumulate(cost, xa.reshape(n, -1), xb.reshape(n, -1))
    if gram is not None:
        cost += _relaxed(gram)


def _accumulate(cost: NDArray, xa: NDArray, xb: NDArray, *, alpha: float = 1.0) -> None:
    """``cost += alpha * xa @ xb.T`` in place (BLAS ``dgemm`` with ``beta = 1``: no n x n
    temporary)."""
    xa, xb = np.ascontiguousarray(xa, dtype=np.float64), np.ascontiguousarray(xb, dtype=np.float64)
    # cost.T is Fortran-ordered, so dgemm writes into it: cost.T += alpha * xb @ xa.T
    out = dgemm(alpha, xb, xa, beta=1.0, c=cost.T, overwrite_c=True, trans_b=True)
    if not np.shares_memory(out, cost):  # not expected; correct either way
        cost[...] = out.T


def _quantiles(x: NDArray) -> NDArray:
    r""":data:`QUANTILES` evenly spaced order statistics of every row of ``x`` (all of
    them when it has fewer), float64.

    A function of the multiset of a unit's entries only, so of no permutation
    of any axis. The starting pass scores a pair by minus the squared
    distance of these vectors (summed over members): a permuted copy has 0 at
    the true pair, the row maximum, which also makes the assignment fast (a
    cost of sorted inner products is nearly constant across pairs: slow to
    solve and easily wrong).
    """
    m = x.shape[1]
    picks = np.unique(np.linspace(0, m - 1, min(m, QUANTILES)).round().astype(np.intp))
    return np.sort(x, axis=1)[:, picks].astype(np.float64)


def _relaxed(gram: NDArray) -> NDArray:
    r"""Block units: :math:`C_{ij} = \max_P \langle X_i, P Y_j\rangle` over permutations ``P``
    of the block's rows (``X_i``: unit ``i``'s block in A; ``gram[i, k, j, l]`` is
    :math:`\langle X_{ik}, Y_{jl}\rangle`).

    A head's query-key and value-output dims are spaces of their own, aligned
    after the heads; scoring a pair of heads as if those dims were already
    aligned keeps the heads from being matched on noise (Git Re-Basin's
    descent otherwise stalls in a local optimum). Only a cost: the
    permutation applied is still checked exactly.
    """
    n = gram.shape[0]
    cost = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            inner = gram[i, :, j, :]
            rows, cols = linear_sum_assignment(inner, maximize=True)
            cost[i, j] = inner[rows, cols].sum()
    return cost


def _whole_sketches(
    member: Member, a: Store, b: Store, alignment: Alignment
) -> list[tuple[NDArray, NDArray]]:
    """Quantiles of whole tensors (one per unit), unless they exceed :data:`INVARIANT_ELEMENTS`."""
    names = member.tensors
    shape = alignment.shapes[names[0]]
    if len(names) * math.prod(shape) > INVARIANT_ELEMENTS or not shape:
        return []
    rows_a, rows_b = [], []
    for name in names:
        with a.bits(name) as raw:
            rows_a.append(_decoded(raw, a, name, wide=False).ravel())
        rows_b.append(_decoded(alignment.bits(b, name), b, name, wide=False).ravel())
    return [(_quantiles(np.stack(rows_a)), _quantiles(np.stack(rows_b)))]


def _whole_cost(member: Member, a: Store, b: Store, alignment: Alignment, cost: NDArray) -> None:
    """Add the inner products of whole tensors (one per unit, e.g. an expert's ``w1``), read
    one window of rows of every tensor at a time."""
    names = member.tensors
    n, shape = len(names), alignment.shapes[names[0]]
    if not shape:
        return
    per_row = max(1, math.prod(shape[1:]))
    step = max(1, WINDOW // max(1, n * per_row))
    for lo in range(0, shape[0], step):
        window = np.arange(lo, min(shape[0], lo + step))
        xa, xb = [], []
        for name in names:
            with a.bits(name) as raw:
                xa.append(_decoded(raw[lo : lo + step], a, name).ravel())
            xb.append(_decoded(alignment.bits(b, name, select=(0, window)), b, name).ravel())
        _accumulate(cost, np.stack(xa), np.stack(xb))


@dataclass(frozen=True)
class Matching:
    """The result of :func:`weight_matching`."""

    alignment: Alignment
    #: Per space id: unit ``j`` of A is unit ``permutation[j]`` of B (see ``permutation``).
    permutations: dict[str, tuple[int, ...] | None]
    #: Sweeps of the descent run.
    iterations: int
    #: ``not needed`` (the starting pass was exact), ``converged``, ``stopped`` (the
    #: iteration limit) or ``skipped`` (one sweep would exceed the work limit).
    descent: str
    #: Multiply-adds of one sweep (:func:`sweep_work`).
    work: int


def _outer_first(space: Space) -> tuple[bool, float]:
    """Sort key: spaces that may hold others first (whole tensors, wide blocks); spaces
    per entry of another axis (one expert's neurons) last."""
    per_entry = any(isinstance(m, EntryMember) for m in space.members)
    return per_entry, -max(math.inf if m.axis is None else m.block for m in space.members)


def _step(space: Space, a: Store, b: Store, alignment: Alignment, *, invariant: bool) -> bool:
    """Solve one space with the others held; True when its permutation changed."""
    cost = cost_matrix(space, a, b, alignment, invariant=invariant)
    np.negative(cost, out=cost)  # minimise in place: no negated copy of an n x n matrix
    _, perm = linear_sum_assignment(cost)
    before, after = -np.trace(cost), -cost[np.arange(space.width), perm].sum()
    if after > before + _GAIN * max(abs(before), abs(after), np.finfo(float).tiny):
        alignment.permute(space, perm)
        return True
    return False


def sweep_work(spaces: Sequence[Space], shapes: Mapping[str, tuple[int, ...]]) -> int:
    """Multiply-adds of one sweep of the descent: width times entries, summed over spaces."""
    total = 0
    for space in spaces:
        for m in space.members:
            size = math.prod(shapes[m.tensors[0]])
            if m.axis is None:
                total += space.width * size * len(m.tensors)
            else:
                total += space.width * size * space.width * m.block // shapes[m.tensors[0]][m.axis]
    return total


def weight_matching(
    spaces: Sequence[Space],
    a: Store,
    b: Store,
    *,
    seed: int,
    max_iterations: int,
    max_work: int,
    exact: Callable[[Alignment], bool],
) -> Matching:
    """The starting pass, then the descent (module docstring).

    The descent is not run when ``exact(alignment)`` says the starting pass
    already made B equal to A, nor when one sweep would cost more than
    ``max_work`` multiply-adds (:func:`sweep_work`); it stops after
    ``max_iterations`` sweeps.
    """
    alignment = Alignment({n: r.shape for n, r in a.tensors.items()})
    for space in sorted(spaces, key=_outer_first):
        _step(space, a, b, alignment, invariant=True)
    work = sweep_work(spaces, alignment.shapes)
    if not spaces or exact(alignment):
        descent = "not needed"
    elif work > max_work:
        descent = "skipped"
    else:
        descent = "stopped"
    rng = np.random.default_rng(seed)
    sweeps = 0
    while descent == "stopped" and sweeps < max_iterations:
        sweeps += 1
        changed = False
        for k in rng.permutation(len(spaces)):
            changed = _step(spaces[int(k)], a, b, alignment, invariant=False) or changed
        descent = "stopped" if changed else "converged"
    permutations = {s.id: alignment.permutation(s) for s in spaces}
    return Matching(alignment, permutations, sweeps, descent, work)
