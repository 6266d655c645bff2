r"""Neurons of a hidden layer: their signatures, ties, gaps and permutations.

Neuron :math:`i` of hidden layer :math:`l` is described by its **signature**,
its incoming row :math:`W^l_{i,:}`, its bias :math:`b^l_i` and its outgoing
column :math:`W^{l+1}_{:,i}` (docs/theory.md T1). Two neurons are tied when their
signatures are equal. A permutation :math:`\pi` of the neurons of hidden
layers acts on parameters by permuting the rows of :math:`W^l`, the entries of
:math:`b^l` and the columns of :math:`W^{l+1}`, and on gradients alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.model.network import Network

__all__ = [
    "gradient_rows",
    "max_gap",
    "pair_gaps",
    "permute_hidden",
    "rounding_tolerance",
    "signatures",
    "tied_pairs",
]

NDArray = np.ndarray
Params = list[tuple[NDArray, "NDArray | None"]]


def _hidden(params: Sequence, layer: int) -> None:
    if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer < len(params):
        raise InvalidArgument(f"layer={layer!r} is not a hidden layer; use 1..{len(params) - 1}")


def signatures(params: Sequence, layer: int) -> NDArray:
    r"""One row per neuron of hidden ``layer``: :math:`(W^l_{i,:},\, b^l_i,\, W^{l+1}_{:,i})`."""
    _hidden(params, layer)
    w, b = params[layer - 1]
    w_next = params[layer][0]
    parts = [np.asarray(w), np.asarray(w_next).T]
    if b is not None:
        parts.insert(1, np.asarray(b)[:, None])
    return np.concatenate(parts, axis=1)


def gradient_rows(grads: Sequence, layer: int) -> NDArray:
    r"""One row per neuron of ``layer``: its incoming gradient row and bias gradient."""
    if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= len(grads):
        raise InvalidArgument(f"layer={layer!r} is not a weight layer; use 1..{len(grads)}")
    gw, gb = grads[layer - 1]
    return np.asarray(gw) if gb is None else np.concatenate([gw, np.asarray(gb)[:, None]], axis=1)


def pair_gaps(rows: NDArray) -> NDArray:
    r"""Matrix of :math:`\max_k |r_{ik} - r_{jk}|` over every pair of rows."""
    rows = np.asarray(rows)
    return np.max(np.abs(rows[:, None, :] - rows[None, :, :]), axis=-1, initial=0.0)


def tied_pairs(rows: NDArray, *, tol: float = 0.0) -> list[tuple[int, int]]:
    """Pairs ``i < j`` whose rows differ by at most ``tol`` (0: bitwise equal)."""
    gaps = pair_gaps(rows)
    n = gaps.shape[0]
    return [(i, j) for i in range(n) for j in range(i + 1, n) if gaps[i, j] <= tol]


def max_gap(rows: NDArray, pairs: Sequence[tuple[int, int]]) -> float:
    """Largest difference between the rows of the given pairs (0 when none)."""
    gaps = pair_gaps(rows)
    return max((float(gaps[i, j]) for i, j in pairs), default=0.0)


def permute_hidden(
    network: Network, params: Sequence, perms: Mapping[int, Sequence[int]]
) -> Params:
    r"""Apply :math:`\pi` to ``params`` (or gradients): ``perms[l]`` permutes hidden layer ``l``.

    New neuron :math:`i` of layer :math:`l` is old neuron ``perms[l][i]``:
    rows of :math:`W^l` and entries of :math:`b^l` are taken in that order, and
    so are the columns of :math:`W^{l+1}`.
    """
    out: Params = [(np.asarray(w), None if b is None else np.asarray(b)) for w, b in params]
    for layer, perm in perms.items():
        if layer not in network.hidden_layers:
            raise InvalidArgument(
                f"perms has layer {layer!r}; only hidden layers {list(network.hidden_layers)} "
                "may be permuted (inputs and outputs are fixed)"
            )
        p = np.asarray(perm)
        if sorted(p.tolist()) != list(range(network.widths[layer])):
            raise InvalidArgument(
                f"perms[{layer}]={list(perm)!r} is not a permutation of "
                f"0..{network.widths[layer] - 1}"
            )
        w, b = out[layer - 1]
        out[layer - 1] = (w[p, :], None if b is None else b[p])
        w_next, b_next = out[layer]
        out[layer] = (w_next[:, p], b_next)
    return out


def rounding_tolerance(network: Network, *, scale: float, batch: int, steps: int = 1) -> float:
    r"""A bound on rounding differences between two evaluation orders of the same quantity.

    A sum of :math:`n` terms computed in two different orders differs by at
    most :math:`2\gamma_n \sum|t_i|`, :math:`\gamma_n = n u/(1-nu)`,
    :math:`u = \epsilon/2` (Higham, *Accuracy and Stability of Numerical
    Algorithms*, §3.1). Along one gradient entry the forward and backward
    passes chain :math:`2L` dot products of length at most
    :math:`\max_l n_l + 1` (the bias), the batch sum adds :math:`B` terms,
    and each elementwise function (activation, derivative, loss, optimiser
    rule) contributes a few ulps, counted as 4 per layer. To first order the
    errors add, and each of ``steps`` steps adds its own:

    .. math::

        \text{tol} = \text{steps}\cdot\bigl(2L(\max_l n_l + 1) + B + 4L\bigr)\,\epsilon\,S,

    with :math:`S` (``scale``) a bound on the magnitude of the terms summed
    (e.g. the largest absolute parameter, activation or gradient involved).
    This is a first-order model, valid while steps are few: docs/theory.md §4
    shows rounding differences growing exponentially over long runs.
    """
    if scale < 0 or batch < 1 or steps < 0:
        raise InvalidArgument(
            f"scale={scale!r}, batch={batch!r}, steps={steps!r} must be >= 0, >= 1, >= 0"
        )
    depth = network.depth
    ops = 2 * depth * (max(network.widths) + 1) + batch + 4 * depth
    return max(steps, 1) * ops * float(np.finfo(np.float64).eps) * scale
