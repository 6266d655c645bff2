"""Stored dtypes: exact decoding and canonical bit patterns, against independent oracles.

Ties are decided on canonical bit patterns (``-0.0`` is ``+0.0``, every NaN one
NaN, nothing else merged) and distances on decoded values, so both are checked
on every code of the 8- and 16-bit formats and on the boundary patterns of the
wider ones, against NumPy's casts and PyTorch's float8 and bfloat16 types.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from symcheck.checkpoint import dtypes
from symcheck.checkpoint.dtypes import DTYPES, canonical_bits, decode

torch = pytest.importorskip("torch")

ALL16 = np.arange(1 << 16, dtype=np.uint16)
ALL8 = np.arange(256, dtype=np.uint8)


def _torch_values(bits: np.ndarray, dtype: object) -> np.ndarray:
    raw = torch.from_numpy(bits.view(np.int16 if bits.itemsize == 2 else np.uint8).copy())
    return raw.view(dtype).float().numpy()


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values, NaN where NaN, and the sign of every zero and infinity."""
    finite = ~np.isnan(a)
    return (
        np.array_equal(np.isnan(a), np.isnan(b))
        and np.array_equal(a[finite], b[finite])
        and np.array_equal(np.signbit(a[finite]), np.signbit(b[finite]))
    )


@pytest.mark.parametrize(
    ("code", "oracle"), [("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2")]
)
def test_fp8_decoding_matches_torch_on_every_code(code, oracle):
    ours = decode(ALL8, DTYPES[code])
    assert ours.dtype == np.float32
    assert _same(ours, _torch_values(ALL8, getattr(torch, oracle)))


@pytest.mark.parametrize(
    ("code", "pattern", "value"),
    [
        ("F8_E4M3", 0x38, 1.0),
        ("F8_E4M3", 0x7E, 448.0),  # the largest: no infinities in E4M3FN
        ("F8_E4M3", 0x01, 2.0**-9),  # the smallest subnormal
        ("F8_E4M3", 0x80, -0.0),
        ("F8_E4M3", 0xFE, -448.0),
        ("F8_E5M2", 0x3C, 1.0),
        ("F8_E5M2", 0x7B, 57344.0),
        ("F8_E5M2", 0x01, 2.0**-16),
        ("F8_E5M2", 0x7C, np.inf),
        ("F8_E5M2", 0xFC, -np.inf),
    ],
)
def test_fp8_known_values(code, pattern, value):
    got = decode(np.array([pattern], dtype=np.uint8), DTYPES[code])[0]
    assert got == value and np.signbit(got) == np.signbit(value)


@pytest.mark.parametrize(("code", "nan"), [("F8_E4M3", [0x7F, 0xFF]), ("F8_E5M2", [0x7D, 0xFF])])
def test_fp8_nan_codes(code, nan):
    values = decode(ALL8, DTYPES[code])
    assert np.flatnonzero(np.isnan(values)).tolist()[:1] == nan[:1]
    assert all(np.isnan(values[c]) for c in nan)


def test_bfloat16_decoding_matches_torch_on_every_code():
    assert _same(decode(ALL16, DTYPES["BF16"]), _torch_values(ALL16, torch.bfloat16))


def test_float16_placement_is_exact_on_every_finite_code_and_flags_the_rest():
    finite = ALL16[(ALL16 & 0x7C00) != 0x7C00]
    placed, special = dtypes._f16_placed(finite)
    assert not special
    assert np.array_equal(
        placed.view(np.uint32), finite.view("<f2").astype(np.float32).view(np.uint32)
    )
    assert dtypes._f16_placed(ALL16)[1]


@pytest.mark.parametrize(
    ("patterns", "special"),
    [
        ([0x7BFF], False),  # 65504, the largest finite
        ([0x7C00], True),  # +Inf
        ([0xFBFF], False),  # -65504
        ([0xFC00], True),  # -Inf
        ([0x7FFF], True),
        ([0xFFFF], True),
        ([0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x0001], False),
        ([], False),
    ],
)
def test_float16_special_flag_at_its_boundaries(patterns, special):
    assert dtypes._f16_placed(np.array(patterns, dtype=np.uint16))[1] is special


