"""Numeric confirmation of an inferred symmetry: ``f(g·θ, x) == f(θ, x)`` (theory: T1).

:func:`invariance_gap` applies one permutation of one unit space to the
parameters and returns the largest change of the network output, relative
to ``max(1, max |f(θ, x)|)``; a true architecture symmetry leaves only
rounding (float64: about 1e-16 per operation), a wrong one changes the output
by O(1) for random parameters and inputs. :func:`gradient_equivariance_gap`
checks the consequence T1 uses, ``∇L(g·θ) = g·∇L(θ)``, through the reverse
mode of :mod:`symcheck.graph.evaluate`. :func:`swap_gap` measures whether two
units are tied in an array set (parameters, gradients, optimiser state), and
:func:`block_pairs` lists the pairs a space may swap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from symcheck.graph.evaluate import evaluate, loss_and_gradients
from symcheck.graph.ir import Graph
from symcheck.graph.symmetry import UnitSpace, apply_permutation, unit_entries

__all__ = [
    "RELATIVE_TOLERANCE",
    "block_pairs",
    "gradient_equivariance_gap",
    "invariance_gap",
    "swap_gap",
    "unit_magnitude",
]

RELATIVE_TOLERANCE = 1e-12


def invariance_gap(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    space: UnitSpace,
    perm: Sequence[int],
) -> float:
    """``max |f(g·θ, x) - f(θ, x)| / max(1, max |f(θ, x)|)`` for g = ``perm`` on ``space``."""
    before = np.asarray(evaluate(graph, params, inputs), dtype=float)
    after = np.asarray(
        evaluate(graph, apply_permutation(graph, params, space, perm), inputs), dtype=float
    )
    scale = max(1.0, float(np.max(np.abs(before))))
    return float(np.max(np.abs(after - before))) / scale


def gradient_equivariance_gap(
    graph: Graph,
    params: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    target: np.ndarray,
    space: UnitSpace,
    perm: Sequence[int],
) -> float:
    """``max |∇L(g·θ) - g·∇L(θ)|``, relative to ``max(1, max |∇L(θ)|)`` (T1's consequence)."""
    _, grads = loss_and_gradients(graph, params, inputs, target)
    _, moved = loss_and_gradients(
        graph, apply_permutation(graph, params, space, perm), inputs, target
    )
    expected = apply_permutation(graph, grads, space, perm)
    scale = max(1.0, *(float(np.max(np.abs(g))) for g in grads.values()))
    return max(float(np.max(np.abs(moved[p] - expected[p]))) for p in grads) / scale


def swap_gap(
    graph: Graph, arrays: Mapping[str, np.ndarray], space: UnitSpace, u: int, v: int
) -> float:
    """``max |τ·a - a|`` over the parameters ``space`` acts on, τ the transposition ``(u v)``.

    Zero exactly when swapping units ``u`` and ``v`` leaves ``arrays`` (parameters,
    gradients or optimiser state, one array per parameter) unchanged: the two
    units are tied in ``arrays`` (docs/theory.md, T1).
    """
    perm = list(range(space.size))
    perm[u], perm[v] = v, u
    moved = apply_permutation(graph, arrays, space, perm)
    names = {ref.parameter for ref in space.axes}
    return max(float(np.max(np.abs(moved[p] - np.asarray(arrays[p])), initial=0.0)) for p in names)


def unit_magnitude(arrays: Mapping[str, np.ndarray], space: UnitSpace, unit: int) -> float:
    """``max |a|`` over the entries that ``unit`` of ``space`` holds in ``arrays``."""
    return max(
        float(np.max(np.abs(unit_entries(np.asarray(arrays[ref.parameter]), space, ref, unit))))
        for ref in space.axes
    )


def block_pairs(space: UnitSpace) -> list[tuple[int, int]]:
    """Every pair of units a permutation of ``space`` may swap (within blocks if restricted)."""
    blocks = space.blocks if space.group == "restricted" and space.blocks else [range(space.size)]
    return [(u, v) for block in blocks for i, u in enumerate(block) for v in list(block)[i + 1 :]]
