r"""Embedding lookup: token ids select rows of a table.

:math:`y_{bt} = E_{\mathrm{ids}_{bt}}` (:func:`torch.nn.functional.embedding`).
Backward: each row of the table collects the output gradients of every
position that looked it up, :math:`\partial E_v = \sum_{bt:\,\mathrm{ids}_{bt}=v} g_{bt}`;
the ids are integers and get no gradient (``None``).
"""

from __future__ import annotations

import numpy as np

from symcheck.errors import InvalidArgument
from symcheck.graph.backend import Backend
from symcheck.graph.kernels.checks import check_ndim

__all__ = ["embedding_backward", "embedding_forward"]

NDArray = np.ndarray


def embedding_forward(xp: Backend, ids: NDArray, table: NDArray) -> tuple[NDArray, tuple]:
    """Rows of ``table`` (V, D) at integer ``ids`` (B, T): (B, T, D)."""
    ids = np.asarray(ids)
    check_ndim("embedding", "ids", ids, at_least=2, exact=True)
    check_ndim("embedding", "table", table, at_least=2, exact=True)
    if ids.dtype.kind not in "iu":
        raise InvalidArgument(
            f"embedding: ids have dtype {ids.dtype}; token ids must be an integer array; "
            "pass ids as np.int64"
        )
    vocab = table.shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        bad = ids[(ids < 0) | (ids >= vocab)].flat[0]
        raise InvalidArgument(
            f"embedding: token id {bad} is outside the table's {vocab} rows; "
            f"use ids in [0, {vocab - 1}] or a larger table"
        )
    return table[ids], (ids, table)


def embedding_backward(xp: Backend, cache: tuple, grad_out: NDArray) -> tuple:
    """``None`` for the ids; the table gradient accumulates repeated ids."""
    ids, table = cache
    d_table = xp.array(np.zeros_like(table))
    np.add.at(d_table, ids.reshape(-1), grad_out.reshape(-1, table.shape[1]))
    return None, d_table
