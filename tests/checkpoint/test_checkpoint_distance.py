"""Nearest pairs and near duplicates against a brute force, including rounding traps.

``distances`` claims an exact nearest pair for spaces of at most 64 units
(through the Gram matrix, with a rounding bound deciding which pairs are
measured again) and a complete near-duplicate list for wider ones (through
the sign sketch); both are compared here with every pair's distance
computed directly in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from safetensors.numpy import save_file

from symcheck.checkpoint import distance
from symcheck.checkpoint.distance import MAX_MEASURED, MISS_BOUND, _cell_pairs, _sweep, distances
from symcheck.checkpoint.families import Member, Space
from symcheck.checkpoint.scan import scan
from symcheck.checkpoint.store import open_store


def _audit_rows(tmp_path, values: np.ndarray, threshold: float):
    path = tmp_path / "rows.safetensors"
    save_file({"w": values}, str(path))
    member = Member(("w",), 0, 0, 1, 1, "in", tiled=True)
    space = Space("rows", "neuron", "rows", values.shape[0], (member,))
    with open_store([path]) as store:
        return distances(store, space, scan(store, space), threshold=threshold)


def _brute(values: np.ndarray) -> dict[tuple[int, int], float]:
    v = values.astype(np.float64)
    norm = np.linalg.norm(v, axis=1)
    out = {}
    for i in range(len(v)):
        for j in range(i + 1, len(v)):
            den = max(norm[i], norm[j])
            out[(i, j)] = float(np.linalg.norm(v[i] - v[j]) / den) if den > 0 else 0.0
    return out


def _check_exact(found, brute, threshold):
    best = min(brute.values())
    assert found.exact and found.complete
    assert found.nearest in [p for p, d in brute.items() if d == best]
    assert found.distance == pytest.approx(best, rel=1e-9)
    want = sorted((p for p, d in brute.items() if 0 < d <= threshold), key=lambda p: brute[p])
    assert [(i, j) for i, j, _ in found.near] == want
    for i, j, d in found.near:
        assert d == pytest.approx(brute[(i, j)], rel=1e-9)


@pytest.mark.parametrize(("dtype", "scale"), [(np.float64, 1e-5), (np.float32, 1e-2)])
def test_exact_nearest_pair_when_the_gram_matrix_cancels(tmp_path, dtype, scale):
    # Ten units = one large common vector + small distinct parts. In float64 with
    # parts 1e-8 of the whole, G_ii + G_jj - 2 G_ij has no correct digit left, so
    # the rounding bound must send every pair to be measured directly.
    rng = np.random.default_rng(4)
    common = 1e3 * rng.standard_normal(500)
    values = (common + scale * rng.standard_normal((10, 500))).astype(dtype)
    values[6] = values[2] + (scale / 100 * rng.standard_normal(500)).astype(dtype)
    brute = _brute(values)
    for threshold in (1e-2, 1e-12):  # every pair a near duplicate, or none
        _check_exact(_audit_rows(tmp_path, values, threshold), brute, threshold)


def test_exact_distances_trusted_from_the_gram_matrix_are_right(tmp_path):
    # Well separated units: the Gram values are used as they are (their rounding
    # bound is tiny), so they must be the distances.
    rng = np.random.default_rng(5)
    values = rng.standard_normal((12, 300)).astype(np.float32)
    values[9] = values[4] * np.float32(1.5)  # relative distance 1/3 exactly
    brute = _brute(values)
    found = _audit_rows(tmp_path, values, 0.5)
    _check_exact(found, brute, 0.5)
    assert found.distance == pytest.approx(1 / 3, rel=1e-7)


def test_measured_distances_are_float64_sums(tmp_path):
    # 80 near copies (the sketch path: every candidate is measured directly). In
    # float64 the distances agree with a float64 brute force to 1e-12; float32
    # sums would be off by about 1e-7.
    rng = np.random.default_rng(6)
    base = rng.standard_normal(2000).astype(np.float32)
    noise = np.float32(1e-3) * rng.standard_normal((80, 2000)).astype(np.float32)
    values = base + noise
    brute = _brute(values)
    found = _audit_rows(tmp_path, values, 0.1)
    assert len(found.near) == 80 * 79 // 2 and not found.exact
    for i, j, d in found.near:
        assert abs(d - brute[(i, j)]) <= 1e-12 * brute[(i, j)]


def test_sketch_path_finds_every_near_duplicate_and_a_true_nearest(tmp_path):
    rng = np.random.default_rng(7)
    values = rng.standard_normal((100, 256)).astype(np.float32)
    values[7] = values[3] + np.float32(1e-4) * rng.standard_normal(256).astype(np.float32)
    values[50:58] = values[20] + np.float32(3e-3) * rng.standard_normal((8, 256)).astype(np.float32)
    brute = _brute(values)
    found = _audit_rows(tmp_path, values, 1e-2)
    want = {p for p, d in brute.items() if 0 < d <= 1e-2}
    assert len(want) >= 37 and {(i, j) for i, j, _ in found.near} == want
    assert not found.exact and found.complete
    assert found.nearest == (3, 7) and found.distance == pytest.approx(brute[(3, 7)], rel=1e-9)


def test_too_many_near_duplicates_is_not_complete(tmp_path):
    # 100 near copies of one unit: 4950 pairs within the threshold, more than are measured.
    rng = np.random.default_rng(8)
    base = rng.standard_normal(128).astype(np.float32)
    values = base + np.float32(1e-4) * rng.standard_normal((100, 128)).astype(np.float32)
    found = _audit_rows(tmp_path, values, 1e-2)
    assert 100 * 99 // 2 > MAX_MEASURED
    assert not found.complete and len(found.near) <= MAX_MEASURED


def _brute_cells(cells: np.ndarray) -> set[tuple[int, int]]:
    n = len(cells)
    return {
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if abs(cells[i, 0] - cells[j, 0]) <= 1 and abs(cells[i, 1] - cells[j, 1]) <= 1
    }


@pytest.mark.parametrize(("rows", "cols"), [(3, 60), (60, 3), (20, 20), (1, 1), (0, 200)])
def test_cell_pairs_are_every_adjacent_pair_once(rows, cols):
    rng = np.random.default_rng(rows * 100 + cols)
    cells = np.stack([rng.integers(-rows, rows + 1, 150), rng.integers(-cols, cols + 1, 150)], 1)
    i, j, complete = _cell_pairs(cells, 10**7)
    pairs = [tuple(sorted(p)) for p in zip(i.tolist(), j.tolist())]
    assert complete and len(pairs) == len(set(pairs)) and set(pairs) == _brute_cells(cells)


def test_cell_pairs_stop_at_the_limit_and_say_so():
    rng = np.random.default_rng(9)
    cells = rng.integers(0, 6, (120, 2))
    brute = _brute_cells(cells)
    i, j, complete = _cell_pairs(cells, len(brute))
    assert complete and len(i) == len(brute)
    i, j, complete = _cell_pairs(cells, len(brute) - 1)
    got = {tuple(sorted(p)) for p in zip(i.tolist(), j.tolist())}
    assert not complete and len(i) <= len(brute) - 1 and got <= brute
    i, j, complete = _cell_pairs(cells, 0)
    assert not complete and i.size == 0 and j.size == 0


def test_a_space_of_zero_units_has_nothing_to_sweep():
    assert _sweep(np.zeros((5, 16)), np.zeros(5), 0.01) == (set(), True)


def test_the_stated_miss_bound_and_the_sweep_radius_agree():
    # docs/checkpoint.md states 7e-21 for c = 9; the radius is sqrt(c) with 1% slack.
    assert math.isclose(MISS_BOUND, 7e-21, rel_tol=0.05)
    assert distance._RADIUS == math.sqrt(distance._C) * 1.01


def test_two_zero_units_are_at_distance_zero(tmp_path):
    rng = np.random.default_rng(10)
    values = rng.standard_normal((6, 40)).astype(np.float32)
    values[1] = values[4] = 0
    found = _audit_rows(tmp_path, values, 1e-2)
    assert found.nearest == (1, 4) and found.distance == 0.0 and found.exact


def test_a_pair_exactly_at_the_threshold_is_a_near_duplicate(tmp_path):
    values = np.zeros((5, 8), dtype=np.float32)
    values[np.arange(5), np.arange(5)] = [1, 3, 5, 7, 9]
    values[2] = 2 * values[0]  # ||v - 2v|| / ||2v|| = 1/2, exactly in binary
    found = _audit_rows(tmp_path, values, 0.5)
    assert (0, 2, 0.5) in found.near


@pytest.mark.parametrize("width", [2, 5, 80])
def test_nan_or_inf_gives_no_distance_and_no_claim(tmp_path, width):
    rng = np.random.default_rng(width)
    values = rng.standard_normal((width, 16)).astype(np.float32)
    values[1, 3] = np.nan if width != 5 else np.inf
    found = _audit_rows(tmp_path, values, 1e-2)
    assert (found.nearest, found.distance, found.exact, found.complete) == (
        None,
        None,
        False,
        False,
    )


def test_one_unit_has_no_pair_and_nothing_missing(tmp_path):
    found = _audit_rows(tmp_path, np.ones((1, 4), dtype=np.float32), 1e-2)
    assert (found.nearest, found.distance, found.exact, found.complete) == (None, None, True, True)


def test_a_wide_space_without_a_threshold_misses_no_near_duplicate(tmp_path):
    values = np.random.default_rng(12).standard_normal((90, 32)).astype(np.float32)
    found = _audit_rows(tmp_path, values, 0.0)
    assert found.complete and found.near == () and found.nearest is not None


def test_the_sweep_checks_every_candidate_beyond_its_first_chunk():
    # 800 units within the radius of each other: 319,600 candidate pairs, more than
    # one chunk of the final test (2^18); every one of them is a near duplicate.
    rng = np.random.default_rng(13)
    y = 1e-3 * rng.standard_normal((800, 16))
    found, complete = _sweep(y, np.full(800, 10.0), 0.01)
    assert complete and len(found) == 800 * 799 // 2 > 1 << 18


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_exact_nearest_pair_of_random_units_at_any_scale(tmp_path, scale):
    # No planted pair: the nearest is whichever random pair it is, its distance read
    # from the Gram matrix; small norms (below 1) must be handled like any others.
    rng = np.random.default_rng(int(scale * 1000) + 14)
    values = (scale * rng.standard_normal((30, 20))).astype(np.float32)
    brute = _brute(values)
    _check_exact(_audit_rows(tmp_path, values, 0.6), brute, 0.6)


@pytest.mark.parametrize("seed", range(3))
def test_the_sketch_ranking_finds_a_planted_near_pair_without_the_sweep(tmp_path, seed):
    # threshold 0: no near-duplicate sweep, only the ranked sketch neighbours; a pair at
    # relative distance 1e-3 among random units is still the nearest found.
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((90, 64)).astype(np.float32)
    values[7] = values[3] + np.float32(1e-3) * rng.standard_normal(64).astype(np.float32)
    values[40] *= np.float32(50.0)  # norms differ: the ranking is by relative distance
    found = _audit_rows(tmp_path, values, 0.0)
    assert found.nearest == (3, 7) and found.distance < 1e-2
