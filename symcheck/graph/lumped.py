r"""Lumped-but-not-tied blocks (T3) where the argument covers the graph: dense chains.

T3 (theory: docs/theory.md) keeps an equitable partition of a fully connected
chain under SGD, momentum, Adam and AdamW: neurons in one block keep equal
activations and deltas although their weights differ. The argument uses
block row and column sums of dense layers; through nonlinear mixing ops
(attention softmax, normalisation statistics, pooling) it does not hold, so
symcheck claims exact ties only there.

:func:`lumped_blocks` therefore answers only for a graph that *is* a dense
chain (one float input ``(batch, features)``, then ``linear`` nodes with
elementwise ``activation`` nodes between them, the last ``linear`` the
output) at a point whose values are all numbers. It lowers the point to the
chain layout ``[(W, b), ...]`` and runs the coarsest equitable partition of
:mod:`symcheck.prove.partition` (colour refinement, exact on the float values);
the blocks of two or more neurons that are not inside one tie class are the
lumped-but-not-tied blocks, keyed by the unit space of the hidden layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from symcheck.graph.ir import Graph
from symcheck.graph.points import Point
from symcheck.graph.symmetry import Symmetries
from symcheck.prove.partition import coarsest_equitable_partition

__all__ = ["chain_layers", "lumped_blocks"]


def chain_layers(graph: Graph) -> list[tuple[str, str | None]] | None:
    """``[(weight, bias or None), ...]`` when the graph is a dense chain, else ``None``."""
    if len(graph.inputs) != 1 or len(graph.inputs[0].shape) != 2:
        return None
    layers: list[tuple[str, str | None]] = []
    current = graph.inputs[0].name
    expect_linear = True
    for node in graph.nodes:
        if node.inputs != (current,):
            return None
        if node.op == "linear" and expect_linear:
            layers.append((node.params[0], node.params[1] if len(node.params) > 1 else None))
        elif node.op != "activation" or expect_linear:
            return None
        expect_linear = not expect_linear
        current = node.output
    if expect_linear or current != graph.output or len(layers) < 2:
        return None
    return layers


def lumped_blocks(
    graph: Graph,
    point: Point,
    symmetries: Symmetries,
    ties: Mapping[str, Sequence[Sequence[int]]],
) -> dict[str, tuple[tuple[int, ...], ...]] | None:
    """Equitable blocks not inside one tie class, per hidden space; ``None`` if not covered."""
    layers = chain_layers(graph)
    table = None if layers is None else point.floats()
    if layers is None or table is None:
        return None
    params = [
        (table[point.codes[w]], None if b is None else table[point.codes[b]]) for w, b in layers
    ]
    partition = coarsest_equitable_partition(params)
    out: dict[str, tuple[tuple[int, ...], ...]] = {}
    for (weight, _), layer in zip(layers, partition.layers):
        space = next(
            (
                s
                for s in symmetries.movable
                if any(r.parameter == weight and r.axis == 0 for r in s.axes)
            ),
            None,
        )
        if space is None:
            continue
        tied = [set(c) for c in ties.get(space.name, ())]
        out[space.name] = tuple(
            block for block in layer.nontrivial() if not any(set(block) <= c for c in tied)
        )
    return out
