"""Inferred permutation symmetries of a graph: its unit spaces (theory: docs/theory.md).

:func:`infer_symmetries` runs every node's symmetry rule (:mod:`symcheck.graph.ops`)
on a union-find over (tensor, axis) pairs (:mod:`symcheck.graph.unionfind`),
fixes every axis of the network's inputs, output and loss target, every axis a
rule does not mention and every axis of an op without a rule, and returns
:class:`Symmetries`: a list of :class:`UnitSpace` and, per parameter and axis,
the space acting on it (the format of Git Re-Basin's permutation specs,
documented in ``docs/graph.md``).

A unit space is an unfactored class of axes that some parameter carries.
Its ``group`` is

* ``symmetric``: any permutation of its ``size`` units, applied to every axis
  in ``axes`` (an axis whose units are blocks of ``block`` consecutive
  entries, e.g. heads on a projection's rows, moves whole blocks; an axis
  longer than ``size * block`` repeats the pattern, e.g. head dims shared by
  every head);
* ``restricted``: the space is a per-block space (query-key dims of each head,
  the query heads of each GQA group): its units are numbered over all blocks
  of the outer space ``independent_per`` and a permutation may only move
  units within their block (``blocks``), independently per block;
* ``fixed``: no permutation is claimed (an input, output, position or
  vocabulary axis, rotary dims, or an axis no rule speaks about).

:func:`apply_permutation` applies one permutation of one space to a parameter
dict: ``new[..., j, ...] = old[..., perm[j], ...]`` on every axis of the space.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.ir import Graph, Node
from symcheck.graph.ops import get_op
from symcheck.graph.unionfind import AxisUnionFind

__all__ = [
    "GROUPS",
    "KINDS",
    "NOUNS",
    "AxisRef",
    "Symmetries",
    "UnitSpace",
    "apply_permutation",
    "infer_symmetries",
    "space_text",
    "symmetries_text",
    "unit_entries",
]

# Kinds in priority order: a class with several hints takes the first kind here.
KINDS = ("expert", "head", "qk_dim", "vo_dim", "channel", "stream", "neuron", "other")
GROUPS = ("symmetric", "restricted", "fixed")


@dataclass(frozen=True)
class AxisRef:
    """One parameter axis a space acts on, in units of ``block`` consecutive entries.

    ``outer_axis`` (restricted spaces only) is another axis of the parameter
    that indexes the outer space: unit ``o * n + j`` of the space is entry
    ``j`` of ``axis`` at entry ``o`` of ``outer_axis`` (``n`` units per block),
    e.g. the hidden neurons of each expert in a weight ``(experts, hidden, in)``.
    ``between`` (restricted spaces only, > 1) says that ``between`` blocks sit
    between an outer unit and this space's units along ``axis``: the axis is
    ``(outer, between, n, block)`` in C order, repeated; e.g. the query dims of
    a GQA query projection, ``(kv head, group member, qk dim)``, per kv head.
    """

    parameter: str
    axis: int
    block: int = 1
    outer_axis: int | None = None
    between: int = 1

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"parameter": self.parameter, "axis": self.axis}
        data["block"] = self.block
        if self.outer_axis is not None:  # absent otherwise: the format before it existed
            data["outer_axis"] = self.outer_axis
        if self.between > 1:
            data["between"] = self.between
        return data


@dataclass(frozen=True)
class UnitSpace:
    """One unit space; see the module docstring for the fields."""

    name: str
    kind: str
    size: int
    group: str
    axes: tuple[AxisRef, ...]
    blocks: tuple[tuple[int, ...], ...] | None = None
    independent_per: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "size": self.size,
            "group": self.group,
            "blocks": [list(b) for b in self.blocks] if self.blocks is not None else None,
            "independent_per": self.independent_per,
            "axes": [a.to_json() for a in self.axes],
        }

    def check_permutation(self, perm: Sequence[int]) -> tuple[int, ...]:
        """Validate ``perm`` for this space (a permutation its group allows)."""
        values = tuple(perm)
        if sorted(values) != list(range(self.size)) or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in values
        ):
            raise InvalidArgument(
                f"perm={list(values)!r} is not a permutation of range({self.size}) for unit "
                f"space {self.name!r}; give each of 0..{self.size - 1} once"
            )
        values = tuple(int(v) for v in values)
        if self.group == "fixed" and values != tuple(range(self.size)):
            raise InvalidArgument(
                f"unit space {self.name!r} is fixed; only the identity permutation is allowed"
            )
        if self.group == "restricted":
            for block in self.blocks or ():
                if sorted(values[j] for j in block) != list(block):
                    raise InvalidArgument(
                        f"perm={list(values)!r} moves a unit of {self.name!r} out of its block "
                        f"{list(block)}; a restricted space permutes units within blocks only"
                    )
        return values


@dataclass(frozen=True)
class Symmetries:
    """The unit spaces of a graph and the parameter -> space map (``to_json``)."""

    spaces: tuple[UnitSpace, ...]
    parameters: dict[str, tuple[object, ...]]

    def space(self, name: str) -> UnitSpace:
        for s in self.spaces:
            if s.name == name:
                return s
        raise InvalidArgument(
            f"unit space {name!r} does not exist; spaces: {[s.name for s in self.spaces]}"
        )

    @property
    def movable(self) -> tuple[UnitSpace, ...]:
        """The spaces that are not fixed."""
        return tuple(s for s in self.spaces if s.group != "fixed")

    def to_json(self) -> dict[str, object]:
        return {
            "spaces": [s.to_json() for s in self.spaces],
            "parameters": {k: list(v) for k, v in self.parameters.items()},
        }


class _Context:
    """The :class:`~symcheck.graph.ops.RuleContext` of one node."""

    def __init__(
        self,
        uf: AxisUnionFind,
        dims: Mapping[str, list[int]],
        node: Node,
        *,
        sources: Mapping[str, str],
        labels: Mapping[str, str],
    ) -> None:
        self._uf, self._dims, self._node = uf, dims, node
        self._sources, self._labels = sources, labels
        self.attrs = node.attr_dict
        self.n_inputs, self.n_params = len(node.inputs), len(node.params)
        self.label = self.param_label(node.params[0]) if node.params else node.output
        self.mentioned: set[int] = set()
        self.mixed: list[int] = []

    def param_label(self, parameter: str) -> str:
        """The display label of a parameter's layer: a caller's label, else its stem."""
        if parameter in self._labels:
            return self._labels[parameter]
        return parameter.removesuffix(".weight").removesuffix(".table")

    def x_param(self, i: int) -> str | None:
        """The parameter input ``i`` is a view of (computed from no network input), or None."""
        return self._sources.get(self._node.inputs[i])

    def x(self, i: int, axis: int) -> int:
        return self._dims[self._node.inputs[i]][axis]

    def p(self, j: int, axis: int) -> int:
        return self._dims[self._node.params[j]][axis]

    def out(self, axis: int) -> int:
        return self._dims[self._node.output][axis]

    def x_rank(self, i: int) -> int:
        return len(self._dims[self._node.inputs[i]])

    def x_size(self, i: int, axis: int) -> int:
        return self._uf.size(self.x(i, axis))

    def out_rank(self) -> int:
        return len(self._dims[self._node.output])

    def new(self, size: int) -> int:
        return self._uf.new(size)

    def join(self, *dims: int) -> None:
        self.mentioned.update(dims)
        for d in dims[1:]:
            self._uf.union(dims[0], d)

    def fix(self, *dims: int) -> None:
        self.mentioned.update(dims)
        for d in dims:
            self._uf.fix(d)

    def mixes(self, *dims: int) -> None:
        self.mixed.extend(dims)

    def keep(self, *dims: int) -> None:
        self.mentioned.update(dims)

    def factor(self, dim: int, parts: Sequence[int]) -> None:
        self.mentioned.update((dim, *parts))
        self._uf.factor(dim, parts)

    def hint(self, dim: int, kind: str, name: str) -> None:
        self._uf.hint(dim, KINDS.index(kind), kind, name)

    def touched(self) -> list[int]:
        names = (*self._node.inputs, *self._node.params, self._node.output)
        return [d for name in names for d in self._dims[name]]


def _parameter_sources(graph: Graph) -> dict[str, str]:
    """Value name -> parameter, for values that are a parameter moved by view ops only
    (``parameter``, then ``reshape``, ``permute``, ``expand``, ``slice_axis``)."""
    sources: dict[str, str] = {}
    for node in graph.nodes:
        if node.op == "parameter":
            sources[node.output] = node.params[0]
        elif get_op(node.op).family == "view" and node.inputs[0] in sources:
            sources[node.output] = sources[node.inputs[0]]
    return sources


def _build(
    graph: Graph, labels: Mapping[str, str]
) -> tuple[AxisUnionFind, dict[str, list[int]], list[tuple[str, int]]]:
    """The closed union-find, each tensor's axis elements, and the (tensor, axis) mixings."""
    uf = AxisUnionFind()
    sources = _parameter_sources(graph)
    names = [*graph.input_names, *graph.parameter_names, *(n.output for n in graph.nodes)]
    if graph.loss is not None:
        names.append(graph.loss.target)
    dims = {name: [uf.new(size) for size in graph.shape(name)] for name in names}
    owner = {d: name for name, ds in dims.items() for d in ds}
    mixings: list[tuple[str, int]] = []
    for node in graph.nodes:
        ctx = _Context(uf, dims, node, sources=sources, labels=labels)
        rule = get_op(node.op).symmetry
        if rule is not None:
            rule(ctx)
        mixings.extend((owner[d], d) for d in ctx.mixed if d in owner)
        for d in ctx.touched():  # soundness: what a rule does not mention is fixed
            if d not in ctx.mentioned:
                uf.fix(d)
    boundary = [*graph.input_names, graph.output]
    if graph.loss is not None:
        boundary.append(graph.loss.target)
    for name in boundary:
        for d in dims[name]:
            uf.fix(d)
    uf.close()
    return uf, dims, mixings


