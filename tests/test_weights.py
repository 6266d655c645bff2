"""Safe loaders read ordinary files correctly (malicious ones: test_weights_untrusted.py)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from symcheck.audit.weights import Limits, load_weights
from symcheck.errors import UnsafeFile


def test_npz_tensors_come_back_equal_and_read_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    saved = {"0.weight": rng.standard_normal((3, 2)), "0.bias": np.arange(3, dtype=np.int64)}
    np.savez_compressed(tmp_path / "m.npz", **saved)
    loaded = load_weights(tmp_path / "m.npz")
    assert loaded.format == "npz" and list(loaded.tensors) == list(saved)
    for name, array in saved.items():
        np.testing.assert_array_equal(loaded.tensors[name], array)
        assert not loaded.tensors[name].flags.writeable
    assert loaded.parameter_count == 9 and loaded.nonfinite == ()


def test_fortran_order_and_big_endian_npy_members_are_read_correctly(tmp_path: Path) -> None:
    w = np.asfortranarray(np.arange(6, dtype=">f8").reshape(2, 3))
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, w)
    with zipfile.ZipFile(tmp_path / "f.npz", "w") as archive:
        archive.writestr("w.npy", buffer.getvalue())
    loaded = load_weights(tmp_path / "f.npz").tensors["w"]
    np.testing.assert_array_equal(loaded, np.arange(6.0).reshape(2, 3))
    assert loaded.dtype.isnative


def test_safetensors_float16_and_bfloat16_are_widened_exactly(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file as save_torch

    values = torch.tensor([[1.5, -2.0], [0.25, 3.0]])
    path = tmp_path / "h.safetensors"
    save_torch({"a": values.to(torch.bfloat16), "b": values.half()}, str(path))
    loaded = load_weights(path).tensors
    np.testing.assert_array_equal(loaded["a"], values.numpy())
    assert loaded["a"].dtype == np.float32
    np.testing.assert_array_equal(loaded["b"].astype(np.float32), values.numpy())


def test_safetensors_round_trip(tmp_path: Path) -> None:
    tensors = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "y": np.ones(2, dtype=np.int8)}
    save_file(tensors, str(tmp_path / "t.safetensors"))
    loaded = load_weights(tmp_path / "t.safetensors")
    assert loaded.format == "safetensors"
    for name, array in tensors.items():
        np.testing.assert_array_equal(loaded.tensors[name], array)


def test_pytorch_nested_checkpoint_is_flattened_and_non_tensors_are_skipped(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    checkpoint = {"model": {"fc1.weight": torch.ones(2, 3)}, "epoch": 7, "lr": [0.1]}
    torch.save(checkpoint, tmp_path / "c.pth")
    loaded = load_weights(tmp_path / "c.pth")
    assert list(loaded.tensors) == ["model.fc1.weight"]
    assert loaded.skipped == ("epoch", "lr.0")


def test_tensor_count_and_element_caps_are_enforced(tmp_path: Path) -> None:
    np.savez(tmp_path / "many.npz", **{f"t{i}": np.zeros(4) for i in range(5)})
    with pytest.raises(UnsafeFile, match="more than 3 tensors"):
        load_weights(tmp_path / "many.npz", limits=Limits(max_tensors=3))
    with pytest.raises(UnsafeFile, match="beyond the limit of 3"):
        load_weights(tmp_path / "many.npz", limits=Limits(max_elements=3))
    with pytest.raises(UnsafeFile, match="beyond the limit of 10"):
        load_weights(tmp_path / "many.npz", limits=Limits(max_file_bytes=10))


def test_overlapping_safetensors_offsets_are_refused(tmp_path: Path) -> None:
    import json
    import struct

    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }
    raw = json.dumps(header).encode()
    (tmp_path / "o.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(12))
    with pytest.raises(UnsafeFile, match="overlap"):
        load_weights(tmp_path / "o.safetensors")
