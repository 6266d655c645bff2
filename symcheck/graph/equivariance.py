r"""The symmetry of a graph certified op by op, exactly (theory: docs/theory.md, T1).

A unit space's permutation :math:`g` acts on every tensor of the graph that
carries the space's axis class (the union-find of
:mod:`symcheck.graph.symmetry`): it permutes that digit of the axis, and for
a restricted space (units permuted within the blocks of an outer space) only
inside one block. The network inputs and output carry no movable class, so if
every node is *equivariant*,

.. math::

    \mathrm{op}(g\cdot x, g\cdot\theta) = g\cdot \mathrm{op}(x, \theta),

then by composition :math:`f(g\theta, x) = f(\theta, x)` for every input.

:func:`certify_ops` shows this for the generators of every space (for
:math:`S_n`: the transposition :math:`(0\,1)` and the cycle
:math:`(0\,1\ldots n-1)`; for a restricted space the same inside the first
block, the other blocks follow by conjugation with the outer space's
permutations) on a *small generic instance* of each node: the op with its
attributes, every movable class shrunk to at most :data:`UNITS` units and every
fixed class to at most :data:`FIXED` entries (full size where the op's shape
rule does not accept the smaller one), every entry a free SymPy symbol (token
ids: fixed integers). Both sides are computed with the op's kernel on the
SymPy backend and compared entry by entry: structurally, else with
:func:`symcheck.prove.zerotest.zero_test`. Kernels are written uniformly in the
sizes (einsum, reshape, slicing), which is what lets the small instance stand
for every size; this is stated in the proof's assumptions.

Checks are cached per (op, attributes, axis structure of the node's tensors in
canonical numbering, generator), so the layers of a deep model share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

import numpy as np
import sympy as sp

from symcheck.graph.backend import SYMPY
from symcheck.graph.ir import Graph, Node
from symcheck.graph.ops import get_op
from symcheck.graph.symmetry import Symmetries, UnitSpace, _build
from symcheck.prove.witness import rational_point
from symcheck.prove.zerotest import NONZERO, UNKNOWN, ZERO, Uncertified, certified_value, zero_test

__all__ = ["FIXED", "UNITS", "OpCheck", "TensorAction", "certify_ops", "space_atoms"]

#: Units of a movable class in the small instance.
UNITS = 3
#: Entries of a fixed class in the small instance.
FIXED = 2
#: Seeded rational points tried to show that an undecided residual is not zero.
WITNESS_SEEDS = 4

# An axis as its digits: (class id, size) pairs, outermost first.
Axis = tuple[tuple[int, int], ...]


class Unsupported(ValueError):
    """The action of a generator on a tensor cannot be written (the check is then unknown)."""


@dataclass(frozen=True)
class OpCheck:
    """One node, one space, one generator: the equivariance residual's status.

    ``cached`` says that the same check (op, attributes, axis structure,
    generator) came up earlier for this graph, e.g. in an earlier layer.
    """

    node: str
    op: str
    space: str
    generator: str
    status: str
    method: str
    instance: str
    cached: bool

    def to_json(self) -> dict[str, object]:
        return {
            "node": self.node,
            "op": self.op,
            "space": self.space,
            "generator": self.generator,
            "status": self.status,
            "method": self.method,
            "instance": self.instance,
            "cached": self.cached,
        }


@dataclass(frozen=True)
class TensorAction:
    """A permutation ``perm`` of class ``atom`` (inside unit 0 of ``outer`` when restricted)."""

    atom: int
    outer: int | None
    perm: tuple[int, ...]

    def apply(self, array: np.ndarray, axes: Sequence[Axis]) -> np.ndarray:
        """``new[..., j, ...] = old[..., perm[j], ...]`` on every digit of class ``atom``."""
        digits = [size for axis in axes for _, size in (axis or ((-1, 1),))]
        ids = [atom for axis in axes for atom, _ in (axis or ((-1, 1),))]
        if prod(digits) != array.size:
            raise Unsupported("the axis classes do not multiply to the tensor's shape")
        view = array.reshape(digits)
        spots = [k for k, a in enumerate(ids) if a == self.atom]
        if not spots:
            return array
        if self.outer is None:
            for k in spots:
                view = np.take(view, self.perm, axis=k)
            return view.reshape(array.shape)
        outer = [k for k, a in enumerate(ids) if a == self.outer]
        if len(outer) != 1:
            raise Unsupported("a restricted class without exactly one outer digit in a tensor")
        new = view.copy()
        index: list[object] = [slice(None)] * view.ndim
        index[outer[0]] = 0
        block = view[tuple(index)]
        for k in spots:
            block = np.take(block, self.perm, axis=k - (k > outer[0]))
        new[tuple(index)] = block
        return new.reshape(array.shape)


def space_atoms(graph: Graph, symmetries: Symmetries) -> tuple[dict, dict]:
    """The union-find's tensor axes (as digits) and each movable space's (class, outer class)."""
    uf, dims, *_ = _build(graph, {})  # private: the tensor axes are not public yet
    axes = {
        name: tuple(tuple((uf.find(a), uf.size(a)) for a in uf.atoms(d)) for d in ds)
        for name, ds in dims.items()
    }
    found: dict[str, int] = {}
    for space in symmetries.movable:
        ref = space.axes[0]
        digits = axes[ref.parameter][ref.axis]
        inner = len(space.blocks[0]) if space.group == "restricted" and space.blocks else space.size
        for k, (atom, size) in enumerate(digits):
            if size == inner and prod(s for _, s in digits[k + 1 :]) == ref.block:
                found[space.name] = atom
                break
    atoms = {
        s.name: (found[s.name], found.get(s.independent_per or "", None))
        for s in symmetries.movable
        if s.name in found
    }
    return axes, atoms


def _canonical(node: Node, axes: dict) -> dict[int, int]:
    order: dict[int, int] = {}
    for name in (*node.inputs, *node.params, node.output):
        for axis in axes[name]:
            for atom, _ in axis:
                order.setdefault(atom, len(order))
    return order


def _generators(units: int) -> list[tuple[str, tuple[int, ...]]]:
    swap = (1, 0, *range(2, units))
    gens = [("transposition (0 1)", swap)]
    if units > 2:
        gens.append((f"cycle (0 ... {units - 1})", (*range(1, units), 0)))
    return gens


def _shapes(node: Node, axes: dict, sizes: dict[int, int]) -> list[tuple[int, ...]]:
    return [
        tuple(prod(sizes[a] for a, _ in axis) for axis in axes[name])
        for name in (*node.inputs, *node.params, node.output)
    ]


def _instance_sizes(graph: Graph, node: Node, axes: dict, fixed: set[int]) -> dict[int, int]:
    """Shrunk class sizes the op's shape rule accepts (else larger, else the full sizes)."""
    full = {
        a: s
        for name in (*node.inputs, *node.params, node.output)
        for ax in axes[name]
        for a, s in ax
    }
    op = get_op(node.op)
    attrs = node.attr_dict
    n_in = len(node.inputs)
    for shrink_fixed, shrink_moving in ((True, True), (False, True), (False, False)):
        sizes = {
            a: min(s, FIXED if a in fixed else UNITS)
            if (shrink_fixed if a in fixed else shrink_moving)
            else s
            for a, s in full.items()
        }
        shapes = _shapes(node, axes, sizes)
        try:
            if op.shape(shapes[:n_in], shapes[n_in:-1], attrs) == shapes[-1]:
                return sizes
        except ValueError:
            continue
    return full