@dataclass
class _Occurrences:
    """Where each unfactored class occurs: parameter axes (with preceding class) and tensors."""

    refs: dict[int, list[AxisRef]]
    before: dict[int, set[int | None]]
    ahead: dict[int, list[list[int]]]  # atom -> per ref: the atoms before it in that axis
    beside: dict[int, list[dict[int, int]]]  # atom -> per parameter: other whole-axis atoms
    tensors: dict[int, list[set[int]]]
    mixed: dict[int, list[set[int]]]  # atom -> axes mixed along in a tensor carrying it


def _occurrences(
    uf: AxisUnionFind,
    atoms_of: dict[str, list[list[int]]],
    params: set[str],
    mixings: list[tuple[str, int]],
) -> _Occurrences:
    found = _Occurrences({}, {}, {}, {}, {}, {})
    for name, dim in mixings:
        axis = set(uf.atoms(dim))
        for atom in {a for atoms in atoms_of[name] for a in atoms} - axis:
            found.mixed.setdefault(atom, []).append(axis)
    for name, axes in atoms_of.items():
        flat = {a for axis in axes for a in axis}
        for atom in flat:
            found.tensors.setdefault(atom, []).append(flat)
        if name not in params:
            continue
        whole = {atoms[0]: axis for axis, atoms in enumerate(axes) if len(atoms) == 1}
        for atom in flat:
            found.beside.setdefault(atom, []).append(
                {a: axis for a, axis in whole.items() if a != atom}
                if atom in whole and [a for axis in axes for a in axis].count(atom) == 1
                else {}
            )
        for axis, atoms in enumerate(axes):
            for k, atom in enumerate(atoms):
                block = 1
                for later in atoms[k + 1 :]:
                    block *= uf.size(later)
                found.refs.setdefault(atom, []).append(AxisRef(name, axis, block))
                found.before.setdefault(atom, set()).add(atoms[k - 1] if k > 0 else None)
                found.ahead.setdefault(atom, []).append(atoms[:k])
    return found


