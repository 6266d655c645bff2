"""Any bytes at all: the loaders return tensors or raise UnsafeFile, nothing else."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, note, settings
from safetensors.numpy import save as save_bytes

from symcheck.audit import weights
from symcheck.audit.weights import Limits, load_weights
from symcheck.errors import UnsafeFile

_LIMITS = Limits(max_file_bytes=1 << 20, max_data_bytes=1 << 20, max_elements=1 << 17)


def _valid_safetensors() -> bytes:
    return save_bytes({"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3)})


def _valid_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, w=np.arange(6.0).reshape(2, 3), b=np.zeros(2))
    return buffer.getvalue()


@st.composite
def _mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    note(f"{len(data)} bytes")
    return bytes(data)


def mutated_files(original: bytes) -> st.SearchStrategy[bytes]:
    """``original`` with a few bytes flipped, inserted or cut off."""
    return _mutated(original)


def _load(suffix: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(content)
        try:
            loaded = load_weights(path, limits=_LIMITS)
        except UnsafeFile:
            return
        assert all(isinstance(t, np.ndarray) for t in loaded.tensors.values())


_SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.one_of(st.binary(max_size=256), mutated_files(_valid_safetensors())))
@example(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b'{"a": {"dtype"}}')
def test_any_safetensors_bytes_load_or_raise_unsafe_file(content: bytes) -> None:
    _load(".safetensors", content)


def _flipped(content: bytes, position: int) -> bytes:
    data = bytearray(content)
    data[position] ^= 0xFF
    return bytes(data)


@_SETTINGS
@given(st.one_of(st.binary(max_size=256), mutated_files(_valid_npz())))
@example(_flipped(_valid_npz(), 55))  # a broken deflate stream: zlib.error leaked once
def test_any_npz_bytes_load_or_raise_unsafe_file(content: bytes) -> None:
    _load(".npz", content)


def test_fuzz_checker_rejects_a_loader_that_leaks_other_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> None:
        raise KeyError("leaked")

    monkeypatch.setattr(weights, "FORMATS", {**weights.FORMATS, ".npz": ("npz", broken)})
    try:
        _load(".npz", _valid_npz())
    except KeyError:
        return
    raise AssertionError("a KeyError from a loader went unnoticed")
