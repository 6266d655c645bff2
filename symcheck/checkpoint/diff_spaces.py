"""The unit spaces ``symcheck diff`` aligns, from a model graph, a known config or a chain.

Three sources, tried in this order (docs/checkpoint.md, comparing two checkpoints):

* **a graph** (``model=``: a zoo spec, a chain spec or a graph file; see
  :func:`symcheck.graph.zoo.resolve_model`): the spaces inferred by
  :func:`symcheck.graph.symmetry.infer_symmetries`. The graph's parameters
  must be exactly the checkpoint's tensors (names and shapes). A restricted
  space (query heads of one GQA group, query-key dims of one head, the
  neurons of one expert) becomes one space per block, so a permutation never
  leaves its block; fixed spaces are not listed;
* **a known config** (``config.json`` beside the first checkpoint, or
  ``config=``): the spaces of its family file
  (:mod:`symcheck.checkpoint.families`);
* **a plain MLP chain** (no config, the tensors are the weights and biases
  of one chain, :func:`symcheck.audit.file.infer_chain`): the hidden neurons of
  every layer. The chain is *assumed* from names and shapes.

Every space is a :class:`~symcheck.checkpoint.families.Space`: unit ``u``
covers ``offset + u*stride + [0, block)`` on a member's axis, or owns one
whole tensor. A space that cannot be permuted soundly (its tensors are
missing or misfit, an unknown tensor could act on its units) is returned with ``unsound`` set and
is never permuted: fixing a space can make two equal networks look
different, never two different ones look equal.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from symcheck.audit.file import _bias_name, infer_chain
from symcheck.checkpoint.align import EntryMember
from symcheck.checkpoint.families import Member, Space, coupled, family_for, resolve
from symcheck.checkpoint.store import Store
from symcheck.errors import InvalidArgument
from symcheck.graph.ir import Graph
from symcheck.graph.symmetry import AxisRef, UnitSpace, infer_symmetries

__all__ = ["Architecture", "chain_spaces", "family_spaces", "graph_spaces"]

Shapes = Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class Architecture:
    """Where the unit spaces came from, and the spaces themselves."""

    source: str
    #: ``family``, ``graph``, ``chain`` or ``none``.
    kind: str
    spaces: tuple[Space, ...]
    note: str | None = None


# --------------------------------------------------------------------------- graphs


def _graph_members(ref: AxisRef, shapes: Shapes, n: int, blocks: int, block: int) -> list[Member]:
    """Members of unit block ``block`` (of ``blocks``, ``n`` units each) on one axis.

    The axis is ``(repeat, outer, between, n, ref.block)`` in C order
    (:func:`symcheck.graph.symmetry.apply_permutation`), or, with an
    ``outer_axis``, ``(repeat, n, ref.block)`` at entry ``block`` of that axis.
    """
    length = shapes[ref.parameter][ref.axis]
    if ref.outer_axis is not None:
        return [
            EntryMember(
                (ref.parameter,),
                ref.axis,
                r * n * ref.block,
                ref.block,
                ref.block,
                "param",
                outer_axis=ref.outer_axis,
                entry=block,
            )
            for r in range(length // (n * ref.block))
        ]
    repeats = length // (blocks * ref.between * n * ref.block)
    members = []
    for r in range(repeats):
        for m in range(ref.between):
            offset = ((r * blocks + block) * ref.between + m) * n * ref.block
            members.append(
                Member((ref.parameter,), ref.axis, offset, ref.block, ref.block, "param")
            )
    return members


def _from_unit_space(space: UnitSpace, shapes: Shapes) -> list[Space]:
    blocks = len(space.blocks) if space.group == "restricted" and space.blocks else 1
    n = space.size // blocks
    out = []
    for b in range(blocks):
        members = [m for ref in space.axes for m in _graph_members(ref, shapes, n, blocks, b)]
        name = space.name if blocks == 1 else f"{space.name}[{b}]"
        label = (
            name if blocks == 1 else f"{space.name} block {b} (per unit of {space.independent_per})"
        )
        out.append(Space(name, space.kind, label, n, tuple(members)))
    return out


def graph_spaces(graph: Graph, shapes: Shapes, *, source: str) -> Architecture:
    """The movable unit spaces of ``graph``; its parameters must be the checkpoint's tensors."""
    expected = {p.name: tuple(p.shape) for p in graph.parameters}
    for name in sorted(set(expected) | set(shapes)):
        if name not in shapes:
            raise InvalidArgument(
                f"model {source!r}: parameter {name!r} is not in the checkpoint; give the model "
                "whose parameters are the checkpoint's tensors"
            )
        if name not in expected:
            raise InvalidArgument(
                f"model {source!r}: tensor {name!r} of the checkpoint is not a parameter of the "
                "model; give the model whose parameters are the checkpoint's tensors"
            )
        if expected[name] != tuple(shapes[name]):
            raise InvalidArgument(
                f"model {source!r}: {name!r} has shape {tuple(shapes[name])} in the checkpoint "
                f"and {expected[name]} in the model; give the model's sizes as options"
            )
    symmetries = infer_symmetries(graph)
    spaces = [s for u in symmetries.movable for s in _from_unit_space(u, shapes)]
    return Architecture(f"model {source}", "graph", tuple(spaces))


