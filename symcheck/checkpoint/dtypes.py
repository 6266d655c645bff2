"""Stored dtypes of checkpoint tensors: their bit patterns and exact decoding.

Every dtype a checkpoint may hold is one entry of :data:`DTYPES` with the
same fields: the unsigned integer type of its bit pattern, the sign bit, how
a NaN is recognised, and an exact decoder to float32/float64. Rows are
hashed and compared on the canonical bit pattern (``-0.0`` -> ``+0.0``, every
NaN -> one NaN), exactly as :mod:`symcheck.prove.partition` does; values are only
decoded (one window at a time) where distances are measured.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

__all__ = ["DTYPES", "StoredDtype", "canonical_bits", "decode"]

NDArray = np.ndarray


def _fp8_table(exponent_bits: int, mantissa_bits: int, *, fn: bool) -> NDArray:
    """Values of all 256 fp8 codes (OCP formats E4M3FN and E5M2), float32.

    E5M2 follows IEEE 754 (bias 15, all-ones exponent = Inf/NaN); E4M3FN has
    bias 7, no infinities and only ``S.1111.111`` as NaN.
    """
    bias = (1 << (exponent_bits - 1)) - 1
    out = np.empty(256, dtype=np.float32)
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        e = (code >> mantissa_bits) & ((1 << exponent_bits) - 1)
        m = code & ((1 << mantissa_bits) - 1)
        top = (1 << exponent_bits) - 1
        if fn and e == top and m == (1 << mantissa_bits) - 1:
            value = float("nan")
        elif not fn and e == top:
            value = sign * float("inf") if m == 0 else float("nan")
        elif e == 0:
            value = sign * m * 2.0 ** (1 - bias - mantissa_bits)
        else:
            value = sign * (1 + m / (1 << mantissa_bits)) * 2.0 ** (e - bias)
        out[code] = value
    return out


_E4M3 = _fp8_table(4, 3, fn=True)
_E5M2 = _fp8_table(5, 2, fn=False)


def _bf16(bits: NDArray) -> NDArray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


#: 2^112: rescales a float16 pattern placed in float32's bits (exponent bias 15 -> 127).
_F16_RESCALE = np.float32(2.0**112)
#: Keeps the sign (bit 31), exponent and mantissa (bits 13-27) of ``int16 << 13``.
_F16_FIELDS = np.uint32(0x8FFF_E000).view(np.int32)
#: Magnitude bits of 65504, the largest finite float16: larger ones are
#: infinities and NaNs.
_F16_LARGEST_FINITE = 0x7BFF


def _f16_placed(bits: NDArray) -> tuple[NDArray, bool]:
    """``x`` as float32 for every finite float16 pattern, in four passes; any Inf/NaN?

    The pattern, sign-extended and shifted left by 13, has the float16 sign
    in bit 31 and its exponent and mantissa in bits 13-27; as a float32 that
    is ``x * 2^-112`` exactly, normal or subnormal alike (IEEE 754), and the
    product by ``2^112`` is exact. Inf and NaN patterns (magnitude bits above
    ``0x7BFF``) are flagged on the 16-bit patterns themselves, by two integer
    maxima: positive ones as int16 (above ``0x7BFF``), negative ones as uint16
    (above ``0xFBFF``).
    """
    special = bits.size > 0 and (
        int(bits.view(np.int16).max()) > _F16_LARGEST_FINITE
        or int(bits.max()) > (1 << 15) + _F16_LARGEST_FINITE
    )
    placed = bits.view(np.int16).astype(np.int32)
    np.left_shift(placed, 13, out=placed)
    np.bitwise_and(placed, _F16_FIELDS, out=placed)
    out = placed.view(np.float32)
    np.multiply(out, _F16_RESCALE, out=out)  # exact: a power of two
    return out, special


def _f16_to_f32(bits: NDArray) -> NDArray:
    """float16 bits -> float32 values, exactly, in vectorised passes (NumPy casts per element).

    Infinities and NaNs (which the placement maps to magnitudes of 2^16 and
    more) are redone with NumPy's cast. If subnormal inputs are flushed to
    zero in this thread (a DAZ mode set by some native library), the
    placement would be wrong, so NumPy's cast is used instead.
    """
    if _f16_placed(_SUBNORMAL)[0][0] != np.float32(2.0**-24):
        return bits.view("<f2").astype(np.float32)
    out, special = _f16_placed(bits)
    if special:
        redo = (bits & np.uint16(0x7C00)) == np.uint16(0x7C00)
        out[redo] = bits[redo].view("<f2").astype(np.float32)
    return out


_SUBNORMAL = np.array([1], dtype=np.uint16)  # the smallest float16 subnormal, 2^-24


@dataclass(frozen=True)
class StoredDtype:
    """One stored dtype: the integer type of its bits and how to read them."""

    name: str
    bits: type
    #: Sign-bit mask for floats (``-0.0`` has exactly this pattern), 0 otherwise.
    sign: int
    #: A pattern ``p`` with ``p & ~sign > nan_above`` is a NaN (-1: no NaN).
    nan_above: int
    decode: Callable[[NDArray], NDArray]
    floating: bool = True
    #: An exact decoder straight to float32 when faster than ``decode`` and a cast.
    to_float32: Callable[[NDArray], NDArray] | None = None

    @property
    def itemsize(self) -> int:
        return np.dtype(self.bits).itemsize


def _as(dtype: str) -> Callable[[NDArray], NDArray]:
    return lambda bits: bits.view(dtype)


DTYPES: Mapping[str, StoredDtype] = MappingProxyType(
    {
        "F64": StoredDtype("F64", np.uint64, 1 << 63, 0x7FF0_0000_0000_0000, _as("<f8")),
        "F32": StoredDtype("F32", np.uint32, 1 << 31, 0x7F80_0000, _as("<f4")),
        "F16": StoredDtype("F16", np.uint16, 1 << 15, 0x7C00, _as("<f2"), to_float32=_f16_to_f32),
        "BF16": StoredDtype("BF16", np.uint16, 1 << 15, 0x7F80, _bf16),
        "F8_E4M3": StoredDtype("F8_E4M3", np.uint8, 1 << 7, 0x7E, lambda b: _E4M3[b]),
        "F8_E5M2": StoredDtype("F8_E5M2", np.uint8, 1 << 7, 0x7C, lambda b: _E5M2[b]),
        "I64": StoredDtype("I64", np.uint64, 0, -1, _as("<i8"), floating=False),
        "I32": StoredDtype("I32", np.uint32, 0, -1, _as("<i4"), floating=False),
        "I16": StoredDtype("I16", np.uint16, 0, -1, _as("<i2"), floating=False),
        "I8": StoredDtype("I8", np.uint8, 0, -1, _as("i1"), floating=False),
        "U8": StoredDtype("U8", np.uint8, 0, -1, _as("u1"), floating=False),
        "BOOL": StoredDtype("BOOL", np.uint8, 0, -1, _as("u1"), floating=False),
    }
)

#: NumPy dtypes of in-memory tensors (``.pt``/``.npz`` loads) -> stored dtype names.
NUMPY_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "float64": "F64",
        "float32": "F32",
        "float16": "F16",
        "int64": "I64",
        "int32": "I32",
        "int16": "I16",
        "int8": "I8",
        "uint8": "U8",
        "bool": "BOOL",
    }
)


def canonical_bits(bits: NDArray, dtype: StoredDtype) -> NDArray:
    """Bits with ``-0.0`` -> ``+0.0`` and every NaN -> the positive NaN of smallest payload.

    Returns ``bits`` itself when nothing needs changing (no copy).
    """
    if not dtype.floating:
        return bits
    sign = dtype.bits(dtype.sign)
    magnitude = bits & dtype.bits(dtype.sign - 1)
    nan = magnitude > dtype.bits(dtype.nan_above)
    negative_zero = bits == sign
    if not (nan.any() or negative_zero.any()):
        return bits
    out = np.where(negative_zero, dtype.bits(0), bits)
    out[nan] = dtype.bits(dtype.nan_above + 1)
    return out


def decode(bits: NDArray, dtype: StoredDtype, *, wide: bool = False) -> NDArray:
    """Exact values of ``bits`` as float32 (float64 when ``wide`` or stored as F64)."""
    if not wide and dtype.to_float32 is not None:
        return dtype.to_float32(bits)
    values = dtype.decode(bits)
    target = np.float64 if (wide or values.dtype == np.float64) else np.float32
    with np.errstate(invalid="ignore"):  # NaN payloads: flagged by the caller, not here
        return values.astype(target, copy=False)
