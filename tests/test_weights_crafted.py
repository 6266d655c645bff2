"""Crafted weight files, one refusal each: one line, exit 2, via the CLI and via ``load_weights``.

Every case states the behaviour the loader promises (``symcheck/audit/weights.py``):
shapes are lists of non-negative integers, dtypes are real or boolean of a
supported width, archives are checked from their directory, non-regular
files are refused before they are opened, NaN and Inf are counted.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from symcheck.audit import weights
from symcheck.audit.weights import Limits, load_weights
from symcheck.cli import main
from symcheck.errors import UnsafeFile

Capsys = pytest.CaptureFixture[str]
Builder = Callable[[Path], Path]


def _npy(header: dict, payload: bytes, version: tuple[int, int] = (1, 0)) -> bytes:
    buffer = io.BytesIO()
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buffer, header)
    else:
        np.lib.format.write_array_header_2_0(buffer, header)
    return buffer.getvalue() + payload


def _npz(members: dict[str, bytes], compress: int = zipfile.ZIP_STORED) -> Builder:
    def build(folder: Path) -> Path:
        path = folder / "crafted.npz"
        with zipfile.ZipFile(path, "w", compression=compress) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return path

    return build


def _npz_array(descr: str, shape: tuple, payload: bytes) -> Builder:
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    return _npz({"w.npy": _npy(header, payload)})


def _npz_symlink_member(folder: Path) -> Path:
    path = folder / "crafted.npz"
    info = zipfile.ZipInfo("w.npy")
    info.external_attr = (0o120777 << 16) | 0
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, "../../etc/passwd")
    return path


def _npy_version_3(folder: Path) -> Path:
    raw = _npy({"descr": "<f8", "fortran_order": False, "shape": (1,)}, bytes(8))
    raw = raw[:6] + b"\x03\x00" + raw[8:]
    return _npz({"w.npy": raw})(folder)


def _safetensors(header: object, data: bytes = b"", *, raw: bytes | None = None) -> Builder:
    def build(folder: Path) -> Path:
        path = folder / "crafted.safetensors"
        text = raw if raw is not None else json.dumps(header).encode()
        path.write_bytes(struct.pack("<Q", len(text)) + text + data)
        return path

    return build


def _entry(dtype: object = "F32", shape: object = (2,), offsets: object = (0, 8)) -> dict:
    return {"w": {"dtype": dtype, "shape": shape, "data_offsets": offsets}}


def _bytes(name: str, content: bytes) -> Builder:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content)
        return path

    return build


#: (case id, builder, words of the one-line refusal)
CRAFTED: list[tuple[str, Builder, str]] = [
    ("npz negative dim", _npz_array("<f8", (-1,), b""), "expected non-negative ints"),
    ("npz negative 2nd dim", _npz_array("<f8", (2, -3), b""), "expected non-negative ints"),
    ("npz bool dim", _npz_array("<f8", (True,), bytes(8)), "expected non-negative ints"),
    ("npz float dim", _npz_array("<f8", (2.0,), bytes(16)), "shape is not valid"),
    ("npz complex", _npz_array("<c16", (1,), bytes(16)), "only real and boolean arrays"),
    ("npz float128", _npz_array("<f16", (1,), bytes(16)), "dtype float128; use float16/32/64"),
    (
        "npz structured",
        _npz_array([("a", "<f8"), ("b", "<i4")], (1,), bytes(12)),  # type: ignore[arg-type]
        "only real and boolean arrays",
    ),
    ("npz datetime", _npz_array("<M8[D]", (1,), bytes(8)), "only real and boolean arrays"),
    ("npz timedelta", _npz_array("<m8[s]", (1,), bytes(8)), "only real and boolean arrays"),
    ("npz unicode", _npz_array("<U2", (1,), bytes(8)), "only real and boolean arrays"),
    ("npz bytes", _npz_array("|S8", (1,), bytes(8)), "only real and boolean arrays"),
    ("npz void", _npz_array("|V8", (1,), bytes(8)), "only real and boolean arrays"),
    ("npz version 3", _npy_version_3, "uses .npy format (3, 0); expected 1.0/2.0"),
    ("npz not npy", _npz({"w.txt": b"hello"}), "'w.txt' is not a .npy array"),
    ("npz symlink member", _npz_symlink_member, "'w.npy' is a symbolic link"),
    ("npz bzip2", _npz({"w.npy": b"x"}, zipfile.ZIP_BZIP2), "uses compression 12"),
    (
        "npz truncated data",
        _npz_array("<f8", (4,), bytes(8)),
        "declares shape (4,) (32 bytes) but holds 8",
    ),
    ("st negative dim", _safetensors(_entry(shape=[-1])), "expected non-negative ints"),
    ("st bool dim", _safetensors(_entry(shape=[True])), "expected non-negative ints"),
    ("st float dim", _safetensors(_entry(shape=[2.0]), bytes(8)), "expected non-negative ints"),
    ("st string shape", _safetensors(_entry(shape="2"), bytes(8)), "expected non-negative ints"),
    ("st complex", _safetensors(_entry(dtype="C64"), bytes(8)), "dtype='C64' is not supported"),
    ("st reversed offsets", _safetensors(_entry(offsets=[8, 0]), bytes(8)), "outside the 8"),
    ("st bool offsets", _safetensors(_entry(offsets=[False, 8]), bytes(8)), "outside the 8"),
    ("st three offsets", _safetensors(_entry(offsets=[0, 4, 8]), bytes(8)), "outside the 8"),
    ("st offsets past end", _safetensors(_entry(offsets=[0, 8]), bytes(4)), "outside the 4"),
    ("st span", _safetensors(_entry(shape=[3]), bytes(8)), "but its offsets span 8 bytes"),
    (
        "st extra key",
        _safetensors({"w": {**_entry()["w"], "x": 1}}, bytes(8)),
        "must have exactly dtype, shape and data_offsets",
    ),
    ("st entry not object", _safetensors({"w": [1, 2]}), "must have exactly dtype"),
    (
        "st metadata",
        _safetensors({"__metadata__": [1], **_entry()}, bytes(8)),
        "__metadata__ is not an object",
    ),
    ("st no length", _bytes("crafted.safetensors", b"\x01\x00"), "no header length"),
    (
        "st header past end",
        _bytes("crafted.safetensors", struct.pack("<Q", 100) + b"{}"),
        "header of 100 bytes, file of 10",
    ),
    (
        "st huge header",
        _bytes("crafted.safetensors", struct.pack("<Q", (1 << 64) - 1) + b"{}"),
        "beyond the limit",
    ),
    ("st not utf8", _safetensors(None, raw=b"\xff\xfe"), "not valid JSON"),
    ("st deep nesting", _safetensors(None, raw=b"[" * 200_000), "not valid JSON"),
    ("st not object", _safetensors([1, 2]), "not a JSON object"),
    ("pt garbage", _bytes("crafted.pt", b"not a checkpoint"), "weights_only=True"),
    ("pt corrupt zip", _bytes("crafted.pt", b"PK\x03\x04" + bytes(40)), "corrupt PyTorch zip"),
    ("no extension", _bytes("crafted", b"x"), "extension='(none)' is not supported"),
]


def _refused_by_cli(capsys: Capsys, path: Path, *argv: str) -> str:
    code = main(["audit", str(path), *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("symcheck: error: ")
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(("case", "build", "says"), CRAFTED, ids=[c[0] for c in CRAFTED])
def test_crafted_file_is_refused_with_one_line(
    case: str, build: Builder, says: str, tmp_path: Path, capsys: Capsys
) -> None:
    if case.startswith("pt "):
        pytest.importorskip("torch")
    path = build(tmp_path)
    assert says in _refused_by_cli(capsys, path)
    with pytest.raises(UnsafeFile) as exc:
        load_weights(path)
    assert says in str(exc.value) and "\n" not in str(exc.value)


# --------------------------------------------------------------------------- PyTorch


def _torch_file(tmp_path: Path, tensors: dict) -> Path:
    torch = pytest.importorskip("torch")
    path = tmp_path / "crafted.pt"
    torch.save(tensors, path)
    return path


@pytest.mark.parametrize("kind", ["complex", "sparse"])
def test_pytorch_tensors_that_are_not_plain_real_arrays_are_refused(
    kind: str, tmp_path: Path, capsys: Capsys
) -> None:
    torch = pytest.importorskip("torch")
    tensor = (
        torch.ones(2, 2, dtype=torch.complex64) if kind == "complex" else torch.eye(2).to_sparse()
    )
    path = _torch_file(tmp_path, {"w": tensor})
    assert "tensor 'w' is torch." in _refused_by_cli(capsys, path)


def test_pytorch_zip_directory_is_checked_before_torch_reads_it(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    saved = _torch_file(tmp_path, {"w": torch.zeros(64 << 10)})  # 256 KiB of zeros
    bomb = tmp_path / "bomb.pt"  # the same archive, deflated: a few KiB on disk
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for member in source.infolist():
            out.writestr(member.filename, source.read(member))
    assert bomb.stat().st_size < (64 << 10)

    def _never(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load ran before the zip directory was checked")

    monkeypatch.setattr(torch, "load", _never)
    says = "once decompressed, beyond the limit of 65536 (a zip bomb?)"
    assert says in _refused_by_cli(capsys, bomb, "--max-bytes", "64K")
    with pytest.raises(UnsafeFile, match="zip bomb"):
        load_weights(saved, limits=Limits(max_data_bytes=64 << 10))


def test_pytorch_file_without_tensors_is_refused(tmp_path: Path, capsys: Capsys) -> None:
    path = _torch_file(tmp_path, {"epoch": 3})
    assert "holds no tensors" in _refused_by_cli(capsys, path)


def test_pytorch_bfloat16_and_float8_are_widened_exactly(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    values = torch.tensor([1.5, -2.0, 0.25, 448.0, -0.0])
    tensors = {"bf": values.to(torch.bfloat16), "f8": values.to(torch.float8_e4m3fn)}
    loaded = load_weights(_torch_file(tmp_path, tensors)).tensors
    for name in tensors:
        assert loaded[name].dtype == np.float32
        np.testing.assert_array_equal(loaded[name], values.numpy())
    assert np.signbit(loaded["bf"][-1])


def test_safetensors_bfloat16_bits_are_widened_exactly(tmp_path: Path) -> None:
    """BF16 is the top half of a float32: 0x3FC0 is 1.5, 0xC000 is -2, 0x0001 the tiniest."""
    bits = np.array([0x3FC0, 0xC000, 0x0001, 0x7F80, 0x8000], dtype="<u2")
    path = _safetensors(
        {"w": {"dtype": "BF16", "shape": [5], "data_offsets": [0, 10]}}, bits.tobytes()
    )(tmp_path)
    loaded = load_weights(path).tensors["w"]
    expected = (bits.astype(np.uint32) << 16).view(np.float32)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded.view(np.uint32), expected.view(np.uint32))
    assert loaded[0] == 1.5 and loaded[1] == -2.0 and loaded[3] == np.inf


# --------------------------------------------------------------------------- non-regular files


def test_fifo_is_refused_before_it_is_opened(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    real_open = os.open

    def _no_open(path: object, *args: object, **kwargs: object) -> int:
        if os.fspath(path) == str(fifo):  # type: ignore[arg-type]
            raise AssertionError("the FIFO was opened")
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(weights.os, "open", _no_open)
    with pytest.raises(UnsafeFile, match=r"is a FIFO \(named pipe\), not a regular file"):
        load_weights(fifo)
    assert "FIFO" in _refused_by_cli(capsys, fifo)


def test_fifo_never_blocks_the_real_command(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "symcheck", "audit", str(fifo)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "not a regular file" in done.stderr


def test_directory_is_named_as_such(tmp_path: Path, capsys: Capsys) -> None:
    folder = tmp_path / "model.safetensors"
    folder.mkdir()
    with pytest.raises(UnsafeFile, match="is a directory, not a regular file"):
        load_weights(folder)
    # The command line reads a directory as a checkpoint: an empty one is refused.
    assert "holds no .safetensors, .pt, .pth, .bin or .npz file" in _refused_by_cli(capsys, folder)


def test_symlink_to_a_valid_file_is_refused(tmp_path: Path, capsys: Capsys) -> None:
    target = tmp_path / "real.npz"
    np.savez(target, w=np.ones((2, 2)))
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    assert "symbolic link" in _refused_by_cli(capsys, link)
    assert load_weights(target).tensors["w"].shape == (2, 2)


def test_file_over_the_size_cap_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.npz"
    np.savez(path, w=np.ones(1000))
    size = path.stat().st_size
    with pytest.raises(UnsafeFile, match=f"is {size} bytes, beyond the limit of {size - 1}"):
        load_weights(path, limits=Limits(max_file_bytes=size - 1))
    assert load_weights(path, limits=Limits(max_file_bytes=size)).parameter_count == 1000


# --------------------------------------------------------------------------- NaN and Inf


def test_nan_and_inf_are_counted_per_tensor(tmp_path: Path) -> None:
    path = tmp_path / "nonfinite.npz"
    inf_only = np.array([np.inf, -np.inf, 1.0])
    np.savez(
        path,
        all_nan=np.full((2, 3), np.nan),
        inf_only=inf_only,
        finite=np.ones(3),
        integers=np.arange(3),
        empty=np.zeros((0, 2)),
        half=np.array([np.nan, 1.0], dtype=np.float16),
    )
    found = {n.tensor: (n.nan, n.inf) for n in load_weights(path).nonfinite}
    assert found == {"all_nan": (6, 0), "inf_only": (0, 2), "half": (1, 0)}


def test_inf_and_nan_that_cancel_in_a_sum_are_still_found(tmp_path: Path) -> None:
    path = tmp_path / "cancel.npz"
    np.savez(path, w=np.array([np.inf, -np.inf]), v=np.array([1e308, 1e308]))
    found = {n.tensor: (n.nan, n.inf) for n in load_weights(path).nonfinite}
    assert found == {"w": (0, 2)}  # 1e308 + 1e308 overflows the check's sum, not the data


# --------------------------------------------------------------------------- limits at their edge


def test_default_header_limit_is_100_mib(tmp_path: Path, capsys: Capsys) -> None:
    path = _bytes("crafted.safetensors", struct.pack("<Q", (100 << 20) + 1) + b"{}")(tmp_path)
    assert "declares 104857601 bytes, beyond the limit of 104857600" in _refused_by_cli(
        capsys, path
    )


def test_element_and_byte_limits_accept_exactly_their_value(tmp_path: Path) -> None:
    path = tmp_path / "edge.npz"
    np.savez(path, a=np.zeros(6), b=np.zeros(4))  # 10 elements, 80 bytes
    assert load_weights(path, limits=Limits(max_elements=10)).parameter_count == 10
    with pytest.raises(UnsafeFile, match="more than 9 elements in total"):
        load_weights(path, limits=Limits(max_elements=9))
    st = tmp_path / "edge.safetensors"  # no archive: the data bytes are exactly the tensors
    save_file({"a": np.zeros(6), "b": np.zeros(4)}, str(st))
    assert load_weights(st, limits=Limits(max_data_bytes=80)).parameter_count == 10
    with pytest.raises(UnsafeFile, match="more than 79 bytes of tensor data"):
        load_weights(st, limits=Limits(max_data_bytes=79))
    with pytest.raises(UnsafeFile, match=r"shape \(6,\) = 6 elements, beyond the limit of 5"):
        load_weights(path, limits=Limits(max_elements=5))


def test_a_path_through_a_file_is_refused_with_the_reason(tmp_path: Path, capsys: Capsys) -> None:
    file = tmp_path / "plain.npz"
    np.savez(file, w=np.ones(2))
    says = "cannot be read (Not a directory)"
    assert says in _refused_by_cli(capsys, file / "inner.npz")


def test_a_file_that_cannot_be_opened_is_refused_with_the_reason(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locked.npz"
    np.savez(path, w=np.ones(2))

    def _denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(weights.os, "open", _denied)
    assert "cannot be opened (Permission denied)" in _refused_by_cli(capsys, path)


def test_legacy_pytorch_format_is_read_from_its_first_byte(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.arange(6.0).reshape(2, 3)}, path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:2] != b"PK"  # not a zip archive
    loaded = load_weights(path).tensors["w"]
    np.testing.assert_array_equal(loaded, np.arange(6.0).reshape(2, 3))


def test_a_single_nan_or_inf_element_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "single.npz"
    np.savez(path, a=np.array([np.nan]), b=np.array([[np.inf]]), c=np.array([2.0]))
    found = {n.tensor: (n.nan, n.inf) for n in load_weights(path).nonfinite}
    assert found == {"a": (1, 0), "b": (0, 1)}


def test_one_tensor_of_exactly_the_element_limit_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "one.npz"
    np.savez(path, w=np.zeros((2, 3)))
    assert load_weights(path, limits=Limits(max_elements=6)).parameter_count == 6
    with pytest.raises(UnsafeFile, match=r"shape \(2, 3\) = 6 elements, beyond the limit of 5"):
        load_weights(path, limits=Limits(max_elements=5))
