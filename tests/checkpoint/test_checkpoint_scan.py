"""The streamed scan: bit-level magnitudes, shared slice norms, wide spaces through the sketch."""

from __future__ import annotations

import numpy as np
import pytest

from symcheck.checkpoint import audit_checkpoint
from symcheck.checkpoint.dtypes import DTYPES, decode
from symcheck.checkpoint.families import family_for, resolve
from symcheck.checkpoint.scan import _nonzero_bits, scan
from symcheck.checkpoint.store import open_store


def _stream_axis(name, array):
    """The axis of ``array`` that indexes the residual stream (Llama layout)."""
    writer = name.endswith(("o_proj.weight", "down_proj.weight")) or array.ndim == 1
    return 0 if writer else 1


@pytest.mark.parametrize("code", ["F16", "BF16", "F32", "F8_E4M3", "F8_E5M2"])
@pytest.mark.parametrize("axis", [0, 1])
def test_nonzero_units_from_bits_match_the_decoded_values(code, axis):
    dtype = DTYPES[code]
    rng = np.random.default_rng(3)
    bits = rng.integers(0, np.iinfo(dtype.bits).max, size=(40, 33), dtype=dtype.bits)
    bits = np.moveaxis(bits, 0, axis)  # units on ``1 - axis``
    units = np.moveaxis(bits, 1 - axis, 0)
    units[0] = 0
    units[1] = dtype.sign  # -0.0 only
    units[2] = np.where(np.arange(units.shape[1]) % 2, dtype.sign, 0)  # +0.0 and -0.0
    units[3] = units[1]
    units[3, 5] = 1  # the smallest subnormal, among -0.0
    values = decode(bits, dtype, wide=True)
    with np.errstate(invalid="ignore"):
        expect = (values != 0).any(axis=axis)  # NaN counts as nonzero
    got = _nonzero_bits(bits, dtype, axis)
    assert np.array_equal(got, expect)
    assert not got[:3].any() and got[3]


def test_shared_slice_norms_equal_a_full_decode(wide, checkpoint, tensors):
    folder = checkpoint("llama", tensors("llama", config=wide), wide)
    with open_store(folder) as store:
        shapes = {n: r.shape for n, r in store.tensors.items()}
        spaces, _, _ = resolve(family_for("llama"), wide, shapes)
        stream = next(s for s in spaces if s.kind == "stream")
        alone = scan(store, stream)
        norms: dict = {}
        for s in spaces:
            if s.kind != "stream":
                scan(store, s, norms=norms)
        assert norms  # the FFN and attention spaces published slice norms
        shared = scan(store, stream, norms=norms)
    assert stream.width == 96 and alone.gram is None
    np.testing.assert_allclose(shared.bound2, alone.bound2, rtol=1e-6)
    assert np.array_equal(shared.keys, alone.keys)


def test_wide_stream_finds_a_dead_dimension_and_a_near_copy(wide, checkpoint, tensors):
    t = tensors("llama", config=wide)
    rng = np.random.default_rng(9)
    for name, array in t.items():
        view = np.moveaxis(array, _stream_axis(name, array), 0)
        view[10] = 0.0
        view[50] = view[3] * (1 + 1e-3 * rng.standard_normal(view[3].shape).astype(np.float32))
    report = audit_checkpoint(checkpoint("llama", t, wide), jobs=2)
    stream = next(s for s in report.spaces if s.kind == "stream")
    assert stream.dead == (10,) and stream.verdict == "dead"
    assert [(i, j) for i, j, _ in stream.near] == [(3, 50)] and stream.near_complete
    assert 1e-4 < stream.near[0][2] < 1e-2 and not stream.exact
    ffn = next(s for s in report.spaces if s.id == "layer0.ffn")
    assert ffn.width == 80 and ffn.verdict == "full"