def _outer_is_separable(uf: AxisUnionFind, atom: int, outer: int, found: _Occurrences) -> bool:
    """Conditions (2) and (3) of :func:`_independent_outer` for the pair (atom, outer)."""
    if uf.is_fixed(outer) or uf.find(outer) == uf.find(atom):
        return False
    if any(outer not in tensor for tensor in found.tensors[atom]):
        return False
    return not any(outer in axis for axis in found.mixed.get(atom, []))


def _independent_outer_axis(uf: AxisUnionFind, atom: int, found: _Occurrences) -> int | None:
    """An outer space on *another* axis of every parameter carrying ``atom``
    (experts: ``(experts, hidden, in)`` and ``(experts, out, hidden)``).

    Sound under the conditions of :func:`_independent_outer` with (1) read as:
    every parameter carries ``atom`` as a whole axis once and ``outer`` as
    another whole axis once; then each parameter entry has one outer unit and
    one unit of ``atom``, and the per-outer permutation is well defined. If
    several classes qualify none is used.
    """
    per_param = found.beside.get(atom, [])
    if not per_param or any(not beside for beside in per_param):
        return None
    common = set(per_param[0]).intersection(*per_param[1:])
    qualified = [o for o in common if _outer_is_separable(uf, atom, o, found)]
    return qualified[0] if len(qualified) == 1 else None


