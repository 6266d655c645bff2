r"""Tie classes of an init point in every unit space, each certified by an explicit permutation.

Two units :math:`u, v` of a unit space are *tied* at :math:`\theta_0` when
some permutation :math:`g` of the symmetry group with :math:`g\theta_0 =
\theta_0` maps one to the other (theory: docs/theory.md, T1). Here every
class is certified by one permutation of that space alone: the cycle
:math:`(u_1\,u_2 \ldots u_m)` through the class, applied to the parameters
with :func:`symcheck.graph.symmetry.apply_permutation` and compared exactly
(the codes of :class:`~symcheck.graph.points.Point`, bit for bit). The cycle
generates a group that fixes :math:`\theta_0` and moves any unit of the class
to any other, so every pair in the class is tied.

How classes are found (never trusted: only certified classes are reported):
units whose slices agree in every parameter on which the space acts along
one axis only are candidates; a candidate class whose cycle does not fix the
point is split by transpositions with its first unit (each checked the same
way). Ties that need a simultaneous permutation of two spaces are not
reported, so a class may be finer than the stabiliser's orbit (sound: a tie
may be missed, none is invented). A restricted space's classes stay inside
its blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.ir import Graph
from symcheck.graph.lumped import lumped_blocks
from symcheck.graph.points import Point, init_point
from symcheck.graph.symmetry import (
    Symmetries,
    UnitSpace,
    apply_permutation,
    infer_symmetries,
    unit_entries,
)
from symcheck.graph.zoo import resolve_model

__all__ = [
    "SpaceTies",
    "TieCertificate",
    "TieClasses",
    "cycle",
    "fixes",
    "resolve_graph",
    "tie_classes",
    "ties_text",
    "verify_certificate",
]


@dataclass(frozen=True)
class TieCertificate:
    """A permutation of one space (``new[j] = old[perm[j]]``) that fixes the point.

    ``units`` is the class it certifies, in cycle order.
    """

    space: str
    units: tuple[int, ...]
    permutation: tuple[int, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "space": self.space,
            "units": list(self.units),
            "permutation": list(self.permutation),
        }


@dataclass(frozen=True)
class SpaceTies:
    """The certified tie classes of one unit space (singletons omitted)."""

    space: str
    kind: str
    size: int
    group: str
    classes: tuple[tuple[int, ...], ...]
    certificates: tuple[TieCertificate, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "space": self.space,
            "kind": self.kind,
            "size": self.size,
            "group": self.group,
            "classes": [list(c) for c in self.classes],
            "certificates": [c.to_json() for c in self.certificates],
        }


@dataclass(frozen=True)
class TieClasses:
    """The tie classes of an init point in every movable unit space (``to_json``)."""

    model: str
    init: str
    description: str
    spaces: tuple[SpaceTies, ...]
    #: Lumped-but-not-tied blocks per hidden space of a dense chain (T3); ``None``
    #: where T3's argument does not cover the graph or the point is symbolic.
    lumped: dict[str, tuple[tuple[int, ...], ...]] | None = None

    def space(self, name: str) -> SpaceTies:
        for s in self.spaces:
            if s.space == name:
                return s
        raise InvalidArgument(
            f"unit space {name!r} is not movable here; spaces: {[s.space for s in self.spaces]}"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "init": self.init,
            "description": self.description,
            "spaces": [s.to_json() for s in self.spaces],
            "lumped": None
            if self.lumped is None
            else {k: [list(b) for b in v] for k, v in self.lumped.items()},
        }


def resolve_graph(model: Graph | str) -> tuple[Graph, str]:
    """A graph and its display name from a graph or any spec ``resolve_model`` accepts."""
    if isinstance(model, Graph):
        return model, "graph"
    if not isinstance(model, str):
        raise InvalidArgument(
            f"model={model!r} is neither a Graph nor a spec; give 3-4-4-2, NAME:key=value or a "
            ".json graph file"
        )
    return resolve_model(model), model.strip()


def cycle(size: int, units: Sequence[int]) -> tuple[int, ...]:
    """The permutation of ``range(size)`` that cycles ``units`` (``new[u_k] = old[u_{k+1}]``)."""
    perm = list(range(size))
    for k, u in enumerate(units):
        perm[u] = units[(k + 1) % len(units)]
    return tuple(perm)


def fixes(graph: Graph, point: Point, space: UnitSpace, perm: Sequence[int]) -> bool:
    """Does ``perm`` of ``space`` fix the point exactly (every code array, bit for bit)?"""
    moved = apply_permutation(graph, point.codes, space, perm)
    return all(
        np.array_equal(moved[ref.parameter], point.codes[ref.parameter]) for ref in space.axes
    )


def verify_certificate(
    graph: Graph, point: Point, symmetries: Symmetries, certificate: TieCertificate
) -> bool:
    """Re-check a certificate: a permutation of its space cycling its class and fixing the point."""
    try:
        space = symmetries.space(certificate.space)
        perm = space.check_permutation(certificate.permutation)
    except InvalidArgument:
        return False
    units = certificate.units
    if len(set(units)) != len(units) or any(not 0 <= u < space.size for u in units):
        return False
    if any(perm[units[k]] != units[(k + 1) % len(units)] for k in range(len(units))):
        return False  # the permutation must cycle through the class
    return fixes(graph, point, space, perm)


def _signatures(point: Point, space: UnitSpace) -> list[tuple]:
    """Per unit: its slices in every parameter the space acts on along one axis only."""
    counts: dict[str, int] = {}
    for ref in space.axes:
        counts[ref.parameter] = counts.get(ref.parameter, 0) + 1
    block_of = [0] * space.size
    for b, block in enumerate(space.blocks or ()):
        for u in block:
            block_of[u] = b
    parts: list[list[bytes]] = [[] for _ in range(space.size)]
    for ref in space.axes:
        if counts[ref.parameter] > 1:
            continue
        codes = point.codes[ref.parameter]
        for u in range(space.size):
            entries = unit_entries(codes, space, ref, u)
            parts[u].append(np.ascontiguousarray(entries).tobytes())
    return [(block_of[u], *parts[u]) for u in range(space.size)]


def _classes(
    graph: Graph, point: Point, space: UnitSpace
) -> list[tuple[tuple[int, ...], TieCertificate]]:
    groups: dict[tuple, list[int]] = {}
    for u, signature in enumerate(_signatures(point, space)):
        groups.setdefault(signature, []).append(u)
    found = []
    pending = [tuple(g) for g in groups.values() if len(g) > 1]
    while pending:
        units = pending.pop()
        perm = cycle(space.size, units)
        if fixes(graph, point, space, perm):
            found.append((units, TieCertificate(space.name, units, perm)))
            continue
        first, rest = units[0], units[1:]
        with_first = [first] + [
            u for u in rest if fixes(graph, point, space, cycle(space.size, (first, u)))
        ]
        others = tuple(u for u in rest if u not in with_first)
        for part in (tuple(with_first), others):
            if len(part) > 1:
                pending.append(part)
    return sorted(found)


def tie_classes(
    model: Graph | str,
    *,
    init: str | Mapping[str, object] | Point = "zero",
    value: object = None,
    seed: int = 0,
) -> TieClasses:
    """The certified tie classes of ``init`` in every movable unit space of ``model``."""
    graph, name = resolve_graph(model)
    point = init_point(graph, init, value=value, seed=seed)
    symmetries = infer_symmetries(graph)
    return classes_at(graph, point, symmetries, model=name)


def classes_at(
    graph: Graph, point: Point, symmetries: Symmetries, *, model: str = "graph"
) -> TieClasses:
    """:func:`tie_classes` for a built point and the graph's symmetries."""
    spaces = []
    for space in symmetries.movable:
        found = _classes(graph, point, space)
        spaces.append(
            SpaceTies(
                space.name,
                space.kind,
                space.size,
                space.group,
                tuple(units for units, _ in found),
                tuple(cert for _, cert in found),
            )
        )
    found = {s.space: s.classes for s in spaces}
    lumped = lumped_blocks(graph, point, symmetries, found)
    return TieClasses(model, point.name, point.description, tuple(spaces), lumped)


def ties_text(ties: TieClasses) -> str:
    """One line per movable space: its tie classes (singletons omitted)."""
    lines = [f"{ties.model}, init {ties.init}: {ties.description}"]
    for s in ties.spaces:
        if not s.classes:
            text = "no ties"
        elif len(s.classes) == 1 and len(s.classes[0]) == s.size:
            text = f"all {s.size} units tied"
        else:
            text = "; ".join("{" + ", ".join(map(str, c)) + "}" for c in s.classes)
        lines.append(f"  {s.space} ({s.kind}, {s.size} units, {s.group}): {text}")
    for space, blocks in (ties.lumped or {}).items():
        if blocks:
            text = "; ".join("{" + ", ".join(map(str, b)) + "}" for b in blocks)
            lines.append(f"  {space}: lumped but not tied (T3, equitable blocks): {text}")
    return "\n".join(lines) + "\n"