def _symbolic(shape: tuple[int, ...], tag: str) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for k, index in enumerate(np.ndindex(*shape)):
        out[index] = sp.Symbol(f"{tag}_{k}")
    return out


def _refuted(residual: sp.Expr) -> bool:
    """Is the residual certified non-zero at one of a few seeded rational points?"""
    for seed in range(WITNESS_SEEDS):
        try:
            certified_value(residual.xreplace(rational_point(residual.free_symbols, seed)))
        except (Uncertified, ArithmeticError, ValueError, TypeError):
            continue
        return True
    return False


def _compare(left: np.ndarray, right: np.ndarray) -> tuple[str, str]:
    status, method = ZERO, "structural"
    for a, b in zip(left.reshape(-1), right.reshape(-1)):
        if a == b:
            continue
        residual = sp.sympify(a) - sp.sympify(b)
        decision = zero_test(residual)
        if decision.status == NONZERO:
            return NONZERO, decision.method
        if decision.status != ZERO and _refuted(residual):
            return NONZERO, "witness"
        if decision.status != ZERO:
            status, method = UNKNOWN, decision.method
        elif status == ZERO:
            method = decision.method
    return status, method


def _check_instance(
    node: Node, shrunk: dict[str, tuple[Axis, ...]], action: TensorAction
) -> tuple[str, str]:
    op = get_op(node.op)
    kernel = op.forward()
    names = (*node.inputs, *node.params)
    arrays = []
    for k, name in enumerate(names):
        shape = tuple(prod(s for _, s in axis) for axis in shrunk[name])
        if k in op.int_inputs:
            vocab = prod(s for _, s in shrunk[node.params[0]][0])
            arrays.append(np.arange(prod(shape), dtype=np.int64).reshape(shape) % vocab)
        else:
            arrays.append(_symbolic(shape, f"a{k}"))
    try:
        out, _ = kernel(SYMPY, *arrays, **node.attr_dict)
        moved = [
            a if k in op.int_inputs else action.apply(a, shrunk[name])
            for k, (a, name) in enumerate(zip(arrays, names))
        ]
        if any(
            k in op.int_inputs and not np.array_equal(action.apply(a, shrunk[name]), a)
            for k, (a, name) in enumerate(zip(arrays, names))
        ):
            return UNKNOWN, "the permutation moves token ids"
        out_moved, _ = kernel(SYMPY, *moved, **node.attr_dict)
        expected = action.apply(np.asarray(out, dtype=object), shrunk[node.output])
    except (Unsupported, ValueError) as exc:
        return UNKNOWN, f"not checked: {exc}"
    return _compare(np.asarray(out_moved, dtype=object), expected)


