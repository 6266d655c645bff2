r"""Public Hypothesis strategies for lumped networks (planted equitable partitions).

:func:`lumped_params` draws parameters built to satisfy the block-sum
constraints of T3 for a drawn partition, then shuffles the neurons inside
every hidden layer, so the partition is known but not visible in the order::

    from hypothesis import given
    from symcheck.prove.partition import Partition, is_equitable
    from symcheck.confirm.partition_strategies import lumped_params

    @given(lumped_params())
    def test_planted_partition_is_equitable(case):
        params, labels = case
        assert is_equitable(params, Partition.from_labels(labels))
"""

from __future__ import annotations

import itertools

import hypothesis.strategies as st
import numpy as np
from hypothesis import note

__all__ = ["lumped_params"]

Params = list[tuple[np.ndarray, np.ndarray]]


@st.composite
def _lumped(
    draw: st.DrawFn, max_hidden: int, max_block: int, max_blocks: int
) -> tuple[Params, list[list[int]]]:
    n_hidden = draw(st.integers(1, max_hidden))
    sizes = [[1] * draw(st.integers(1, 3))]
    sizes += [
        draw(st.lists(st.integers(1, max_block), min_size=1, max_size=max_blocks))
        for _ in range(n_hidden)
    ]
    sizes.append([1] * draw(st.integers(1, 2)))
    floats = st.floats(-2, 2, allow_nan=False, allow_subnormal=False)
    params: Params = []
    for below, above in itertools.pairwise(sizes):
        rows = []
        for p in above:
            cols = []
            for q in below:
                g = int(np.gcd(p, q))
                f = draw(st.lists(floats, min_size=g, max_size=g))
                cols.append(np.array([[f[(i - k) % g] for k in range(q)] for i in range(p)]))
            rows.append(np.concatenate(cols, axis=1))
        bias = np.repeat(draw(st.lists(floats, min_size=len(above), max_size=len(above))), above)
        params.append((np.concatenate(rows, axis=0), bias))
    labels = []
    for layer, s in enumerate(sizes[1:-1]):
        perm = np.array(draw(st.permutations(range(sum(s)))))
        w, b = params[layer]
        params[layer] = (w[perm], b[perm])
        w_next, b_next = params[layer + 1]
        params[layer + 1] = (w_next[:, perm], b_next)
        labels.append(np.repeat(np.arange(len(s)), s)[perm].tolist())
    note(f"block sizes={sizes}, planted labels={labels}")
    return params, labels


def lumped_params(
    *, max_hidden: int = 2, max_block: int = 4, max_blocks: int = 3
) -> st.SearchStrategy[tuple[Params, list[list[int]]]]:
    r"""``(params, labels)``: a network lumped by a planted partition, neurons shuffled.

    On a block pair of sizes :math:`p \times q` the weights are the circulant
    pattern :math:`W_{ik} = f_{(i-k) \bmod g}` with :math:`g = \gcd(p, q)`
    and drawn :math:`f`: constant row sums and column sums, and rows that are
    permutations of each other (so only order-independent sums see them as
    equal). Biases are constant on blocks. ``labels`` has one list per hidden
    layer giving every neuron's planted block.
    """
    return _lumped(max_hidden, max_block, max_blocks)
