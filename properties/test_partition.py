"""Properties of tie classes and the coarsest equitable partition (T1, T3)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import assume, example, given, note

from symcheck.confirm.partition_strategies import lumped_params
from symcheck.prove import partition
from symcheck.prove.partition import (
    Partition,
    coarsest_equitable_partition,
    is_equitable,
    tie_classes,
)

_DYADIC = (0.0, 0.5, 1.0, -1.0)


@st.composite
def _small_dyadic_params(draw: st.DrawFn) -> list:
    hidden = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))
    widths = [draw(st.integers(1, 2)), *hidden, draw(st.integers(1, 2))]
    bias = draw(st.booleans())
    values = st.sampled_from(_DYADIC)
    params = []
    for n_in, n_out in itertools.pairwise(widths):
        w = np.array(draw(st.lists(values, min_size=n_in * n_out, max_size=n_in * n_out)))
        b = np.array(draw(st.lists(values, min_size=n_out, max_size=n_out))) if bias else None
        params.append((w.reshape(n_out, n_in), b))
    note(f"widths={widths}, params={params}")
    return params


def small_dyadic_params() -> st.SearchStrategy[list]:
    """Tiny networks whose weights are 0, ±1 and 1/2, so that lumping happens often."""
    return _small_dyadic_params()


def _set_partitions(items: list[int]) -> Iterator[list[list[int]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for sub in _set_partitions(rest):
        yield [[first], *sub]
        for i in range(len(sub)):
            yield [*sub[:i], [first, *sub[i]], *sub[i + 1 :]]


def _labels(blocks: list[list[int]], n: int) -> list[int]:
    out = [0] * n
    for label, block in enumerate(blocks):
        for i in block:
            out[i] = label
    return out


def _refines(finer: Partition, coarser: Partition) -> bool:
    for fine, coarse in zip(finer.layers, coarser.layers, strict=True):
        owner = coarse.labels()
        if any(len({int(owner[i]) for i in block}) > 1 for block in fine.blocks):
            return False
    return True


@given(small_dyadic_params())
@example([(np.array([[1.0], [1.0]]), None), (np.array([[1.0, 0.0], [0.0, 1.0]]), None)])
def test_refinement_finds_the_coarsest_equitable_partition(params: list) -> None:
    found = coarsest_equitable_partition(params)
    assert is_equitable(params, found)
    widths = [w.shape[0] for w, _ in params[:-1]]
    for combo in itertools.product(*(list(_set_partitions(list(range(n)))) for n in widths)):
        candidate = Partition.from_labels([_labels(list(p), n) for p, n in zip(combo, widths)])
        if is_equitable(params, candidate):
            assert _refines(candidate, found), candidate


@given(small_dyadic_params())
def test_tie_classes_are_equitable_and_refine_the_coarsest_partition(params: list) -> None:
    ties = tie_classes(params)
    assert is_equitable(params, ties)
    assert _refines(ties, coarsest_equitable_partition(params))


@given(lumped_params())
def test_planted_equitable_partition_is_found_whatever_the_neuron_order(case: tuple) -> None:
    params, labels = case
    planted = Partition.from_labels(labels)
    assert is_equitable(params, planted)
    assert _refines(planted, coarsest_equitable_partition(params))


@given(lumped_params(), st.floats(0.01, 1.0))
def test_perturbing_one_weight_breaks_a_collapsed_block(case: tuple, delta: float) -> None:
    params, labels = case
    layer = next((k for k, lab in enumerate(labels) if len(set(lab)) < len(lab)), None)
    assume(layer is not None)
    w, b = params[layer]
    target = labels[layer].index(next(x for x in labels[layer] if labels[layer].count(x) > 1))
    w = w.copy()
    w[target, 0] += delta
    params[layer] = (w, b)
    assert not is_equitable(params, Partition.from_labels(labels))


def _brute_force_ties(params: list) -> list[tuple[tuple[int, ...], ...]]:
    """Tie classes by comparing every neuron's (row, bias, column) as Python tuples."""
    out = []
    for layer in range(len(params) - 1):
        (w, b), (w_next, _) = params[layer], params[layer + 1]
        groups: dict[tuple, list[int]] = {}
        for i in range(w.shape[0]):
            bias = () if b is None else (float(b[i]) + 0.0,)
            key = (tuple(w[i] + 0.0), bias, tuple(w_next[:, i] + 0.0))
            groups.setdefault(key, []).append(i)
        out.append(tuple(sorted(tuple(g) for g in groups.values())))
    return out


@given(small_dyadic_params(), st.sampled_from(["zero", "two"]))
def test_ties_stay_exact_when_every_hash_collides(params: list, keys: str) -> None:
    """Forced collisions: all keys equal, or only two key values; classes must stay exact."""

    def _colliding(m: object, *, rows: bool, cols: bool) -> tuple:
        n_out, n_in = m.shape  # type: ignore[attr-defined]
        # A valid hash is a function of the content (equal rows, equal keys); these
        # collide as much as a hash can: every key equal, or two values (the sign of
        # the row's or column's sum), so unequal units share keys.
        a = np.asarray(m.raw, dtype=np.float64)  # type: ignore[attr-defined]
        if keys == "zero":
            row_keys, col_keys = np.zeros(n_out, np.uint64), np.zeros(n_in, np.uint64)
        else:
            row_keys = (a.sum(axis=1) > 0).astype(np.uint64)
            col_keys = (a.sum(axis=0) > 0).astype(np.uint64)
        return (row_keys if rows else None, col_keys if cols else None)

    expected = _brute_force_ties(params)
    equitable = coarsest_equitable_partition(params)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(partition, "_keys", _colliding)
        found = tie_classes(params)
        assert coarsest_equitable_partition(params) == equitable
    assert [layer.blocks for layer in found.layers] == expected