def test_the_fast_float16_path_is_the_one_used_here(monkeypatch):
    # The placement checks itself on the smallest subnormal and falls back to
    # NumPy's cast when that fails: a broken placement would go unnoticed in the
    # values, so check it is the path taken (a self-check, then the data).
    if np.float32(2.0**-24) * np.float32(1.0) == 0:  # pragma: no cover - DAZ/FTZ set
        pytest.skip("subnormals are flushed in this thread: the fallback is the right path")
    real, calls = dtypes._f16_placed, []

    def spy(bits):
        calls.append(bits.size)
        return real(bits)

    monkeypatch.setattr(dtypes, "_f16_placed", spy)
    values = decode(ALL16, DTYPES["F16"])
    assert calls == [1, ALL16.size]
    assert _same(values, ALL16.view("<f2").astype(np.float32))


def _patterns(dt) -> list[int]:
    sign, nan = dt.sign, dt.nan_above
    top = sign - 1  # every bit but the sign
    one = {"F64": 0x3FF0_0000_0000_0000, "F32": 0x3F80_0000, "F16": 0x3C00, "BF16": 0x3F80}
    return [
        0,
        sign,
        nan,
        nan + 1,
        top,
        sign | nan,
        sign | (nan + 1),
        sign | top,
        one.get(dt.name, 1),
    ]


def _oracle(name: str, bits: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # signalling NaN payloads
        if name in ("F64", "F32", "F16"):
            return bits.view({"F64": "<f8", "F32": "<f4", "F16": "<f2"}[name]).astype(np.float64)
        kind = {
            "BF16": torch.bfloat16,
            "F8_E4M3": torch.float8_e4m3fn,
            "F8_E5M2": torch.float8_e5m2,
        }
        return _torch_values(bits, kind[name]).astype(np.float64)


@pytest.mark.parametrize("name", [n for n, d in DTYPES.items() if d.floating])
def test_canonical_bits_merge_zeros_and_nans_only(name):
    dt = DTYPES[name]
    bits = np.array(_patterns(dt), dtype=dt.bits)
    values = _oracle(name, bits)
    canonical = canonical_bits(bits, dt)
    expected = np.where(np.isnan(values), dt.nan_above + 1, np.where(values == 0, 0, bits))
    assert np.array_equal(canonical, expected.astype(dt.bits))
    assert np.isnan(_oracle(name, np.array([dt.nan_above + 1], dtype=dt.bits)))[0]
    # two patterns are merged exactly when they are the same value (NaN = NaN, -0 = +0)
    for i in range(len(bits)):
        for j in range(len(bits)):
            same = (values[i] == values[j]) or (np.isnan(values[i]) and np.isnan(values[j]))
            assert (canonical[i] == canonical[j]) == same, (name, hex(bits[i]), hex(bits[j]))


def test_canonical_bits_without_a_change_is_the_input_itself():
    bits = np.array([0x3C00, 0x0001, 0x7BFF], dtype=np.uint16)
    assert canonical_bits(bits, DTYPES["F16"]) is bits


@pytest.mark.parametrize("name", [n for n, d in DTYPES.items() if not d.floating])
def test_integers_are_never_canonicalised(name):
    dt = DTYPES[name]
    info = np.iinfo(dt.bits)
    bits = np.array([0, 1, info.max, info.max - 1, 1 << (info.bits - 1)], dtype=dt.bits)
    assert canonical_bits(bits, dt) is bits


def test_decode_keeps_float64_and_widens_on_request():
    values = np.array([1 / 3, -0.0, 2.0**-1074, np.inf], dtype=np.float64)
    out = decode(values.view(np.uint64), DTYPES["F64"])
    assert out.dtype == np.float64 and _same(out, values)
    small = np.array([1 / 3, -2.5], dtype=np.float32)
    assert decode(small.view(np.uint32), DTYPES["F32"]).dtype == np.float32
    wide = decode(small.view(np.uint32), DTYPES["F32"], wide=True)
    assert wide.dtype == np.float64 and np.array_equal(wide, small.astype(np.float64))
    half = decode(ALL16[:100], DTYPES["F16"], wide=True)
    assert half.dtype == np.float64


def test_stored_dtypes_cannot_be_changed():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DTYPES["F16"].nan_above = 0x7C01  # type: ignore[misc]
    with pytest.raises(TypeError):
        DTYPES["F16"] = DTYPES["F32"]  # type: ignore[index]