def _independent_outer(uf: AxisUnionFind, atom: int, found: _Occurrences) -> int | None:
    """The outer space per unit of which ``atom`` may be permuted independently, if any.

    Sound when (1) in every parameter axis carrying ``atom`` the same movable
    class ``outer`` comes right before it, (2) every tensor that carries
    ``atom`` also carries ``outer`` (an op that contracts ``outer`` away mixes
    its units), and (3) no op mixes values along an axis made of ``outer``
    in a tensor that carries ``atom`` elsewhere (a softmax over the heads at a
    fixed head dim): every
    other op treats each ``outer`` unit separately, so a permutation that
    depends on the ``outer`` unit commutes with it. The property suite checks
    it numerically.
    """
    outers = found.before.get(atom, set())
    if outers == {None}:
        return _independent_outer_axis(uf, atom, found)
    if None in outers:
        return None
    if len(outers) == 1:
        (outer,) = outers
        return outer if _outer_is_separable(uf, atom, outer, found) else None
    # (1) read as: the same outer class sits somewhere before it in every axis
    # (GQA: query dims inside kv head x group member, key dims inside kv head)
    ahead = found.ahead[atom]
    common = set(ahead[0]).intersection(*ahead[1:])
    qualified = [o for o in common if _outer_is_separable(uf, atom, o, found)]
    return qualified[0] if len(qualified) == 1 else None


def _name_and_kind(uf: AxisUnionFind, atom: int, fallback: str) -> tuple[str, str]:
    hints = sorted(uf.hints(atom), key=lambda h: h[0])
    if not hints:
        return fallback, "other"
    return hints[0][2], hints[0][1]


def infer_symmetries(graph: Graph, *, labels: Mapping[str, str] | None = None) -> Symmetries:
    """The unit spaces of ``graph`` (see the module docstring); linear in the graph's size.

    ``labels`` maps a parameter to the label of its layer, used in space names
    instead of the parameter's stem (``"0.weight"`` -> ``"0"``); a front end
    that knows the module type passes e.g. ``{"0.weight": "0:Linear"}``.
    """
    uf, dims, mixings = _build(graph, labels or {})
    atoms_of = {name: [uf.atoms(d) for d in ds] for name, ds in dims.items()}
    found = _occurrences(uf, atoms_of, set(graph.parameter_names), mixings)
    order = list(found.refs)  # first appearance in parameter order
    names: dict[int, str] = {}
    taken: set[str] = set()
    for atom in order:
        first = found.refs[atom][0]
        name, _ = _name_and_kind(uf, atom, f"{first.parameter}.axis{first.axis}")
        while name in taken:
            name = f"{name}'"
        names[atom] = name
        taken.add(name)
    spaces = []
    for atom in order:
        outer = None if uf.is_fixed(atom) else _independent_outer(uf, atom, found)
        spaces.append(_space(uf, atom, outer, names, found))
    parameters = {
        p: tuple(_axis_entry(uf, atoms, names) for atoms in atoms_of[p])
        for p in graph.parameter_names
    }
    return Symmetries(tuple(spaces), parameters)