def test_a_tie_in_the_wide_stream_is_certified(wide, checkpoint, tensors):
    t = tensors("llama", config=wide)
    for name, array in t.items():
        view = np.moveaxis(array, _stream_axis(name, array), 0)
        view[70] = view[20]
    stream = next(
        s
        for s in audit_checkpoint(checkpoint("llama", t, wide), jobs=1).spaces
        if s.kind == "stream"
    )
    assert stream.classes == ((20, 70),) and stream.certified and stream.permanent
    t["model.layers.1.mlp.up_proj.weight"][5, 70] += 1.0  # one reader differs: no tie
    stream = next(
        s
        for s in audit_checkpoint(checkpoint("llama", t, wide), jobs=1).spaces
        if s.kind == "stream"
    )
    assert stream.classes == () and stream.nearest == (20, 70)


@pytest.mark.parametrize("threshold", [0.001, 0.01, 0.2])
def test_near_duplicate_enumeration_equals_an_exhaustive_search(threshold):
    from symcheck.checkpoint.distance import _RADIUS, _sweep

    rng = np.random.default_rng(int(threshold * 1000))
    y = rng.standard_normal((400, 16))
    y[7] = y[3] + 0.002 * rng.standard_normal(16)
    y[100:110] = y[200] + 0.01 * rng.standard_normal((10, 16))
    norm = rng.uniform(3.0, 5.0, 400)
    found, complete = _sweep(y, norm, threshold)
    brute = {
        (i, j)
        for i in range(400)
        for j in range(i + 1, 400)
        if np.linalg.norm(y[i] - y[j]) <= _RADIUS * threshold * max(norm[i], norm[j])
    }
    assert complete and found == brute and (3, 7) in brute


def _all_float16_codes() -> np.ndarray:
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).reshape(256, 256)


def test_fast_float16_decode_is_numpys_cast_bit_for_bit_on_every_code():
    codes = _all_float16_codes()
    expect = codes.view(np.float16).astype(np.float32)
    flat = codes.ravel()
    finite = (flat[:0x7C00], flat[0x8000:0xFC00], flat[0x7C00:0x7C01], flat[0xFFFF:])
    for bits in (codes, codes[:, ::3], codes.T, *finite):  # strided, transposed, Inf/NaN
        got = decode(bits, DTYPES["F16"])
        assert got.dtype == np.float32 and got.shape == bits.shape
        assert np.array_equal(
            got.view(np.uint32), bits.view(np.float16).astype(np.float32).view(np.uint32)
        )
    assert np.isnan(decode(codes, DTYPES["F16"])).sum() == np.isnan(expect).sum() == 2046


def test_float16_decode_finds_each_inf_or_nan_code_alone_among_finite_values():
    # The Inf/NaN check runs on the 16-bit patterns: one special code anywhere,
    # of either sign, must be decoded as NumPy's cast decodes it.
    flat = _all_float16_codes().ravel()
    specials = flat[(flat & 0x7C00) == 0x7C00]
    assert specials.size == 2048
    bits = np.array([0x3C00, 0xFBFF, 0x7BFF, 0x8000], dtype=np.uint16)  # finite extremes
    for code in specials:
        for k in range(bits.size):
            probe = bits.copy()
            probe[k] = code
            got = decode(probe, DTYPES["F16"]).view(np.uint32)
            assert np.array_equal(got, probe.view(np.float16).astype(np.float32).view(np.uint32))


def test_float16_decode_falls_back_when_subnormals_are_flushed(monkeypatch):
    from symcheck.checkpoint import dtypes

    placed = dtypes._f16_placed

    def flushing(bits):  # what a denormals-are-zero mode would do to the placement
        out, special = placed(bits)
        out[(bits.view(np.uint16) & 0x7C00) == 0] = 0.0
        return out, special

    monkeypatch.setattr(dtypes, "_f16_placed", flushing)
    codes = _all_float16_codes()
    got = decode(codes, DTYPES["F16"])
    assert np.array_equal(
        got.view(np.uint32), codes.view(np.float16).astype(np.float32).view(np.uint32)
    )