def certify_ops(
    graph: Graph, symmetries: Symmetries, cache: dict | None = None
) -> tuple[OpCheck, ...]:
    """Every node's equivariance under the generators of every movable space it touches."""
    cache = {} if cache is None else cache
    axes, atoms = space_atoms(graph, symmetries)
    fixed_atoms = (
        {a for ax in axes.values() for axis in ax for a, _ in axis}
        - {atom for atom, _ in atoms.values()}
        - {o for _, o in atoms.values() if o is not None}
    )
    checks: list[OpCheck] = []
    seen: set = set()
    by_atom = {atom: (name, outer) for name, (atom, outer) in atoms.items()}
    for node in graph.nodes:
        order = _canonical(node, axes)
        sizes = _instance_sizes(graph, node, axes, fixed_atoms)
        shrunk = {
            name: tuple(tuple((order[a], sizes[a]) for a, _ in axis) for axis in axes[name])
            for name in (*node.inputs, *node.params, node.output)
        }
        for atom in order:
            if atom not in by_atom:
                continue
            space_name, outer = by_atom[atom]
            for label, perm in _generators(sizes[atom]):
                action = TensorAction(
                    order[atom], None if outer is None else order.get(outer), perm
                )
                if outer is not None and outer not in order:
                    result, cached = (UNKNOWN, "the outer class is absent from the node"), False
                else:
                    key = (node.op, node.attrs, tuple(shrunk.values()), action)
                    cached = key in seen  # the same check was listed earlier for this graph
                    seen.add(key)
                    if key not in cache:
                        cache[key] = _check_instance(node, shrunk, action)
                    result = cache[key]
                instance = ", ".join(
                    f"{name}{tuple(prod(s for _, s in ax) for ax in shrunk[name])}"
                    for name in (*node.inputs, *node.params, node.output)
                )
                checks.append(
                    OpCheck(node.output, node.op, space_name, label, *result, instance, cached)
                )
    return tuple(checks)


def boundary_is_fixed(graph: Graph, symmetries: Symmetries) -> bool:
    """Do the network's inputs, output and loss target carry no movable class?"""
    axes, atoms = space_atoms(graph, symmetries)
    moving = {a for a, _ in atoms.values()} | {o for _, o in atoms.values() if o is not None}
    names = [*graph.input_names, graph.output]
    if graph.loss is not None:
        names.append(graph.loss.target)
    return not any(a in moving for name in names for axis in axes[name] for a, _ in axis)


def unit_space_action(space: UnitSpace) -> str:
    """How a space's generators act, for the proof text."""
    if space.group == "restricted":
        return f"permutations of {space.name} inside one block of {space.independent_per}"
    return f"permutations of the {space.size} units of {space.name}"