def _space(
    uf: AxisUnionFind, atom: int, outer: int | None, names: dict[int, str], found: _Occurrences
) -> UnitSpace:
    refs = found.refs[atom]
    size = uf.size(atom)
    units = size * (uf.size(outer) if outer is not None else 1)
    _, kind = _name_and_kind(uf, atom, "")
    if uf.is_fixed(atom):
        group, blocks = "fixed", None
    elif outer is not None:
        group = "restricted"
        blocks = tuple(tuple(range(o * size, (o + 1) * size)) for o in range(uf.size(outer)))
    else:
        group, blocks = "symmetric", None
    if outer is not None and found.before.get(atom) == {None}:
        refs = [
            replace(ref, outer_axis=beside[outer])
            for ref, beside in zip(refs, found.beside[atom], strict=True)
        ]
    elif outer is not None:
        refs = [
            replace(ref, between=_between(uf, ahead, outer))
            for ref, ahead in zip(refs, found.ahead[atom], strict=True)
        ]
    return UnitSpace(
        name=names[atom],
        kind=kind,
        size=units,
        group=group,
        axes=tuple(refs),
        blocks=blocks,
        independent_per=names[outer] if outer is not None else None,
    )


def _between(uf: AxisUnionFind, ahead: list[int], outer: int) -> int:
    """The product of the sizes of the atoms between ``outer`` and the space in one axis."""
    roots = [uf.find(a) for a in ahead]
    result = 1
    for a in roots[roots.index(uf.find(outer)) + 1 :]:
        result *= uf.size(a)
    return result


def _axis_entry(uf: AxisUnionFind, atoms: list[int], names: dict[int, str]) -> object:
    labels = [None if uf.is_fixed(a) else names[a] for a in atoms]
    if all(label is None for label in labels):
        return None
    return labels[0] if len(labels) == 1 else labels


def apply_permutation(
    graph: Graph, params: Mapping[str, np.ndarray], space: UnitSpace, perm: Sequence[int]
) -> dict[str, np.ndarray]:
    """Permute the parameters along every axis of ``space``: ``new[j] = old[perm[j]]``.

    For a restricted space ``perm`` numbers the units over all blocks (size
    ``space.size``) and must keep each unit in its block. Returns a new dict;
    arrays (float or object) are not modified in place.
    """
    values = space.check_permutation(perm)
    missing = sorted(set(graph.parameter_names) - set(params))
    if missing:
        raise InvalidArgument(f"params lacks {missing}; give every parameter of the graph")
    index = np.asarray(values, dtype=np.intp)
    result = {name: np.asarray(params[name]) for name in graph.parameter_names}
    for ref in space.axes:
        array = result[ref.parameter]
        if ref.outer_axis is not None:
            result[ref.parameter] = _permute_per_outer(array, ref, index)
            continue
        if ref.between > 1:
            result[ref.parameter] = _permute_with_gap(array, ref, space, index)
            continue
        shape = array.shape
        length = shape[ref.axis]
        outer = length // (space.size * ref.block)
        view = array.reshape(
            (*shape[: ref.axis], outer, space.size, ref.block, *shape[ref.axis + 1 :])
        )
        result[ref.parameter] = np.take(view, index, axis=ref.axis + 1).reshape(shape)
    return result


def _permute_per_outer(array: np.ndarray, ref: AxisRef, index: np.ndarray) -> np.ndarray:
    """``new[.., o, .., j, ..] = old[.., o, .., perm[o*n + j] - o*n, ..]`` (``outer_axis`` o)."""
    assert ref.outer_axis is not None
    count = array.shape[ref.outer_axis]
    inner = len(index) // count
    result = array.copy()
    for o in range(count):
        where = [slice(None)] * array.ndim
        where[ref.outer_axis] = slice(o, o + 1)
        local = index[o * inner : (o + 1) * inner] - o * inner
        result[tuple(where)] = np.take(array[tuple(where)], local, axis=ref.axis)
    return result


