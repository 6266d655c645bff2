"""Parts of the streamed scan checked on their own: published slice norms, the exact
Gram path's size limit and column windows, zero units with a bias, the sketch signs."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from symcheck.checkpoint.distance import distances
from symcheck.checkpoint.families import Member, Space
from symcheck.checkpoint.scan import EXACT_LIMIT, SKETCH_DIM, _make_signs, scan, scan_member
from symcheck.checkpoint.store import open_store


def _store(tmp_path, **tensors):
    path = tmp_path / "t.safetensors"
    save_file(tensors, str(path))
    return open_store([path])


@pytest.mark.parametrize(("axis", "block"), [(0, 1), (0, 3), (1, 1)])
def test_published_slice_norms_are_the_rows_and_columns_squared_norms(tmp_path, axis, block):
    # 70 units (the sketch path decodes and publishes): both axes' squared norms.
    rng = np.random.default_rng(axis * 10 + block)
    shape = (70 * block, 50) if axis == 0 else (50, 70)
    t = rng.standard_normal(shape).astype(np.float32)
    member = Member(("t",), axis, 0, block, block, "in", tiled=True)
    space = Space("s", "neuron", "s", 70, (member,))
    with _store(tmp_path, t=t) as store:
        published = scan_member(store, space, 0, known=None).published
    t64 = t.astype(np.float64)
    assert np.allclose(published[("t", 0)], (t64 * t64).sum(axis=1), rtol=1e-6)
    assert np.allclose(published[("t", 1)], (t64 * t64).sum(axis=0), rtol=1e-6)


@pytest.mark.parametrize(("width", "exact"), [(64, True), (65, False)])
def test_spaces_up_to_the_exact_limit_get_the_gram_matrix(tmp_path, width, exact):
    # docs/checkpoint.md: every pair is examined exactly for at most 64 units.
    assert EXACT_LIMIT == 64
    t = np.random.default_rng(width).standard_normal((width, 8)).astype(np.float32)
    space = Space("s", "neuron", "s", width, (Member(("t",), 0, 0, 1, 1, "in", tiled=True),))
    with _store(tmp_path, t=t) as store:
        s = scan(store, space)
        assert (s.gram is not None) is exact
        assert distances(store, space, s, threshold=0.01).exact is exact


@pytest.mark.parametrize("axis", [0, 1])
def test_exact_distances_of_blocks_without_a_publisher(tmp_path, axis):
    # Heads as blocks of 3 rows (or columns) from 2 on (not tiled: nothing published,
    # the Gram matrix is summed block by block from the bits); the positions run past
    # one block of the Gram sum, and the tie holds in the first 15000 of 20000 only.
    rng = np.random.default_rng(21 + axis)
    o = rng.standard_normal((20000, 20)).astype(np.float32)
    o[:15000, 11:14] = o[:15000, 5:8] * np.float32(2.0)  # head 3 ~ 2 x head 1
    t = o if axis == 1 else np.ascontiguousarray(o.T)
    space = Space("heads", "head", "heads", 6, (Member(("t",), axis, 2, 3, 3, "out"),))
    with _store(tmp_path, t=t) as store:
        found = distances(store, space, scan(store, space), threshold=0.6)
    v = np.stack([o[:, 2 + 3 * u : 5 + 3 * u].astype(np.float64).T.ravel() for u in range(6)])
    norm = np.linalg.norm(v, axis=1)
    brute = {
        (i, j): np.linalg.norm(v[i] - v[j]) / max(norm[i], norm[j])
        for i in range(6)
        for j in range(i + 1, 6)
    }
    assert found.exact and found.nearest == min(brute, key=brute.get) == (1, 3)
    assert found.distance == pytest.approx(brute[(1, 3)], rel=1e-9)
    assert 0.5 < found.distance < 0.9


def test_a_unit_with_zero_weights_but_a_bias_is_not_dead(tmp_path):
    rng = np.random.default_rng(22)
    w = rng.standard_normal((6, 5)).astype(np.float32)
    b = np.zeros(6, dtype=np.float32)
    w[2], b[2] = 0, 0.5  # zero weights, a bias: it still computes something
    w[4] = 0  # zero weights and zero bias: dead
    members = (
        Member(("w",), 0, 0, 1, 1, "in", tiled=True),
        Member(("b",), 0, 0, 1, 1, "in", tiled=True),
    )
    with _store(tmp_path, w=w, b=b) as store:
        s = scan(store, Space("s", "neuron", "s", 6, members))
    assert np.flatnonzero(s.zero_in).tolist() == [4]


def test_sketch_signs_are_balanced_plus_minus_a_quarter():
    signs = _make_signs(1, 0, 4096)
    assert signs.shape == (4096, SKETCH_DIM)
    assert set(np.unique(signs).tolist()) == {-0.25, 0.25}
    assert np.abs(signs.mean(axis=0)).max() < 0.02  # every column about half each sign
    assert len({signs[:, c].tobytes() for c in range(SKETCH_DIM)}) == SKETCH_DIM