# --------------------------------------------------------------------------- families


def family_spaces(store: Store, config: Mapping[str, Any], *, source: str) -> Architecture:
    """The spaces of the config's family; an unknown ``model_type`` gives none."""
    model_type = config.get("model_type")
    family = family_for(model_type)
    if family is None:
        return Architecture(
            f"model_type {model_type!r} ({source})",
            "none",
            (),
            f"model_type {model_type!r} is not a known family: compared without permutation",
        )
    shapes = {n: r.shape for n, r in store.tensors.items()}
    spaces, _, recognised = resolve(family, config, shapes)
    unknown = {n: shapes[n] for n in shapes if n not in recognised}
    out = []
    for space in spaces:
        reason = space.unsound
        if reason is None and space.members:
            name = coupled(space, unknown, shapes)
            if name is not None:
                reason = (
                    f"no claim: tensor {name!r} is outside the family and could act on these units"
                )
        if reason is None and (space.mismatch or not space.members):
            reason = "no claim: the tensors do not fit the config"
        out.append(space if reason == space.unsound else replace(space, unsound=reason))
    return Architecture(f"{family.name} ({source})", "family", tuple(out))


# --------------------------------------------------------------------------- chains


class _Header:
    """What :func:`symcheck.audit.file.infer_chain` reads of a tensor: shape, rank, dtype kind."""

    def __init__(self, shape: tuple[int, ...], floating: bool) -> None:
        self.shape, self.ndim = shape, len(shape)
        self.dtype = np.dtype(np.float32 if floating else np.int64)


def chain_spaces(store: Store) -> Architecture:
    """The hidden-neuron spaces of a plain MLP chain, or none when the tensors are not one."""
    headers = {n: _Header(r.shape, r.dtype.floating) for n, r in store.tensors.items()}
    chain = infer_chain(headers)
    if not chain:
        return Architecture(
            "unknown",
            "none",
            (),
            "no config.json, no --model and not an MLP chain: compared without permutation",
        )
    spaces = []
    for layer, (weight, after) in enumerate(itertools.pairwise(chain), start=1):
        members = [Member((weight,), 0, 0, 1, 1, "in", tiled=True)]
        bias = _bias_name(weight)
        if bias in store.tensors:
            members.append(Member((bias,), 0, 0, 1, 1, "in", tiled=True))
        members.append(Member((after,), 1, 0, 1, 1, "out", tiled=True))
        width = store.tensors[weight].shape[0]
        spaces.append(
            Space(
                f"hidden{layer}", "neuron", f"hidden layer {layer} neurons", width, tuple(members)
            )
        )
    note = "architecture assumed: a plain MLP chain (weights in the numeric order of their names)"
    return Architecture("MLP chain (assumed)", "chain", tuple(spaces), note)