def _gap_view(array: np.ndarray, ref: AxisRef, space: UnitSpace) -> np.ndarray:
    """``array`` with ``ref.axis`` split into (repeat, outer, between, n, block)."""
    count = len(space.blocks or ())
    n = space.size // count
    shape = array.shape
    repeat = shape[ref.axis] // (count * ref.between * n * ref.block)
    parts = (repeat, count, ref.between, n, ref.block)
    return array.reshape((*shape[: ref.axis], *parts, *shape[ref.axis + 1 :]))


def _permute_with_gap(
    array: np.ndarray, ref: AxisRef, space: UnitSpace, index: np.ndarray
) -> np.ndarray:
    """``new[.., o, m, j, ..] = old[.., o, m, perm[o*n + j] - o*n, ..]`` (``between`` m)."""
    view = _gap_view(array, ref, space)
    count = view.shape[ref.axis + 1]
    n = space.size // count
    local = (index.reshape(count, n) - np.arange(count)[:, None] * n).reshape(
        (*(1,) * (ref.axis + 1), count, 1, n, *(1,) * (view.ndim - ref.axis - 4))
    )
    local = np.broadcast_to(local, view.shape[: ref.axis + 4] + view.shape[ref.axis + 4 :])
    return np.take_along_axis(view, local, axis=ref.axis + 3).reshape(array.shape)


def unit_entries(array: np.ndarray, space: UnitSpace, ref: AxisRef, unit: int) -> np.ndarray:
    """The entries of ``array`` that ``unit`` of ``space`` holds on axis ``ref`` (the
    indexing of :func:`apply_permutation`: blocks, repeats, an outer axis)."""
    shape = array.shape
    if ref.outer_axis is not None:
        o, j = divmod(unit, space.size // shape[ref.outer_axis])
        axis = ref.axis - (ref.axis > ref.outer_axis)
        return np.take(np.take(array, o, axis=ref.outer_axis), j, axis=axis)
    if ref.between > 1:
        o, j = divmod(unit, space.size // len(space.blocks or ()))
        view = _gap_view(array, ref, space)
        return np.take(np.take(view, o, axis=ref.axis + 1), j, axis=ref.axis + 2)
    outer = shape[ref.axis] // (space.size * ref.block)
    view = array.reshape((*shape[: ref.axis], outer, space.size, ref.block, *shape[ref.axis + 1 :]))
    return np.take(view, unit, axis=ref.axis + 1)


# How each kind of unit is called in text output.
NOUNS = {
    "neuron": "neurons",
    "channel": "channels",
    "head": "heads",
    "qk_dim": "query-key dims",
    "vo_dim": "value-output dims",
    "stream": "residual-stream dims",
    "expert": "experts",
    "other": "units",
}


def _axis_text(ref: AxisRef) -> str:
    blocks = f" (blocks of {ref.block})" if ref.block > 1 else ""
    outer = f" (per entry of axis {ref.outer_axis})" if ref.outer_axis is not None else ""
    outer += f" ({ref.between} blocks apart)" if ref.between > 1 else ""
    return f"{ref.parameter} axis {ref.axis}{blocks}{outer}"


def space_text(space: UnitSpace) -> str:
    """One readable line: name, units, group, the parameter axes it acts on."""
    count = f"{space.size} {NOUNS[space.kind]}"
    if space.kind == "head":
        count += f" of {min(ref.block for ref in space.axes)} dims"
    if space.group == "restricted" and space.blocks:
        group = (
            f"restricted: permuted independently within each of {len(space.blocks)} blocks of "
            f"{len(space.blocks[0])} (one per unit of {space.independent_per})"
        )
    else:
        group = space.group
    return f"{space.name}: {count}, {group}; {', '.join(_axis_text(r) for r in space.axes)}"


def symmetries_text(symmetries: Symmetries) -> str:
    """Every space, movable ones first, one line each."""
    movable = symmetries.movable
    fixed = [s for s in symmetries.spaces if s.group == "fixed"]
    lines = [f"{len(movable)} unit spaces that permute, {len(fixed)} fixed"]
    lines += [f"  {space_text(s)}" for s in (*movable, *fixed)]
    return "\n".join(lines) + "\n"
